"""Ego pose at any log-clock time: linear in position, SLERP in rotation.

Between two stored poses the ego frame's origin moves on a straight line and its
orientation turns at a constant rate about a fixed axis (spherical linear interpolation
of the rotation quaternions, as pyquaternion's `Quaternion.slerp`, vectorised here).
Past the first or last pose, up to `max_extrapolation_us`, the end segment's motion is
continued (constant velocity and turn rate); farther out is a ValueError.
"""

from __future__ import annotations

import numpy as np

from avlabel.geometry.transforms import (
    make_transform,
    matrices_from_quaternions,
    quaternions_from_matrices,
    slerp_quaternions,
)
from avlabel.structs import PoseSeries


class PoseInterpolator:
    """world_from_ego (4, 4) at any time within the pose range (log clock, int64 us)."""

    __slots__ = ("_positions", "_quaternions", "_rotations", "_stamps", "_velocity_half_window_us", "max_extrapolation_us")

    def __init__(self, poses: PoseSeries, *, max_extrapolation_us: int = 0) -> None:
        if not isinstance(poses, PoseSeries):
            raise ValueError(f"poses: expected a PoseSeries, got {type(poses).__name__}")
        if len(poses) == 0:
            raise ValueError("poses: the series is empty; a log needs ego poses (or GNSS and IMU to build them from)")
        if max_extrapolation_us < 0:
            raise ValueError(f"max_extrapolation_us: expected >= 0, got {max_extrapolation_us}")
        self._stamps = poses.timestamps_us
        self._positions = poses.world_from_ego[:, :3, 3].copy()
        self._rotations = poses.world_from_ego[:, :3, :3].copy()
        self._quaternions = quaternions_from_matrices(self._rotations)
        self.max_extrapolation_us = int(max_extrapolation_us)
        steps = np.diff(self._stamps)
        # Velocities are central differences over about one pose step each side.
        self._velocity_half_window_us = float(np.median(steps)) if len(steps) else 1.0

    # -- range

    @property
    def timestamps_us(self) -> np.ndarray:
        """(P,) int64 stamps of the stored poses."""
        return self._stamps

    @property
    def start_us(self) -> int:
        return int(self._stamps[0])

    @property
    def end_us(self) -> int:
        return int(self._stamps[-1])

    def covers(self, times_us: np.ndarray | int) -> np.ndarray | bool:
        """Whether each time lies within the pose range widened by the allowed extrapolation."""
        times = np.asarray(times_us, dtype=np.int64)
        inside = (times >= self.start_us - self.max_extrapolation_us) & (times <= self.end_us + self.max_extrapolation_us)
        return bool(inside) if inside.ndim == 0 else inside

    # -- queries

    def at(self, times_us: np.ndarray | int) -> np.ndarray:
        """world_from_ego at each time: (4, 4) for a scalar, (N, 4, 4) float64 for (N,) times."""
        times, scalar = self._times(times_us)
        positions, rotations = self._interpolate(times)
        transforms = make_transform(rotations, positions)
        return transforms[0] if scalar else transforms

    def position(self, times_us: np.ndarray | int) -> np.ndarray:
        """World-frame position of the ego origin: (3,) or (N, 3) float64 metres."""
        times, scalar = self._times(times_us)
        positions = self._positions_at(times)
        return positions[0] if scalar else positions

    def velocity(self, times_us: np.ndarray | int) -> np.ndarray:
        """World-frame velocity of the ego origin, m/s: (3,) or (N, 3) float64.

        A central difference over about one pose step each side, cut to the pose range at
        its ends (so a time past the last pose gets the last segment's velocity).
        """
        times, scalar = self._times(times_us)
        earlier, later = self._window(times)
        span_s = (later - earlier) / 1e6
        velocities = (self._positions_at(later) - self._positions_at(earlier)) / span_s[:, None]
        return velocities[0] if scalar else velocities

    def angular_velocity(self, times_us: np.ndarray | int) -> np.ndarray:
        """Ego-frame angular velocity, rad/s (what a gyro fixed to the ego measures): (3,) or (N, 3).

        From the rotation between the poses about one pose step each side of each time.
        """
        times, scalar = self._times(times_us)
        earlier, later = self._window(times)
        _, rotations_earlier = self._interpolate(earlier)
        _, rotations_later = self._interpolate(later)
        # ego(earlier)_from_ego(later), as a rotation vector over the time between.
        relative = np.einsum("nji,njk->nik", rotations_earlier, rotations_later)
        rates = _rotation_vectors(relative) / ((later - earlier) / 1e6)[:, None]
        return rates[0] if scalar else rates

    def yaw_rate(self, times_us: np.ndarray | int) -> np.ndarray | float:
        """Turn rate about the ego's z axis, rad/s (counter-clockwise positive)."""
        rates = self.angular_velocity(times_us)
        return float(rates[2]) if rates.ndim == 1 else rates[:, 2]

    # -- internals

    def _times(self, times_us: np.ndarray | int) -> tuple[np.ndarray, bool]:
        times = np.asarray(times_us)
        if times.dtype.kind not in "iu":
            raise ValueError(f"times_us: expected integer microseconds on the log clock, got dtype {times.dtype}")
        scalar = times.ndim == 0
        times = np.atleast_1d(times).astype(np.int64)
        if times.ndim != 1:
            raise ValueError(f"times_us: expected a scalar or shape (N,), got {times.shape}")
        outside = ~self.covers(times)
        if outside.any():
            first = int(times[np.argmax(outside)])
            side = "before the first" if first < self.start_us else "after the last"
            distance_ms = (self.start_us - first if first < self.start_us else first - self.end_us) / 1e3
            raise ValueError(
                f"pose interpolation: time {first} us is {distance_ms:.1f} ms {side} ego pose "
                f"(poses cover {self.start_us}..{self.end_us} us, extrapolation allowed up to "
                f"{self.max_extrapolation_us / 1e3:.1f} ms; raise sync.max_pose_extrapolation_us or check clock offsets)"
            )
        return times, scalar

    def _segments(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of each time's pose segment and the fraction along it (outside [0, 1] when extrapolating)."""
        if len(self._stamps) == 1:
            return np.zeros(len(times), np.int64), np.zeros(len(times))
        index = np.clip(np.searchsorted(self._stamps, times, side="right") - 1, 0, len(self._stamps) - 2)
        start = self._stamps[index]
        fraction = (times - start) / (self._stamps[index + 1] - start)
        return index, fraction

    def _positions_at(self, times: np.ndarray) -> np.ndarray:
        if len(self._stamps) == 1:
            return np.repeat(self._positions, len(times), axis=0)
        index, fraction = self._segments(times)
        start = self._positions[index]
        return start + fraction[:, None] * (self._positions[index + 1] - start)

    def _interpolate(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self._stamps) == 1:
            return np.repeat(self._positions, len(times), axis=0), np.repeat(self._rotations, len(times), axis=0)
        index, fraction = self._segments(times)
        start = self._positions[index]
        positions = start + fraction[:, None] * (self._positions[index + 1] - start)
        exact = fraction == 0.0
        rotations = np.empty((len(times), 3, 3))
        rotations[exact] = self._rotations[index[exact]]
        moving = ~exact
        if moving.any():
            quaternions = slerp_quaternions(self._quaternions[index[moving]], self._quaternions[index[moving] + 1], fraction[moving])
            rotations[moving] = matrices_from_quaternions(quaternions)
        return positions, rotations

    def _window(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Times about one pose step either side, kept within the pose range and apart."""
        if len(self._stamps) == 1:
            raise ValueError("poses: one pose has no velocity; the log needs at least two poses")
        half = self._velocity_half_window_us
        earlier = np.clip(times - half, self.start_us, self.end_us - half)
        later = np.clip(times + half, self.start_us + half, self.end_us)
        earlier = np.maximum(np.minimum(earlier, later - 1.0), self.start_us)
        return np.rint(earlier).astype(np.int64), np.rint(later).astype(np.int64)


def _rotation_vectors(rotations: np.ndarray) -> np.ndarray:
    """(N, 3) axis * angle of (N, 3, 3) rotations (angles below pi)."""
    trace = np.einsum("nii->n", rotations)
    angle = np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0))
    axis = np.stack(
        [rotations[:, 2, 1] - rotations[:, 1, 2], rotations[:, 0, 2] - rotations[:, 2, 0], rotations[:, 1, 0] - rotations[:, 0, 1]],
        axis=1,
    )
    # axis has length 2 sin(angle); angle / (2 sin(angle)) -> 1/2 as angle -> 0.
    scale = np.where(angle > 1e-9, angle / np.maximum(2.0 * np.sin(angle), 1e-300), 0.5)
    return axis * scale[:, None]
