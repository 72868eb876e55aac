"""Fixed-interval smoothing of one track: Kalman filter forward, Rauch-Tung-Striebel backward.

Every frame from a track's first to its last observation gets a state that uses all of the
track's evidence, before and after it; frames without a detection (misses, occlusion) get
the model's interpolation between their neighbours, with the larger covariance that goes
with it. State layout and motion model: `avlabel.tracking.motion`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avlabel.tracking import kernels, motion
from avlabel.tracking.settings import ClassTracking


@dataclass(frozen=True, slots=True, eq=False)
class SmoothedTrack:
    """One track over the contiguous frames `frames` (T,), world frame.

    rows: (T,) int64 detection row observed at each frame, -1 where there was none.
    means: (T, 7) smoothed states, covariances: (T, 7, 7) (layout in `motion`).
    normalised_residuals: (T,) squared normalised distance of each observation to the
    smoothed state over its directly observed components (NaN where unobserved).
    """

    frames: np.ndarray
    rows: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    normalised_residuals: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def observed(self) -> np.ndarray:
        """(T,) bool: a detection was associated at this frame."""
        return self.rows >= 0

    @property
    def observed_rows(self) -> np.ndarray:
        return self.rows[self.rows >= 0]


def smooth(
    rows: np.ndarray,
    frames_of_rows: np.ndarray,
    times_s: np.ndarray,
    measurements: np.ndarray,
    noise_std: np.ndarray,
    table: ClassTracking,
) -> SmoothedTrack:
    """Filter and smooth one track.

    rows: (K,) detection rows in time order, frames_of_rows: (K,) their frame indices
    (strictly increasing); times_s: (F,) seconds of every frame of the log;
    measurements: (K, 7) and noise_std: (K, 7), one per row (layout `motion.MEASUREMENT`).
    """
    rows = np.asarray(rows, dtype=np.int64)
    frames_of_rows = np.asarray(frames_of_rows, dtype=np.int64)
    if not len(rows) or len(frames_of_rows) != len(rows) or (np.diff(frames_of_rows) <= 0).any():
        raise ValueError("smooth: expected at least one row, with strictly increasing frames (one detection per frame)")
    first, last = int(frames_of_rows[0]), int(frames_of_rows[-1])
    frames = np.arange(first, last + 1, dtype=np.int64)
    row_at = np.full(len(frames), -1, dtype=np.int64)
    row_at[frames_of_rows - first] = rows
    observation_at = np.full(len(frames), -1, dtype=np.int64)
    observation_at[frames_of_rows - first] = np.arange(len(rows))
    measurements = np.ascontiguousarray(measurements, dtype=np.float64)
    noise_std = np.ascontiguousarray(noise_std, dtype=np.float64)

    initial_mean, initial_covariance = motion.initial_state(measurements[0], noise_std[0], table.initial_speed)
    means, covariances, aligned = kernels._filter_and_smooth(
        np.ascontiguousarray(times_s[frames], dtype=np.float64), observation_at, measurements, noise_std, initial_mean, initial_covariance,
        table.acceleration_noise, table.yaw_acceleration_noise, table.vertical_noise,
    )

    observed = observation_at >= 0
    difference = aligned[observed, : motion.DIRECT] - means[observed, : motion.DIRECT]
    normalised = np.where(np.isfinite(difference), difference / noise_std[observation_at[observed], : motion.DIRECT], 0.0)
    residuals = np.full(len(frames), np.nan)
    residuals[observed] = np.sum(normalised**2, axis=1)
    return SmoothedTrack(frames, row_at, means, covariances, residuals)
