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
  the ego pose at the candidate capture time, against the image's edges (gradient
  magnitude, sub-pixel). Needs the ego to move, and images sharp enough that a few ms of
  motion moves edges by a good fraction of a pixel.

Each estimate carries a one-sigma uncertainty: for the IMU and radar from the cost's
curvature at its minimum (Gauss-Newton: var = 2 * residual variance / (residual count *
d2cost/doffset2)); for the camera, whose edge residuals are correlated within a frame, by
leaving one frame out at a time (jackknife). An estimate
whose uncertainty exceeds `max_uncertainty_us` (the motion did not excite it) is marked not
observable: use it as a diagnosis, not as a correction.
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

    offset_us: estimated sensor clock minus log clock; uncertainty_us: its one-sigma
    uncertainty; calibrated_us: the log's value, for comparison; cost: the cost at the
    estimate (units per estimator); samples: residuals used; observable: uncertainty within
    the estimator's `max_uncertainty_us` and the minimum inside the search range.
    """

    sensor: str
    method: str
    offset_us: int
    uncertainty_us: float
    calibrated_us: int
    cost: float
    samples: int
    observable: bool

    @property
    def error_us(self) -> int:
        """Estimate minus calibration."""
        return self.offset_us - self.calibrated_us


# --------------------------------------------------------------------------- search


@dataclass(frozen=True, slots=True)
class OffsetSearch:
    """Result of `minimize_offset`: the offset (us), the cost there, the cost's curvature
    there (per us^2, from a parabola fitted over +-`curvature_window_us`), and whether the
    minimum lies on the edge of the searched range."""

    offset_us: float
    cost: float
    curvature: float
    at_edge: bool


def minimize_offset(
    cost: Callable[[float], float],
    *,
    center_us: float = 0.0,
    search_us: float = 200_000.0,
    coarse_step_us: float = 2_000.0,
    fine_step_us: float = 100.0,
    curvature_window_us: float = 6_000.0,
) -> OffsetSearch:
    """Minimise `cost(offset_us)` over [center - search, center + search].

    A coarse grid, then a fine grid two coarse steps either side of the best coarse point,
    then a parabola through the best fine point and its neighbours.
    """
    coarse = center_us + np.arange(-search_us, search_us + coarse_step_us / 2, coarse_step_us)
    coarse_costs = np.array([cost(float(offset)) for offset in coarse])
    if not np.isfinite(coarse_costs).any():
        raise ValueError("no candidate offset could be scored (no samples overlap the ego poses)")
    best_coarse = int(np.nanargmin(np.where(np.isfinite(coarse_costs), coarse_costs, np.nan)))
    best = coarse[best_coarse]
    fine = best + np.arange(-2 * coarse_step_us, 2 * coarse_step_us + fine_step_us / 2, fine_step_us)
    fine_costs = np.array([cost(float(offset)) for offset in fine])
    index = int(np.nanargmin(np.where(np.isfinite(fine_costs), fine_costs, np.nan)))
    offset, minimum = float(fine[index]), float(fine_costs[index])
    if 0 < index < len(fine) - 1 and np.isfinite(fine_costs[index - 1 : index + 2]).all():
        left, middle, right = fine_costs[index - 1 : index + 2]
        bend = left - 2 * middle + right
        if bend > 0:
            shift = float(np.clip(0.5 * (left - right) / bend, -1, 1))
            offset += shift * fine_step_us
            minimum = float(middle - 0.25 * (left - right) * shift)
    # Curvature from a least-squares parabola over a wider window (robust to small ripples).
    window = offset + np.linspace(-curvature_window_us, curvature_window_us, 13)
    window_costs = np.array([cost(float(value)) for value in window])
    finite = np.isfinite(window_costs)
    curvature = 2.0 * float(np.polyfit(window[finite] - offset, window_costs[finite], 2)[0]) if finite.sum() >= 3 else 0.0
    at_edge = best_coarse in (0, len(coarse) - 1)
    return OffsetSearch(offset, minimum, curvature, at_edge)


def offset_uncertainty(search: OffsetSearch, residuals: int, components: int = 1) -> float:
    """One-sigma uncertainty (us) of a least-squares offset: sqrt(2 C / (M N C'')) for a cost
    C = mean over N residuals of the squared norm of M components; inf for a flat cost."""
    if search.curvature <= 0 or residuals <= 0:
        return float("inf")
    return float(np.sqrt(2.0 * max(search.cost, 1e-300) / (components * residuals * search.curvature)))


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
    max_uncertainty_us: float = 1_000.0,
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

    search = minimize_offset(cost, search_us=search_us)
    uncertainty = offset_uncertainty(search, len(stamps), components=3)
    return _finish(sensor, "imu_gyro_vs_pose_turn_rate", search, uncertainty, calibrated_us, len(stamps), max_uncertainty_us)


# --------------------------------------------------------------------------- radar


def estimate_radar_offset(
    log: DriveLog,
    sensor: str,
    poses: PoseInterpolator,
    *,
    search_us: int = 200_000,
    max_scans: int = 400,
    outlier_mps: float = 0.5,
    max_uncertainty_us: float = 2_000.0,
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

    search = minimize_offset(cost, search_us=search_us)
    uncertainty = offset_uncertainty(search, len(radial))
    return _finish(sensor, "radar_static_doppler", search, uncertainty, calibration.clock_offset_us, len(radial), max_uncertainty_us)


# --------------------------------------------------------------------------- camera


def lidar_depth_edges(points: np.ndarray, *, jump_m: float = 1.0) -> np.ndarray:
    """Where silhouettes are, from a sweep: along each ring (column 5) in azimuth order, every
    pair of neighbours whose ranges differ by more than `jump_m` gives one edge point.

    The edge point sits at the nearer point's range, in the direction halfway between the
    two neighbours (the silhouette lies somewhere between them; taking the nearer point
    itself would put every edge half a firing step inside its object). Its other columns
    (time offset, ...) are the nearer point's.

    points: (N, 6) float32, POINT_FIELDS columns, sensor frame. Returns (E, 6) float32.
    """
    ranges = np.linalg.norm(points[:, :3].astype(np.float64), axis=1)
    azimuth = np.arctan2(points[:, 1], points[:, 0])
    order = np.lexsort((azimuth, points[:, 5]))
    ring, sorted_ranges = points[order, 5], ranges[order]
    jump = (ring[1:] == ring[:-1]) & (np.abs(np.diff(sorted_ranges)) > jump_m) & (sorted_ranges[1:] > 0) & (sorted_ranges[:-1] > 0)
    first, second = order[:-1][jump], order[1:][jump]
    nearer = np.where(ranges[second] < ranges[first], second, first)
    directions = points[first, :3] / ranges[first, None] + points[second, :3] / ranges[second, None]
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    edges = points[nearer].copy()
    edges[:, :3] = directions * ranges[nearer, None]
    return edges


def edge_weakness(gray: np.ndarray, blur_px: float = 1.0) -> np.ndarray:
    """(H, W) float32 in [0, 1]: 1 - image edge strength, where strength is the gradient
    magnitude of the image blurred by a Gaussian of `blur_px`, over its 98th percentile,
    clipped to 1. Unlike a distance to Canny edge pixels, it peaks symmetrically on the
    sub-pixel boundary (Canny picks one of the two pixels beside a step, a half-pixel bias
    that showed as 1-2 ms of camera clock offset on simulated logs)."""
    blurred = cv2.GaussianBlur(np.asarray(gray, dtype=np.float32), (0, 0), blur_px)
    magnitude = np.hypot(cv2.Sobel(blurred, cv2.CV_32F, 1, 0), cv2.Sobel(blurred, cv2.CV_32F, 0, 1))
    strength = np.clip(magnitude / max(float(np.percentile(magnitude, 98)), 1e-6), 0.0, 1.0)
    return (1.0 - strength).astype(np.float32)


def estimate_camera_offset(
    log: DriveLog,
    camera: str,
    poses: PoseInterpolator,
    *,
    lidar: str | None = None,
    search_us: int = 100_000,
    frames: int = 16,
    blur_px: float = 1.0,
    max_uncertainty_us: float = 2_000.0,
) -> ClockEstimate:
    """Clock offset of a camera from LiDAR depth edges against image edges.

    The `frames` sweeps where the image moves most (ego turn rate, then speed) are used.
    Each is de-skewed (with the log's LiDAR clock offset, taken as right); its depth-edge
    points are projected into the camera image whose stamp is nearest the sweep's (so which
    image is used does not depend on the candidate offset), with the ego pose at the
    candidate capture time. The cost is the mean of (1 - edge strength)^2 at the projected
    points (`edge_weakness`, read with bilinear interpolation), evaluated on a 1 ms grid and
    refined with a parabola; the uncertainty is the jackknife over frames.
    """
    calibration = _calibration(log, camera, "camera")
    lidar = lidar or log.lidar
    lidar_calibration = log.calibrations[lidar]
    lidar_stamps = log.timestamps(lidar)
    sweep_us = lidar_stamps - lidar_calibration.clock_offset_us
    camera_stamps = log.timestamps(camera)
    reach = search_us + 3 * 2_000 + 60_000  # candidate capture times and the sweep's own span
    usable = np.flatnonzero((sweep_us - reach >= poses.start_us) & (sweep_us + reach <= poses.end_us))
    if not len(usable):
        raise ValueError(f"{camera}: no LiDAR sweep lies far enough inside the ego poses for a +-{search_us / 1e3:g} ms search")
    # Most image motion first: turning (all depths move), then driving fast.
    motion = np.abs(poses.yaw_rate(sweep_us[usable])) * 20.0 + np.linalg.norm(poses.velocity(sweep_us[usable]), axis=1)
    chosen = usable[np.argsort(-motion, kind="stable")[:frames]]
    observations = []
    for sweep_index in np.sort(chosen):
        image_index = int(np.argmin(np.abs(camera_stamps - lidar_stamps[sweep_index])))
        stamp = int(camera_stamps[image_index])
        if not (stamp - search_us - 6_000 >= poses.start_us and stamp + search_us + 6_000 <= poses.end_us):
            continue
        sweep = log.sweep(int(sweep_index), lidar)
        reference_us = int(sweep_us[sweep_index])
        edges = lidar_depth_edges(sweep.points)
        if len(edges) < 20:
            continue
        edges_ego = deskew_points(edges, reference_us, lidar_calibration.ego_from_sensor, poses)
        gray = cv2.cvtColor(log.camera_image(image_index, camera).image, cv2.COLOR_RGB2GRAY)
        observations.append((edges_ego[:, :3], poses.at(reference_us), stamp, edge_weakness(gray, blur_px)))
    if not observations:
        raise ValueError(f"{camera}: no sweep with enough depth edges and an image inside the poses")
    # Per-frame sums and counts of the squared residuals on a 1 ms grid: the cost of any
    # subset of frames follows, so leave-one-frame-out (jackknife) estimates come cheap.
    grid = np.arange(-search_us, search_us + 1, 1_000, dtype=np.float64)
    sums = np.zeros((len(observations), len(grid)))
    counts = np.zeros((len(observations), len(grid)))
    for frame, (points_ego, world_from_ego_sweep, stamp, weakness) in enumerate(observations):
        capture_times = np.rint(stamp - grid).astype(np.int64)
        world_from_ego_cameras = poses.at(capture_times)
        for column, world_from_ego_camera in enumerate(world_from_ego_cameras):
            uv, _, _ = project_points(points_ego, calibration, world_from_ego_sweep, world_from_ego_camera)
            if len(uv):
                sampled = cv2.remap(
                    weakness, uv[:, 0].astype(np.float32).reshape(-1, 1), uv[:, 1].astype(np.float32).reshape(-1, 1),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
                )[:, 0]
                sums[frame, column] = float(np.sum(sampled.astype(np.float64) ** 2))
                counts[frame, column] = len(uv)
    offset, value, at_edge = _table_minimum(grid, sums.sum(axis=0), counts.sum(axis=0))
    frames_used = len(observations)
    if frames_used >= 3:
        everything_sums, everything_counts = sums.sum(axis=0), counts.sum(axis=0)
        leave_one_out = np.array([
            _table_minimum(grid, everything_sums - sums[frame], everything_counts - counts[frame])[0] for frame in range(frames_used)
        ])
        uncertainty = float(np.sqrt((frames_used - 1) / frames_used * np.sum((leave_one_out - leave_one_out.mean()) ** 2)))
    else:
        uncertainty = float("inf")
    search = OffsetSearch(offset, value, 0.0, at_edge)
    residuals = int(counts.sum() / len(grid))
    return _finish(camera, "camera_lidar_edge_alignment", search, uncertainty, calibration.clock_offset_us, residuals, max_uncertainty_us)


def _table_minimum(grid: np.ndarray, sums: np.ndarray, counts: np.ndarray) -> tuple[float, float, bool]:
    """Minimum of sums / counts over a uniform grid, refined by a parabola: (offset, cost, at edge)."""
    costs = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    if not np.isfinite(costs).any():
        raise ValueError("no candidate offset could be scored (no edge point lands on the image)")
    index = int(np.argmin(costs))
    offset, value = float(grid[index]), float(costs[index])
    if 0 < index < len(grid) - 1 and np.isfinite(costs[index - 1 : index + 2]).all():
        left, middle, right = costs[index - 1 : index + 2]
        bend = left - 2 * middle + right
        if bend > 0:
            shift = float(np.clip(0.5 * (left - right) / bend, -1, 1))
            offset += shift * (grid[1] - grid[0])
            value = float(middle - 0.25 * (left - right) * shift)
    return offset, value, index in (0, len(grid) - 1)


# --------------------------------------------------------------------------- helpers


def _calibration(log: DriveLog, sensor: str, kind: str) -> Calibration:
    calibration = log.calibrations.get(sensor)
    if calibration is None or calibration.kind != kind:
        known = ", ".join(log.sensors(kind)) or "none"
        raise InputError(f"{log.path}: no {kind} named {sensor!r} (the log has: {known})")
    return calibration


def _finish(sensor: str, method: str, search: OffsetSearch, uncertainty: float, calibrated_us: int, samples: int, max_uncertainty_us: float) -> ClockEstimate:
    observable = bool(np.isfinite(uncertainty) and uncertainty <= max_uncertainty_us and not search.at_edge)
    estimate = ClockEstimate(
        sensor, method, int(round(search.offset_us)), float(uncertainty), int(calibrated_us), float(search.cost), int(samples), observable
    )
    if observable:
        logger.info("%s: clock offset %d +- %.0f us by %s (calibrated %d us)", sensor, estimate.offset_us, uncertainty, method, calibrated_us)
    else:
        logger.warning(
            "%s: clock offset not observable by %s on this drive (%d +- %.0f us, allowed +- %.0f us)",
            sensor, method, estimate.offset_us, uncertainty, max_uncertainty_us,
        )
    return estimate


# --------------------------------------------------------------------------- all sensors


def estimate_clock_offsets(log: DriveLog, *, poses: PoseInterpolator | None = None, lidar: str | None = None) -> dict[str, ClockEstimate | str]:
    """Estimate the clock offset of the IMU, every radar and every camera of a log.

    Returns sensor name -> ClockEstimate, or -> a one-line reason where no estimate could be
    made (no overlap with the poses, no motion to speak of, ...). The LiDAR is the reference
    (its offset is taken as calibrated).
    """
    from avlabel.sync.frames import ego_poses

    poses = poses or ego_poses(log)
    results: dict[str, ClockEstimate | str] = {}
    imu = log.imu()
    imu_calibrations = [calibration for calibration in log.calibrations.values() if calibration.kind == "imu"]
    if imu is not None:
        calibration = imu_calibrations[0] if imu_calibrations else None
        name = calibration.sensor if calibration is not None else "imu"
        try:
            results[name] = estimate_imu_offset(
                imu, poses, ego_from_imu=calibration.ego_from_sensor if calibration else None, sensor=name,
                calibrated_us=calibration.clock_offset_us if calibration else 0,
            )
        except ValueError as error:
            results[name] = str(error)
    for sensor in log.sensors("radar"):
        try:
            results[sensor] = estimate_radar_offset(log, sensor, poses)
        except ValueError as error:
            results[sensor] = str(error)
    for sensor in log.sensors("camera"):
        try:
            results[sensor] = estimate_camera_offset(log, sensor, poses, lidar=lidar)
        except ValueError as error:
            results[sensor] = str(error)
    return results
