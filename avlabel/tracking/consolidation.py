"""Track consolidation: from a track's detections to its final boxes, using the whole track.

Per track, in order:

1. class: the score-weighted vote of its detections; a moving track's class is the one
   with the largest summed per-class score of its detections (`moving_label`), when that
   class is typically smaller: the proposals hold cyclists back because one sweep cannot
   tell them from bushes, which do not move, and call a cyclist seen from the side a car;
2. evidence: a track score from its detections' scores and how many there are; too
   short or too weak tracks are dropped, weak ones kept but flagged for review;
3. one size per rigid object: voted by its full views, bounded below by its partial
   views (`shape.py`), once views larger than anything of the class (a cluster merged
   with a neighbour for a few sweeps) have left the track; a track larger than anything of its class (`maximum_size`: a
   wall or a building the proposals took for a car), or whose full views show it less
   than a third as wide as the narrowest of its class (`minimum_size`: a wall seen square
   on), or whose views nearly all show less than that narrowest width (a cyclist or a
   pole the proposals took for a car), is dropped;
4. partial views re-centred: a box fitted to the visible faces of an object is short on
   the far side, so its centre is moved away from the ego until the box has the track's
   size with its visible faces kept where they were (`shape.py`);
5. smoothing (Kalman forward, Rauch-Tung-Striebel backward, `smoothing.py`);
6. parked objects (slow and not going anywhere) get one fixed pose in the world;
   moving ones get their heading from their motion: the pi ambiguity of fitted boxes is
   settled by the direction of travel (forwards), and the heading of the smoothed velocity
   is fused with the smoothed yaw, each weighted by its variance;
7. gaps up to `maximum_gap_seconds` (time between the observations either side) are
   filled with the smoother's interpolation; longer gaps stay empty (the id carries on),
   except on parked objects not flagged for review, whose every gap is filled (they have
   one pose) and whose track is carried `parked_extension_seconds` beyond its first and
   last detection (a parked car does not vanish when the proposals lose it);
8. a per-frame uncertainty (m): the smoothed position spread sqrt(var_x + var_y),
   inflated where the detection disagrees with the track more than its noise explains,
   by sqrt(max(1, r^2 / 2)) with r the output-to-detection centre distance in detection
   standard deviations (2 degrees of freedom). Interpolated boxes have no detection; their
   spread grows with the distance to the nearest observation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avlabel.structs import wrap_angle
from avlabel.tracking.measurements import Detections
from avlabel.tracking.settings import ClassTracking, TrackingConfig
from avlabel.tracking.shape import implausibly_small, never_wide_enough, oversized
from avlabel.tracking.smoothing import SmoothedTrack, smooth, track_measurements

@dataclass(frozen=True, slots=True, eq=False)
class ConsolidatedTrack:
    """One object's final boxes, world frame, at frames (T,) of the log."""

    label: str
    frames: np.ndarray  # (T,) int64 frame indices
    rows: np.ndarray  # (T,) int64 detection row per frame, -1 where interpolated
    boxes: np.ndarray  # (T, 7) [x, y, z, l, w, h, yaw], one size throughout
    velocities: np.ndarray  # (T, 2) smoothed [vx, vy], m/s
    states: tuple[str, ...]  # (T,) "observed" | "smoothed" | "interpolated"
    uncertainties: np.ndarray  # (T,) metres, see the module docstring
    score: float  # track score in [0, 1]
    stationary: bool
    needs_review: bool


def consolidate(rows: np.ndarray, detections: Detections, config: TrackingConfig, *, label: str | None = None) -> ConsolidatedTrack | None:
    """Final boxes of the track made of detection `rows` (K,) (time order), or None if dropped.
    `label`: the track's class when already settled (else the vote of its detections)."""
    relabelled = label is not None
    label = label or vote_label(rows, detections)
    table = config.for_label(label)
    rows = without_merged_views(rows, detections, table)
    score = track_score(detections.scores[rows], table)
    if len(rows) < table.minimum_observations or score < table.drop_score:
        return None

    size, measurements = track_measurements(rows, detections, table)
    if (size > np.asarray(table.maximum_size)).any():
        return None  # a wall, a building, a fence: nothing of this class is that big
    if implausibly_small(detections.seen_sizes[rows], detections.num_points[rows], detections.side_visible[rows], table):
        return None  # seen in full, far thinner than anything of this class: a wall, a hedge
    if never_wide_enough(detections.seen_sizes[rows], table):
        return None  # never seen as wide as anything of this class: a cyclist or a pole taken for a car
    noise_std = detections.noise_std[rows]
    smoothed = smooth(rows, detections.frame[rows], detections.times_s, measurements, noise_std, table)

    stationary = is_stationary(smoothed, table)
    if not stationary and not relabelled:
        moving = moving_label(rows, detections, config)
        if moving is not None and moving != label and _footprint(config, moving) < _footprint(config, label):  # a cyclist taken for a car
            return consolidate(rows, detections, config, label=moving)
    if stationary:
        means, position_variances = fixed_pose(smoothed, measurements, noise_std)
    else:
        means = smoothed.means.copy()
        means[:, 3] = heading_from_motion(smoothed, table)
        position_variances = smoothed.covariances[:, 0, 0] + smoothed.covariances[:, 1, 1]

    confident = score >= table.review_score
    keep = fillable(smoothed.observed, detections.times_s[smoothed.frames], np.inf if stationary and confident else table.maximum_gap_seconds)
    frames, track_rows, means, position_variances = smoothed.frames[keep], smoothed.rows[keep], means[keep], position_variances[keep]
    observed = track_rows >= 0
    inflation = np.ones(len(frames))
    observation_index = _observation_index(rows, track_rows[observed])
    normalised = np.linalg.norm(measurements[observation_index, :2] - means[observed, :2], axis=1) / noise_std[observation_index, 0]
    inflation[observed] = np.sqrt(np.maximum(1.0, 0.5 * normalised**2))
    uncertainties = np.sqrt(position_variances) * inflation
    if stationary and confident and table.parked_extension_seconds > 0:
        frames, track_rows, means, uncertainties = _extended(frames, track_rows, means, uncertainties, detections.times_s, table)
        observed = track_rows >= 0
    single = len(rows) == 1
    states = tuple(("observed" if single else "smoothed") if seen else "interpolated" for seen in observed)
    boxes = np.column_stack([means[:, :3], np.tile(size, (len(frames), 1)), wrap_angle(means[:, 3])])
    return ConsolidatedTrack(
        label=label,
        frames=frames,
        rows=track_rows,
        boxes=boxes,
        velocities=means[:, 4:6],
        states=states,
        uncertainties=uncertainties,
        score=score,
        stationary=stationary,
        needs_review=score < table.review_score,
    )


def _extended(
    frames: np.ndarray, rows: np.ndarray, means: np.ndarray, uncertainties: np.ndarray, times_s: np.ndarray, table: ClassTracking
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A parked track's frames (T,), rows (T,), means (T, 7) and uncertainties (T,) carried
    `parked_extension_seconds` before its first and after its last detection (the log
    permitting): a parked car does not vanish when the proposals lose it. The uncertainty
    of an added box grows by `extension_uncertainty` m per second from the evidence."""
    before = np.flatnonzero((times_s < times_s[frames[0]]) & (times_s >= times_s[frames[0]] - table.parked_extension_seconds))
    after = np.flatnonzero((times_s > times_s[frames[-1]]) & (times_s <= times_s[frames[-1]] + table.parked_extension_seconds))
    if not len(before) and not len(after):
        return frames, rows, means, uncertainties
    added = np.concatenate([before, after])
    distance_s = np.where(added < frames[0], times_s[frames[0]] - times_s[added], times_s[added] - times_s[frames[-1]])
    order = np.argsort(np.concatenate([frames, added]), kind="stable")
    return (
        np.concatenate([frames, added])[order],
        np.concatenate([rows, np.full(len(added), -1, dtype=np.int64)])[order],
        np.concatenate([means, np.tile(means[0], (len(added), 1))])[order],
        np.concatenate([uncertainties, np.hypot(uncertainties[0], table.extension_uncertainty * distance_s)])[order],
    )


def _observation_index(rows: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions in `rows` of each of `wanted` (all present)."""
    order = np.argsort(rows)
    return order[np.searchsorted(rows, wanted, sorter=order)]


# --------------------------------------------------------------------------- steps


def without_merged_views(rows: np.ndarray, detections: Detections, table: ClassTracking) -> np.ndarray:
    """The detection rows (K,) of a track without its views larger than anything of its class
    (`shape.oversized`), when those are fewer than half of them: a car's cluster merged for
    a few sweeps with a tree or the car beside it is not a view of the car, and one such
    view would vote the track's size up until the track is dropped as too large. A track
    most of whose views are that large keeps them (it is a wall or a building, and is
    dropped whole)."""
    merged = oversized(detections.seen_sizes[rows], table)
    if not merged.any() or 2 * merged.sum() >= len(rows):
        return rows
    return rows[~merged]


def vote_label(rows: np.ndarray, detections: Detections) -> str:
    """The label with the largest summed detection score over `rows`."""
    votes: dict[str, float] = {}
    for row in rows:
        label = detections.labels[row]
        votes[label] = votes.get(label, 0.0) + float(detections.scores[row])
    return max(votes, key=votes.__getitem__)


def moving_label(rows: np.ndarray, detections: Detections, config: TrackingConfig, attribute: str = "class_scores") -> str | None:
    """The class of a moving track by the summed per-class scores of its detections (the
    proposals' `class_scores` attribute), or None without them.

    A proposal stage that sees one sweep cannot tell a cyclist from a bush, so it holds
    cyclists back (avlabel's scales their score down) and calls a cyclist seen from the side
    a car; bushes do not move. Classes the config does not know are ignored."""
    votes: dict[str, float] = {}
    for row in rows:
        scores = detections.cuboids[row].attributes.get(attribute)
        if not isinstance(scores, dict):
            return None
        for label, value in scores.items():
            if label in config.classes and isinstance(value, (int, float)):
                votes[label] = votes.get(label, 0.0) + float(value)
    return max(votes, key=votes.__getitem__) if votes else None


def _footprint(config: TrackingConfig, label: str) -> float:
    """Ground area of a class's typical size, m^2."""
    length, width, _ = config.for_label(label).typical_size
    return length * width


def track_score(scores: np.ndarray, table: ClassTracking) -> float:
    """Mean detection score, discounted down to half for tracks shorter than `confident_observations`."""
    evidence = min(1.0, len(scores) / table.confident_observations)
    return float(np.mean(scores) * (0.5 + 0.5 * evidence))


def is_stationary(smoothed: SmoothedTrack, table: ClassTracking) -> bool:
    """A parked object: median smoothed speed under `stationary_speed` and the smoothed
    centre spanning less than `stationary_extent` (5th to 95th percentile, per axis)."""
    speed = np.linalg.norm(smoothed.means[:, 4:6], axis=1)
    low, high = np.percentile(smoothed.means[:, :2], [5, 95], axis=0)
    return bool(np.median(speed) < table.stationary_speed and np.linalg.norm(high - low) < table.stationary_extent)


def fixed_pose(smoothed: SmoothedTrack, measurements: np.ndarray, noise_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One pose for a parked object: means (T, 7) all equal, zero velocity, and the
    ground-plane position variance (T,) of that pose.

    Centre: inverse-variance mean of the observed centres (K, 6 measurements) within 3 std
    of their median. Yaw: the axis of the doubled-angle mean, pointing the way most of the
    detections point.
    """
    weights = 1.0 / noise_std[:, 0] ** 2
    median = np.median(measurements[:, :3], axis=0)
    inliers = np.all(np.abs(measurements[:, :2] - median[:2]) <= 3.0 * noise_std[:, :2], axis=1)
    if not inliers.any():
        inliers[:] = True
    centre = np.average(measurements[inliers, :3], axis=0, weights=weights[inliers])
    yaw_weights = 1.0 / noise_std[:, 3] ** 2
    yaws = measurements[:, 3]
    axis = 0.5 * math.atan2(float(np.sum(yaw_weights * np.sin(2 * yaws))), float(np.sum(yaw_weights * np.cos(2 * yaws))))
    agreeing = float(np.sum(yaw_weights * np.sign(np.cos(yaws - axis))))
    yaw = axis if agreeing >= 0 else axis + math.pi
    means = np.tile(np.concatenate([centre, [yaw], [0.0, 0.0, 0.0]]), (len(smoothed), 1))
    spread = np.average(np.sum((measurements[inliers, :2] - centre[:2]) ** 2, axis=1), weights=weights[inliers])
    variance = 2.0 / weights[inliers].sum() + spread / max(1, int(inliers.sum()))
    return means, np.full(len(smoothed), variance)


def heading_from_motion(smoothed: SmoothedTrack, table: ClassTracking) -> np.ndarray:
    """(T,) unwrapped yaw of a moving object.

    A fitted box cannot tell an object's front from its back, so its yaw carries no sense
    of direction: a moving object is taken to drive forwards. Where faster than
    `moving_speed`, the yaw is the heading of the smoothed velocity fused with the smoothed
    yaw brought within pi/2 of it, each weighted by its inverse variance. Slower frames keep
    their smoothed yaw, turned by pi where needed to agree with the nearest moving frame.
    """
    yaw = smoothed.means[:, 3].copy()
    velocity = smoothed.means[:, 4:6]
    speed = np.linalg.norm(velocity, axis=1)
    moving = speed > table.moving_speed
    if not moving.any():
        return yaw
    heading = np.arctan2(velocity[:, 1], velocity[:, 0])
    offset = _within_half_turn(yaw - heading)
    across = np.column_stack([-np.sin(heading), np.cos(heading)])
    heading_variance = np.einsum("ti,tij,tj->t", across, smoothed.covariances[:, 4:6, 4:6], across) / np.maximum(speed, 1e-6) ** 2
    yaw_variance = smoothed.covariances[:, 3, 3]
    motion_weight = yaw_variance / (yaw_variance + heading_variance)
    result = yaw.copy()
    result[moving] = heading[moving] + (1.0 - motion_weight[moving]) * offset[moving]
    moving_steps = np.flatnonzero(moving)
    for step in np.flatnonzero(~moving):
        nearest = moving_steps[np.argmin(np.abs(moving_steps - step))]
        result[step] = result[nearest] + _within_half_turn(yaw[step] - result[nearest])
    return result


def _within_half_turn(angle: np.ndarray | float) -> np.ndarray:
    """Angles moved by multiples of pi into [-pi/2, pi/2)."""
    return np.mod(np.asarray(angle) + math.pi / 2, math.pi) - math.pi / 2


def fillable(observed: np.ndarray, times_s: np.ndarray, maximum_gap_seconds: float) -> np.ndarray:
    """(T,) bool: observed frames, and unobserved ones inside gaps whose bounding observations
    are at most `maximum_gap_seconds` apart."""
    keep = observed.copy()
    observed_steps = np.flatnonzero(observed)
    for before, after in zip(observed_steps[:-1], observed_steps[1:]):
        if after - before > 1 and times_s[after] - times_s[before] <= maximum_gap_seconds + 1e-9:
            keep[before + 1 : after] = True
    return keep
