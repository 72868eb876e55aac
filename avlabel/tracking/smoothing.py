"""Fixed-interval smoothing of one track: Kalman filter forward, Rauch-Tung-Striebel backward.

Every frame from a track's first to its last observation gets a state that uses all of the
track's evidence, before and after it; frames without a detection (misses, occlusion) get
the model's interpolation between their neighbours, with the larger covariance that goes
with it. State layout and motion model: `avlabel.tracking.motion`. `reject_outliers`
drops the detections a track's own smoothed trajectory cannot explain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avlabel.tracking import kernels, motion, shape
from avlabel.tracking.measurements import Detections
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

    initial_mean, initial_covariance = motion.initial_state(measurements[0], noise_std[0], table.initial_speed, table.birth_yaw_noise)
    means, covariances, aligned = kernels._filter_and_smooth(
        np.ascontiguousarray(times_s[frames], dtype=np.float64), observation_at, measurements, noise_std, initial_mean, initial_covariance,
        table.acceleration_noise, table.yaw_acceleration_noise, table.vertical_noise, table.yaw_gate, table.velocity_gate,
    )

    observed = observation_at >= 0
    difference = aligned[observed, : motion.DIRECT] - means[observed, : motion.DIRECT]
    normalised = np.where(np.isfinite(difference), difference / noise_std[observation_at[observed], : motion.DIRECT], 0.0)
    residuals = np.full(len(frames), np.nan)
    residuals[observed] = np.sum(normalised**2, axis=1)
    return SmoothedTrack(frames, row_at, means, covariances, residuals)


def reject_outliers(rows: np.ndarray, detections: Detections, table: ClassTracking, gate: float, rounds: int = 2) -> np.ndarray:
    """The detection rows (K,) of one track without those its own trajectory cannot explain.

    A stray detection taken by a track (clutter next to a briefly missed car, say) bends it
    and would otherwise stay in it. Inside the track, the test is the distance between a
    detection's centre and the smoothed centre, in standard deviations of the detection's
    noise; the worst detection beyond `gate` goes, and the track is smoothed again (at most
    `rounds` times). At the ends, where the smoothed track simply follows its last
    detection, each end detection is tested against the rest of the track extrapolated to
    it (Mahalanobis, the extrapolation's covariance plus the detection's noise), up to
    `rounds` detections per end. Returns the kept rows, in time order.
    """
    for end in (-1, 0):
        for _ in range(rounds):
            if len(rows) < 4 or not _end_is_outlier(rows, detections, table, gate, end):
                break
            rows = np.delete(rows, end)
    for _ in range(rounds):
        if len(rows) < 3:
            return rows
        _, measurements = track_measurements(rows, detections, table)
        smoothed = smooth(rows, detections.frame[rows], detections.times_s, measurements, detections.noise_std[rows], table)
        centres = smoothed.means[detections.frame[rows] - smoothed.frames[0], :2]
        normalised = np.linalg.norm(measurements[:, :2] - centres, axis=1) / detections.noise_std[rows, 0]
        worst = int(np.argmax(normalised))
        if normalised[worst] <= gate:
            return rows
        rows = np.delete(rows, worst)
    return rows


def _end_is_outlier(rows: np.ndarray, detections: Detections, table: ClassTracking, gate: float, end: int) -> bool:
    """Is the detection at `end` (-1 last, 0 first) of rows far from the rest, extrapolated?"""
    _, measurements = track_measurements(rows, detections, table)
    rest = slice(None, -1) if end == -1 else slice(1, None)
    smoothed = smooth(rows[rest], detections.frame[rows[rest]], detections.times_s, measurements[rest], detections.noise_std[rows[rest]], table)
    row = rows[end]
    dt = float(detections.times_s[detections.frame[row]] - detections.times_s[smoothed.frames[end]])
    transition = motion.transition(dt)
    mean = transition @ smoothed.means[end]
    covariance = transition @ smoothed.covariances[end] @ transition.T + motion.process_noise(
        dt, table.acceleration_noise, table.yaw_acceleration_noise, table.vertical_noise
    )
    difference = measurements[end, :2] - mean[:2]
    spread = covariance[:2, :2] + np.eye(2) * detections.noise_std[row, 0] ** 2
    return bool(difference @ np.linalg.solve(spread, difference) > gate**2)


def track_views(rows: np.ndarray, detections: Detections, table: ClassTracking) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The detections `rows` (K,, time order) of one track as its views of one object:
    boxes (K, 7) and seen sizes (K, 3) described along the track's heading, and whether
    each saw the object's side (K,).

    The heading is the direction of travel where the track, smoothed on its detections as
    they are, moves faster than `moving_speed`; elsewhere it is the track's axis
    (`track_axis`) over its slower views. (Not the smoothed yaw: a yaw filter started on a
    box fitted a quarter turn off keeps the well-fitted boxes that follow out as outliers,
    and turns but slowly.) Each box is then described along that heading
    (`shape.reexpressed`).
    """
    frames = detections.frame[rows]
    raw = smooth(rows, frames, detections.times_s, detections.measurements[rows], detections.noise_std[rows], table)
    velocity = raw.means[frames - raw.frames[0], 4:6]
    moving = np.linalg.norm(velocity, axis=1) > table.moving_speed
    slow = ~moving if (~moving).any() else np.ones(len(rows), dtype=bool)
    references = np.where(
        moving, np.arctan2(velocity[:, 1], velocity[:, 0]), track_axis(detections.boxes[rows[slow]], detections.num_points[rows[slow]])
    )
    boxes, seen = shape.reexpressed(detections.boxes[rows], detections.seen_sizes[rows], references)
    return boxes, seen, shape.side_visible(boxes, detections.ego_positions[frames])


def track_axis(boxes: np.ndarray, num_points: np.ndarray) -> float:
    """The length axis (rad, modulo pi) of one object from its boxes (K, 7) and their point
    counts (K,).

    A box fitted to part of an object may lie a quarter turn off (its width taken for its
    length), so the boxes' yaws are averaged modulo a quarter turn (the mean of 4 yaw,
    weighted by points); of the two perpendicular axes that leaves, the length axis is the
    one most of the boxes (by points) lie along."""
    weights = np.maximum(num_points, 1).astype(np.float64)
    axis = 0.25 * math.atan2(float(np.sum(weights * np.sin(4.0 * boxes[:, 6]))), float(np.sum(weights * np.cos(4.0 * boxes[:, 6]))))
    return axis if float(np.sum(weights * np.cos(2.0 * (boxes[:, 6] - axis)))) >= 0.0 else axis + math.pi / 2


def track_measurements(rows: np.ndarray, detections: Detections, table: ClassTracking) -> tuple[np.ndarray, np.ndarray]:
    """The one size (3,) of the track made of detection `rows` (K,, time order), and its
    measurements (K, 7), world frame: the views (`track_views`) vote the size
    (`shape.consolidated_size`), and, if the class table asks, every centre is re-centred
    at that size (`shape.anchored_centres`)."""
    boxes, seen, side = track_views(rows, detections, table)
    size = shape.consolidated_size(seen, detections.num_points[rows], side, table)
    measurements = detections.measurements[rows]  # a copy: fancy indexing
    measurements[:, 3] = boxes[:, 6]
    if table.anchor_partial_views:
        measurements[:, :2] = shape.anchored_centres(boxes, size, detections.ego_positions[detections.frame[rows]])
    return size, measurements
