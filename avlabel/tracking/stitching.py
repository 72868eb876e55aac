"""Joining tracklets across gaps the forward pass could not bridge (offline only).

An online tracker loses an object it does not see for longer than its coast time and
starts a new id when the object reappears. Offline, both pieces are known in full: the
end of the earlier one, smoothed, is extrapolated forward over the gap and the start of
the later one backward, and the two are compared in the ground plane with their combined
covariance. Pairs closer than `stitch_gate` standard deviations (Mahalanobis), no further
apart in time than `stitch_seconds`, and not overlapping in time, are joined by one
optimal assignment between ends and starts; repeated until nothing more joins. Parked
pieces join across much longer gaps (`parked_stitch_seconds`): a parked car seen, hidden
behind passing traffic and seen again at the same place is one object. A piece
with fewer than its class's `minimum_observations` is too weak to stand alone, and too
weak to extend another track (one stray detection knows nothing of its velocity, so its
extrapolation would agree with anything).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from avlabel.tracking import motion
from avlabel.tracking.measurements import Detections
from avlabel.tracking.settings import TrackingConfig
from avlabel.tracking.smoothing import SmoothedTrack

_IMPOSSIBLE = 1e6


def _extrapolate(mean: np.ndarray, covariance: np.ndarray, dt: float, acceleration: float) -> tuple[np.ndarray, np.ndarray]:
    """Ground-plane position (2,) and its covariance (2, 2) after `dt` seconds (negative: back)."""
    transition = motion.transition(dt)
    noise = motion.process_noise(dt, acceleration, 0.0, 0.0)
    return (transition @ mean)[:2], (transition @ covariance @ transition.T + noise)[:2, :2]


def stitching_costs(
    tracks: list[SmoothedTrack], labels: list[str], parked: list[bool], detections: Detections, config: TrackingConfig
) -> np.ndarray:
    """(K, K) cost of continuing track i (its end) with track j (its start); inf = not allowed.

    The cost is the Mahalanobis distance, in standard deviations, between the two
    extrapolations to the middle of the gap. Two parked pieces (`parked`, see
    consolidation.is_stationary) up to `parked_stitch_seconds` apart join when their
    centres lie within their class's `stationary_extent`, at a cost of that distance in
    units of the extent.
    """
    times_s = detections.times_s
    count = len(tracks)
    costs = np.full((count, count), np.inf)
    ends = np.array([track.frames[-1] for track in tracks])
    starts = np.array([track.frames[0] for track in tracks])
    lengths = np.array([int(track.observed.sum()) for track in tracks])
    reach = max(config.stitch_seconds, config.parked_stitch_seconds)
    for earlier in range(count):
        table = config.for_label(labels[earlier])
        if lengths[earlier] < table.minimum_observations:
            continue
        end_time = times_s[ends[earlier]]
        for later in np.flatnonzero((starts > ends[earlier]) & (times_s[starts] - end_time <= reach)):
            gap = float(times_s[starts[later]] - end_time)
            if not config.compatible(labels[earlier], labels[later]) or lengths[later] < config.for_label(labels[later]).minimum_observations:
                continue
            mismatch = config.class_mismatch_cost if labels[later] != labels[earlier] else 0.0
            if parked[earlier] and parked[later] and gap <= config.parked_stitch_seconds:
                separation = float(np.linalg.norm(tracks[earlier].means[-1, :2] - tracks[later].means[0, :2]))
                if separation <= table.stationary_extent:
                    costs[earlier, later] = separation / table.stationary_extent + mismatch
                continue
            if gap > config.stitch_seconds:
                continue
            forward_position, forward_covariance = _extrapolate(tracks[earlier].means[-1], tracks[earlier].covariances[-1], gap / 2, table.acceleration_noise)
            backward_position, backward_covariance = _extrapolate(tracks[later].means[0], tracks[later].covariances[0], -gap / 2, table.acceleration_noise)
            difference = forward_position - backward_position
            if np.linalg.norm(difference) > table.distance_gate + table.maximum_speed * gap:
                continue
            mahalanobis = float(np.sqrt(difference @ np.linalg.solve(forward_covariance + backward_covariance, difference)))
            if mahalanobis <= config.stitch_gate:
                costs[earlier, later] = mahalanobis + mismatch
    return costs


def stitch_pairs(costs: np.ndarray) -> list[tuple[int, int]]:
    """(earlier, later) pairs to join: the optimal one-to-one assignment of ends to starts."""
    if not np.isfinite(costs).any():
        return []
    rows, columns = linear_sum_assignment(np.where(np.isfinite(costs), costs, _IMPOSSIBLE))
    return [(int(row), int(column)) for row, column in zip(rows, columns) if np.isfinite(costs[row, column])]


def chains(pairs: list[tuple[int, int]], count: int) -> list[list[int]]:
    """Group `count` tracks into chains following the (earlier, later) links, in time order."""
    following = dict(pairs)
    has_previous = {later for _, later in pairs}
    result = []
    for start in range(count):
        if start in has_previous:
            continue
        chain = [start]
        while chain[-1] in following:
            chain.append(following[chain[-1]])
        result.append(chain)
    return result
