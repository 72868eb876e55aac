"""Radar detections on proposals: association and Doppler velocity.

Radar input to the proposal step, per radar scan, is a pair

    (detections (D, 5) float, line_of_sight (D, 3) float)

in the ego frame at the sweep time: detections are RADAR_FIELDS rows (x, y, z,
radial_velocity, rcs) with the position moved into the ego frame, radial velocity
still as measured (m/s along the line of sight, positive away, relative to the moving
sensor, not ego-motion compensated), and line_of_sight the unit vectors from the radar
to each detection in the ego frame. `radar_in_ego` builds the pair from a RadarScan and
its calibration.

Ego-motion compensation: the sensor moves with the ego's velocity v_ego (rotation
neglected), so a target moving with v has radial speed (v - v_ego) . u along the line of
sight u; v . u = radial_velocity + v_ego . u. One detection gives only that radial
component; assuming the object moves along its box heading h, v = s h with
s = sum((h . u_i)(v . u_i)) / sum((h . u_i)^2) over its detections, which is well posed
unless the heading is nearly perpendicular to every line of sight; then the radial
component alone is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avlabel.structs import Calibration, RadarScan

# Below this |h . u| the heading-constrained speed is ill-conditioned.
_MIN_PROJECTION = 0.3


def radar_in_ego(scan: RadarScan, calibration: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """A radar scan in the ego frame: (detections (D, 5) float64, line_of_sight (D, 3))."""
    ego_from_radar = calibration.ego_from_sensor
    detections = np.asarray(scan.detections, dtype=np.float64).copy()
    detections[:, :3] = detections[:, :3] @ ego_from_radar[:3, :3].T + ego_from_radar[:3, 3]
    rays = detections[:, :3] - ego_from_radar[:3, 3]
    norms = np.linalg.norm(rays, axis=1, keepdims=True)
    return detections, rays / np.maximum(norms, 1e-9)


@dataclass(frozen=True, slots=True, eq=False)
class RadarEvidence:
    """Per box (K,): associated detection count, ego-frame velocity (K, 2) m/s over
    ground (NaN where no detection), whether the heading-constrained estimate was used,
    the maximum RCS (dBsm, NaN without detections) and the mean radial speed over ground
    (m/s, NaN without detections): its magnitude is a lower bound of the object's speed
    whatever its heading."""

    detections: np.ndarray
    velocity: np.ndarray
    along_heading: np.ndarray
    rcs: np.ndarray
    radial_speed: np.ndarray


def associate(
    radar: list[tuple[np.ndarray, np.ndarray]],
    centres: np.ndarray,
    length: np.ndarray,
    width: np.ndarray,
    yaw: np.ndarray,
    ego_velocity_ego: np.ndarray,
    gate: float,
) -> RadarEvidence:
    """Assign detections to boxes (ego frame: centres (K, 2), length, width, yaw (K,))
    whose bird's-eye rectangle, grown by `gate` metres, holds them (the nearest box
    centre wins), and estimate each box's velocity over ground.

    ego_velocity_ego: (3,) the ego's velocity in the ego frame (m/s)."""
    count = len(centres)
    detections_total = np.zeros(count, np.int64)
    velocity = np.full((count, 2), np.nan)
    along_heading = np.zeros(count, bool)
    rcs = np.full(count, np.nan)
    radial_speed = np.full(count, np.nan)
    if count == 0 or not radar:
        return RadarEvidence(detections_total, velocity, along_heading, rcs, radial_speed)
    detections = np.concatenate([np.asarray(pair[0], dtype=np.float64).reshape(-1, 5) for pair in radar])
    line_of_sight = np.concatenate([np.asarray(pair[1], dtype=np.float64).reshape(-1, 3) for pair in radar])
    if len(detections) == 0:
        return RadarEvidence(detections_total, velocity, along_heading, rcs, radial_speed)
    finite = np.isfinite(detections).all(axis=1) & np.isfinite(line_of_sight).all(axis=1)
    detections, line_of_sight = detections[finite], line_of_sight[finite]
    # Box-frame coordinates of every detection (D x K).
    offset = detections[None, :, :2] - centres[:, None, :]
    cos, sin = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    along = cos * offset[..., 0] + sin * offset[..., 1]
    across = -sin * offset[..., 0] + cos * offset[..., 1]
    inside = (np.abs(along) <= length[:, None] / 2 + gate) & (np.abs(across) <= width[:, None] / 2 + gate)
    distance = np.where(inside, np.hypot(offset[..., 0], offset[..., 1]), np.inf)
    owner = np.argmin(distance, axis=0)
    owned = np.isfinite(distance[owner, np.arange(len(detections))])
    # Radial speed over ground of each detection: measured + ego velocity along the ray.
    radial = detections[:, 3] + line_of_sight @ np.asarray(ego_velocity_ego, dtype=np.float64)
    heading = np.column_stack([np.cos(yaw), np.sin(yaw)])
    for box in np.unique(owner[owned]):
        mine = owned & (owner == box)
        rays = line_of_sight[mine]
        projection = rays[:, :2] @ heading[box]
        detections_total[box] = int(mine.sum())
        rcs[box] = float(detections[mine, 4].max())
        radial_speed[box] = float(radial[mine].mean())
        if np.sum(projection**2) >= _MIN_PROJECTION**2 * len(projection):
            speed = float(np.sum(projection * radial[mine]) / np.sum(projection**2))
            velocity[box] = speed * heading[box]
            along_heading[box] = True
        else:
            horizontal = rays[:, :2] / np.maximum(np.linalg.norm(rays[:, :2], axis=1, keepdims=True), 1e-9)
            velocity[box] = (horizontal * radial[mine, None]).mean(axis=0)
    return RadarEvidence(detections_total, velocity, along_heading, rcs, radial_speed)
