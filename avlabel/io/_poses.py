"""Ego poses at arbitrary times, and sweeps moved to one time, for the importers and exporters.

A thin layer over `avlabel.sync.poses.PoseInterpolator` (linear position, SLERP rotation)
and `avlabel.sync.deskew.deskew_points`, with what file formats need on top:

- a log without poses has the ego at the world origin throughout;
- past either end of the series the end segment's motion is continued for up to
  `max_extrapolation_us` (a format's sensor stamps often run a few milliseconds past the
  last pose: KITTI's OXTS packets are the ones *nearest* each scan), and the pose is held
  beyond that instead of failing: an export should not stop over a camera frame that
  outlived the poses by a second.
"""

from __future__ import annotations

import numpy as np

from avlabel.geometry.transforms import invert_rigid, transform_points
from avlabel.structs import PoseSeries
from avlabel.sync.deskew import deskew_points
from avlabel.sync.poses import PoseInterpolator

DEFAULT_MAX_EXTRAPOLATION_US = 200_000


class PoseTable:
    """world_from_ego (4, 4) or (N, 4, 4) at any log-clock times (microseconds)."""

    def __init__(self, poses: PoseSeries | None, *, max_extrapolation_us: int = DEFAULT_MAX_EXTRAPOLATION_US) -> None:
        self.interpolator = None if poses is None or len(poses) == 0 else PoseInterpolator(poses, max_extrapolation_us=max_extrapolation_us)

    def clamp(self, times_us: np.ndarray | int | float) -> np.ndarray:
        """Times (int64) held within the range the interpolator answers for."""
        times = np.rint(np.asarray(times_us, dtype=np.float64)).astype(np.int64)
        if self.interpolator is None:
            return times
        margin = self.interpolator.max_extrapolation_us
        return np.clip(times, self.interpolator.start_us - margin, self.interpolator.end_us + margin)

    def at(self, times_us: np.ndarray | int | float) -> np.ndarray:
        """(4, 4) for a scalar time, (N, 4, 4) for (N,) times."""
        times = self.clamp(times_us)
        if self.interpolator is None:
            return np.eye(4) if times.ndim == 0 else np.tile(np.eye(4), (len(times), 1, 1))
        return self.interpolator.at(times)

    def velocity(self, time_us: int) -> np.ndarray:
        """(3,) world-frame velocity of the ego origin, m/s (zero without poses or with one)."""
        if self.interpolator is None or len(self.interpolator.timestamps_us) < 2:
            return np.zeros(3)
        return self.interpolator.velocity(self.clamp(time_us))


def points_at_time(points: np.ndarray, sweep_time_us: int, reference_time_us: int, poses: PoseTable, ego_from_sensor: np.ndarray) -> np.ndarray:
    """(N, 3) float64: a sweep's points (N, >=5, columns POINT_FIELDS, each in the sensor frame
    at sweep_time_us + t_offset_us, log clock) in the sensor frame at `reference_time_us`."""
    if poses.interpolator is None or not len(points):
        return np.asarray(points[:, :3], dtype=np.float64)
    reference = int(poses.clamp(reference_time_us))
    shifted = np.array(points[:, :5], dtype=np.float32)
    point_times = poses.clamp(sweep_time_us + points[:, 4].astype(np.float64))
    shifted[:, 4] = (point_times - reference).astype(np.float32)
    if not shifted[:, 4].any():  # measured at the reference time already: nothing to move
        return np.asarray(points[:, :3], dtype=np.float64)
    ego = deskew_points(shifted, reference, ego_from_sensor, poses.interpolator)
    return transform_points(invert_rigid(ego_from_sensor), ego[:, :3])


def points_in_world(points: np.ndarray, sweep_time_us: int, poses: PoseTable, ego_from_sensor: np.ndarray) -> np.ndarray:
    """(N, 3) float64: a sweep's points, each placed in the world with the pose at its own time."""
    at_sweep_time = points_at_time(points, sweep_time_us, sweep_time_us, poses, ego_from_sensor)
    return transform_points(poses.at(sweep_time_us) @ ego_from_sensor, at_sweep_time)
