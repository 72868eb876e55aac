"""Ego poses at arbitrary times, for the importers and exporters.

Private stand-in for `avlabel.sync.poses.PoseInterpolator` until it lands: linear in
position, SLERP in rotation (avlabel.geometry.transforms). Past either end of the series the
end segment's motion is continued for up to `max_extrapolation_us` (sensor stamps of a file
format often run a few milliseconds past the last pose: KITTI's OXTS packets are the ones
*nearest* each scan), and the pose is held beyond that. A log without poses has the ego at
the world origin throughout.
"""

from __future__ import annotations

import numpy as np

from avlabel.geometry.transforms import invert_rigid, make_transform, matrices_from_quaternions, quaternions_from_matrices, slerp_quaternions
from avlabel.structs import PoseSeries


class PoseTable:
    """world_from_ego (N, 4, 4) at any log-clock times (int64 us)."""

    def __init__(self, poses: PoseSeries | None, *, max_extrapolation_us: int = 200_000) -> None:
        self.max_extrapolation_us = max_extrapolation_us
        if poses is None or len(poses) == 0:
            self._stamps = np.zeros(1, dtype=np.int64)
            self._positions = np.zeros((1, 3))
            self._quaternions = np.array([[1.0, 0.0, 0.0, 0.0]])
        else:
            self._stamps = poses.timestamps_us
            self._positions = poses.world_from_ego[:, :3, 3]
            self._quaternions = quaternions_from_matrices(poses.world_from_ego)

    def at(self, times_us: np.ndarray | int | float) -> np.ndarray:
        """(4, 4) for a scalar time, (N, 4, 4) for (N,) times (float microseconds allowed)."""
        times = np.atleast_1d(np.asarray(times_us, dtype=np.float64))
        stamps = self._stamps.astype(np.float64)
        if len(stamps) == 1:
            transforms = np.repeat(make_transform(matrices_from_quaternions(self._quaternions), self._positions), len(times), axis=0)
        else:
            clamped = np.clip(times, stamps[0] - self.max_extrapolation_us, stamps[-1] + self.max_extrapolation_us)
            after = np.clip(np.searchsorted(stamps, clamped, side="right"), 1, len(stamps) - 1)
            before = after - 1
            fraction = (clamped - stamps[before]) / (stamps[after] - stamps[before])
            positions = self._positions[before] + fraction[:, None] * (self._positions[after] - self._positions[before])
            quaternions = slerp_quaternions(self._quaternions[before], self._quaternions[after], fraction)
            transforms = make_transform(matrices_from_quaternions(quaternions), positions)
        return transforms[0] if np.ndim(times_us) == 0 else transforms

    def velocity(self, time_us: int, *, half_window_us: int = 50_000) -> np.ndarray:
        """(3,) world-frame velocity of the ego origin, m/s, by a central difference."""
        before, after = self.at(np.array([time_us - half_window_us, time_us + half_window_us]))
        return (after[:3, 3] - before[:3, 3]) / (2 * half_window_us * 1e-6)


def points_at_reference_time(
    points_sensor: np.ndarray, point_times_us: np.ndarray, reference_time_us: int, poses: PoseTable, ego_from_sensor: np.ndarray
) -> np.ndarray:
    """Express (N, 3) sensor-frame points, each measured at its own log time, in the sensor
    frame at `reference_time_us` (de-skew). Returns (N, 3) float64."""
    if not len(points_sensor):
        return np.zeros((0, 3))
    world_from_reference = poses.at(reference_time_us) @ ego_from_sensor
    reference_from_world = invert_rigid(world_from_reference)
    unique_times, inverse = np.unique(point_times_us, return_inverse=True)
    # reference_from_sensor at each distinct point time (points share times in practice).
    chains = reference_from_world[None] @ poses.at(unique_times) @ ego_from_sensor[None]
    chain = chains[inverse]
    xyz = np.asarray(points_sensor, dtype=np.float64)
    return np.einsum("nij,nj->ni", chain[:, :3, :3], xyz) + chain[:, :3, 3]


def points_in_world(points_sensor: np.ndarray, point_times_us: np.ndarray, poses: PoseTable, ego_from_sensor: np.ndarray) -> np.ndarray:
    """(N, 3) sensor-frame points, each measured at its own log time -> (N, 3) world frame."""
    if not len(points_sensor):
        return np.zeros((0, 3))
    unique_times, inverse = np.unique(point_times_us, return_inverse=True)
    chain = (poses.at(unique_times) @ ego_from_sensor[None])[inverse]
    xyz = np.asarray(points_sensor, dtype=np.float64)
    return np.einsum("nij,nj->ni", chain[:, :3, :3], xyz) + chain[:, :3, 3]
