"""Clock-offset estimation: recover a sensor's clock offset from its data and the ego poses.

Each estimator scores candidate offsets (sensor clock minus log clock, us) by how well the
sensor's measurements agree with the ego motion when its stamps are moved to the log clock
with that offset, searches a coarse grid, refines on a fine one and interpolates the
minimum with a parabola. They never look at the calibrated offset, so they can check it.

- IMU: the gyro's angular velocity (rotated into the ego frame) against the turn rate
  derived from the poses. Needs the ego to turn, not at a constant rate.
- Radar: the Doppler of static detections is -direction . sensor velocity; the sensor
  velocity comes from the poses (ego velocity plus turn rate x mount lever arm). Moving
  targets are outliers, so the cost is a truncated square. Needs the ego's speed or turn
  rate to change.
- Camera: LiDAR depth edges (range jumps along each ring), projected into the image with
  the ego pose at the candidate capture time, against the image's edges (mean distance to
  the nearest Canny edge, capped). Needs the ego to move.

An estimate whose cost curve is flat around its minimum (the motion did not excite it) is
reported as not observable rather than returned as a number.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from avlabel.geometry.projection import project_points
from avlabel.io.errors import InputError
from avlabel.io.logstore import DriveLog
from avlabel.structs import Calibration, ImuSeries
from avlabel.sync.deskew import deskew_points
from avlabel.sync.poses import PoseInterpolator

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """A recovered clock offset.

    offset_us: estimated sensor clock minus log clock; calibrated_us: the log's value, for
    comparison; cost: the cost at the estimate (units per estimator); contrast: how much the
    cost rises 10 ms either side of the minimum relative to its value at the minimum
    (small = weakly observable); samples: measurements used.
    """

    sensor: str
    method: str
    offset_us: int
    calibrated_us: int
    cost: float
    contrast: float
    samples: int

    @property
    def error_us(self) -> int:
        """Estimate minus calibration."""
        return self.offset_us - self.calibrated_us


# --------------------------------------------------------------------------- search


def minimize_offset(
    cost: Callable[[float], float],
    *,
    center_us: float = 0.0,
    search_us: float = 200_000.0,
    coarse_step_us: float = 2_000.0,
    fine_step_us: float = 100.0,
    probe_us: float = 10_000.0,
) -> tuple[float, float, float]:
    """Minimise `cost(offset_us)` over [center - search, center + search].

    A coarse grid, then a fine grid two coarse steps either side of the best coarse point,
    then a parabola through the best fine point and its neighbours. Returns (offset_us,
    cost there, contrast = (mean cost `probe_us` either side - minimum) / minimum).
    """
    coarse = center_us + np.arange(-search_us, search_us + coarse_step_us / 2, coarse_step_us)
    coarse_costs = np.array([cost(float(offset)) for offset in coarse])
    if not np.isfinite(coarse_costs).any():
        raise ValueError("no candidate offset could be scored (no samples overlap the ego poses)")
    best = coarse[int(np.nanargmin(np.where(np.isfinite(coarse_costs), coarse_costs, np.nan)))]
    fine = best + np.arange(-2 * coarse_step_us, 2 * coarse_step_us + fine_step_us / 2, fine_step_us)
    fine_costs = np.array([cost(float(offset)) for offset in fine])
    index = int(np.nanargmin(np.where(np.isfinite(fine_costs), fine_costs, np.nan)))
    offset, minimum = float(fine[index]), float(fine_costs[index])
    if 0 < index < len(fine) - 1 and np.isfinite(fine_costs[index - 1 : index + 2]).all():
        left, middle, right = fine_costs[index - 1 : index + 2]
        curvature = left - 2 * middle + right
        if curvature > 0:
            shift = 0.5 * (left - right) / curvature
            offset += float(np.clip(shift, -1, 1)) * fine_step_us
            minimum = float(middle - 0.25 * (left - right) * shift)
    neighbours = [cost(offset - probe_us), cost(offset + probe_us)]
    contrast = (float(np.nanmean(neighbours)) - minimum) / max(abs(minimum), 1e-12)
    return offset, minimum, contrast


def _signal_grid(poses: PoseInterpolator, step_us: int = 1_000) -> np.ndarray:
    """Log-clock times every `step_us` across the pose range (inside it, no extrapolation)."""
    return np.arange(poses.start_us, poses.end_us + 1, step_us, dtype=np.int64)


def _interpolate_rows(times: np.ndarray, grid_times: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.column_stack([np.interp(times, grid_times, values[:, axis]) for axis in range(values.shape[1])])


# --------------------------------------------------------------------------- IMU


def estimate_imu_offset(
    imu: ImuSeries,
    poses: PoseInterpolator,
    *,
    ego_from_imu: np.ndarray | None = None,
    sensor: str = "imu",
    calibrated_us: int = 0,
    search_us: int = 200_000,
    min_contrast: float = 0.02,
) -> ClockEstimate:
    """Clock offset of an IMU from its gyro against the poses' angular velocity.

    imu: stamps on the IMU clock; poses: ego poses on the log clock; ego_from_imu: (4, 4)
    mount (identity if None). The cost is the mean squared difference (rad/s)^2 of the two
    angular-velocity signals (each with its mean removed, so a gyro bias does not matter).
    """
    rotation = (np.eye(4) if ego_from_imu is None else np.asarray(ego_from_imu))[:3, :3]
    rates_ego = imu.angular_velocity @ rotation.T
    grid = _signal_grid(poses)
    pose_rates = poses.angular_velocity(grid)
    stamps = imu.timestamps_us.astype(np.float64)
    # Only samples whose log time stays inside the poses for every candidate.
    usable = (stamps - search_us >= grid[0]) & (stamps + search_us <= grid[-1])
    if usable.sum() < 50:
        raise ValueError(f"{sensor}: only {int(usable.sum())} IMU samples overlap the poses with a +-{search_us / 1e3:g} ms search; need 50")
    stamps, measured = stamps[usable], rates_ego[usable]
    measured = measured - measured.mean(axis=0)
    if float(np.mean(np.sum(measured**2, axis=1))) < 1e-4:
        raise ValueError(f"{sensor}: the angular velocity barely varies (ego drives straight): the offset is not observable")

    def cost(offset_us: float) -> float:
        predicted = _interpolate_rows(stamps - offset_us, grid, pose_rates)
        predicted -= predicted.mean(axis=0)
        return float(np.mean(np.sum((measured - predicted) ** 2, axis=1)))

    offset, value, contrast = minimize_offset(cost, search_us=search_us)
    return _finish(sensor, "imu_gyro_vs_pose_turn_rate", offset, calibrated_us, value, contrast, len(stamps), min_contrast)


# --------------------------------------------------------------------------- radar


def estimate_radar_offset(
    log: DriveLog,
    sensor: str,
    poses: PoseInterpolator,
    *,
    search_us: int = 200_000,
    max_scans: int = 400,
    outlier_mps: float = 0.5,
    min_contrast: float = 0.02,
) -> ClockEstimate:
    """Clock offset of a radar from the Doppler of static detections against the ego motion.

    The cost is the mean over detections of min(residual, outlier_mps)^2 (m/s)^2, the
    residual being measured minus predicted radial velocity for a static target.
    """
    calibration = _calibration(log, sensor, "radar")
    stamps = log.timestamps(sensor)
    usable = np.flatnonzero((stamps - search_us >= poses.start_us) & (stamps + search_us <= poses.end_us))
    if not len(usable):
        raise ValueError(f"{sensor}: no radar scan overlaps the poses with a +-{search_us / 1e3:g} ms search")
    chosen = usable[np.unique(np.linspace(0, len(usable) - 1, min(max_scans, len(usable))).astype(np.int64))]
    directions, measured, scan_stamps = [], [], []
    for index in chosen:
        detections = log.radar_scan(int(index), sensor).detections.astype(np.float64)
        ranges = np.linalg.norm(detections[:, :3], axis=1)
        keep = ranges > 0.5
        directions.append(detections[keep, :3] / ranges[keep, None])
        measured.append(detections[keep, 3])
        scan_stamps.append(np.full(int(keep.sum()), stamps[index], dtype=np.float64))
    directions_sensor = np.concatenate(directions)
    radial = np.concatenate(measured)
    detection_stamps = np.concatenate(scan_stamps)
    if len(radial) < 50:
        raise ValueError(f"{sensor}: only {len(radial)} radar detections to work with; need 50")
    grid = _signal_grid(poses)
    world_from_ego = poses.at(grid)
    # Ego velocity in the ego frame, and the lever arm's contribution.
    velocity_ego = np.einsum("nji,nj->ni", world_from_ego[:, :3, :3], poses.velocity(grid))
    lever_arm = calibration.ego_from_sensor[:3, 3]
    sensor_velocity_ego = velocity_ego + np.cross(poses.angular_velocity(grid), lever_arm)
    sensor_velocity_sensor = sensor_velocity_ego @ calibration.ego_from_sensor[:3, :3]  # R^T v, row-wise
    if np.ptp(np.linalg.norm(sensor_velocity_sensor, axis=1)) < 0.2 and np.ptp(poses.yaw_rate(grid)) < 0.05:
        raise ValueError(f"{sensor}: the ego's speed and turn rate barely change: a radar clock offset is not observable")

    def cost(offset_us: float) -> float:
        velocity = _interpolate_rows(detection_stamps - offset_us, grid, sensor_velocity_sensor)
        predicted = -np.einsum("ij,ij->i", directions_sensor, velocity)
        residual = np.minimum(np.abs(radial - predicted), outlier_mps)
        return float(np.mean(residual**2))

    offset, value, contrast = minimize_offset(cost, search_us=search_us)
    return _finish(sensor, "radar_static_doppler", offset, calibration.clock_offset_us, value, contrast, len(radial), min_contrast)


# --------------------------------------------------------------------------- camera


def lidar_depth_edges(points: np.ndarray, *, jump_m: float = 1.0) -> np.ndarray:
    """Indices of the points at depth discontinuities: along each ring (column 5) in azimuth
    order, the nearer of two neighbours whose ranges differ by more than `jump_m`.

    points: (N, 6) float32 in the LiDAR (or ego) frame, POINT_FIELDS columns.
    """
    ranges = np.linalg.norm(points[:, :3], axis=1)
    azimuth = np.arctan2(points[:, 1], points[:, 0])
    order = np.lexsort((azimuth, points[:, 5]))
    ring, sorted_ranges = points[order, 5], ranges[order]
    same_ring = ring[1:] == ring[:-1]
    jump = same_ring & (np.abs(np.diff(sorted_ranges)) > jump_m)
    nearer = np.where(sorted_ranges[1:] < sorted_ranges[:-1], order[1:], order[:-1])
    return np.unique(nearer[jump])


def estimate_camera_offset(
    log: DriveLog,
    camera: str,
    poses: PoseInterpolator,
    *,
    lidar: str | None = None,
    search_us: int = 100_000,
    frames: int = 12,
    cap_px: float = 20.0,
    min_contrast: float = 0.02,
) -> ClockEstimate:
    """Clock offset of a camera from LiDAR depth edges against image edges.

    For `frames` sweeps spread over the log, the sweep is de-skewed (with the log's LiDAR
    clock offset, taken as right), its depth-edge points are projected into the camera image
    nearest it (by the camera's own stamps: which image is used does not depend on the
    candidate offset) with the ego pose at the candidate capture time, and scored by their
    mean distance to the nearest Canny edge, capped at `cap_px` pixels.
    """
    calibration = _calibration(log, camera, "camera")
    lidar = lidar or log.lidar
    lidar_calibration = log.calibrations[lidar]
    sweep_us = log.timestamps(lidar) - lidar_calibration.clock_offset_us
    camera_stamps = log.timestamps(camera)
    margin = 60_000
    usable = np.flatnonzero((sweep_us - margin >= poses.start_us) & (sweep_us + margin <= poses.end_us))
    if not len(usable):
        raise ValueError(f"{camera}: no LiDAR sweep lies inside the ego poses")
    chosen = usable[np.unique(np.linspace(0, len(usable) - 1, min(frames, len(usable))).astype(np.int64))]
    observations = []
    for sweep_index in chosen:
        # The image whose stamp is nearest the sweep's (any clock offset error shows in the pose, not the choice).
        image_index = int(np.argmin(np.abs(camera_stamps - (log.timestamps(lidar)[sweep_index]))))
        stamp = int(camera_stamps[image_index])
        if not (stamp - search_us - 2 * 2_000 >= poses.start_us and stamp + search_us + 2 * 2_000 <= poses.end_us):
            continue
        sweep = log.sweep(int(sweep_index), lidar)
        reference_us = int(sweep_us[sweep_index])
        points = deskew_points(sweep.points, reference_us, lidar_calibration.ego_from_sensor, poses)
        edges = lidar_depth_edges(sweep.points)
        if len(edges) < 20:
            continue
        gray = cv2.cvtColor(log.camera_image(image_index, camera).image, cv2.COLOR_RGB2GRAY)
        image_edges = cv2.Canny(gray, 50, 150)
        distance = cv2.distanceTransform((image_edges == 0).astype(np.uint8), cv2.DIST_L2, 5)
        observations.append((points[edges, :3], reference_us, stamp, np.minimum(distance, cap_px)))
    if not observations:
        raise ValueError(f"{camera}: no sweep with enough depth edges and an image inside the poses")
    world_from_ego_sweeps = {reference: poses.at(reference) for _, reference, _, _ in observations}

    def cost(offset_us: float) -> float:
        total, count = 0.0, 0
        for points_ego, reference_us, stamp, distance in observations:
            capture_us = int(round(stamp - offset_us))
            uv, _, _ = project_points(points_ego, calibration, world_from_ego_sweeps[reference_us], poses.at(capture_us))
            if not len(uv):
                continue
            columns = np.clip(np.rint(uv[:, 0]).astype(np.int64), 0, distance.shape[1] - 1)
            rows = np.clip(np.rint(uv[:, 1]).astype(np.int64), 0, distance.shape[0] - 1)
            total += float(distance[rows, columns].sum())
            count += len(uv)
        return total / count if count else np.inf

    offset, value, contrast = minimize_offset(cost, search_us=search_us, coarse_step_us=2_000, fine_step_us=200)
    samples = sum(len(points) for points, _, _, _ in observations)
    return _finish(camera, "camera_lidar_edge_alignment", offset, calibration.clock_offset_us, value, contrast, samples, min_contrast)


# --------------------------------------------------------------------------- helpers


def _calibration(log: DriveLog, sensor: str, kind: str) -> Calibration:
    calibration = log.calibrations.get(sensor)
    if calibration is None or calibration.kind != kind:
        known = ", ".join(log.sensors(kind)) or "none"
        raise InputError(f"{log.path}: no {kind} named {sensor!r} (the log has: {known})")
    return calibration


def _finish(sensor: str, method: str, offset: float, calibrated_us: int, cost: float, contrast: float, samples: int, min_contrast: float) -> ClockEstimate:
    if not np.isfinite(contrast) or contrast < min_contrast:
        raise ValueError(
            f"{sensor}: the {method} cost is flat around its minimum (contrast {contrast:.3g} < {min_contrast}): "
            "the clock offset is not observable from this stretch of driving"
        )
    estimate = ClockEstimate(sensor, method, int(round(offset)), int(calibrated_us), float(cost), float(contrast), int(samples))
    logger.info("%s: clock offset %d us by %s (calibrated %d us)", sensor, estimate.offset_us, method, estimate.calibrated_us)
    return estimate
