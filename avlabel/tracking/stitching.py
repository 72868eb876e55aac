"""Joining tracklets across gaps the forward pass could not bridge (offline only).

An online tracker loses an object it does not see for longer than its coast time and
starts a new id when the object reappears. Offline, both pieces are known in full: the
end of the earlier one, smoothed, is extrapolated forward over the gap and the start of
the later one backward, and compared in the ground plane with their combined
covariance: each piece's extrapolation must reach the other piece's own boundary state
within `stitch_gate` standard deviations (Mahalanobis) and within the class's
`distance_gate` plus what `maximum_acceleration` can add over the gap (a short piece knows
its velocity so poorly that its extrapolation agrees with almost anything in standard
deviations); a parked piece stays where it is (zero velocity, no process noise). Pairs no further apart in time than `stitch_seconds`, and not overlapping in time, are joined by one
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
# Squared Mahalanobis length of a velocity still consistent with 0 (2 dof, about 2 std).
_STANDING_STILL = 6.0


def _extrapolate(mean: np.ndarray, covariance: np.ndarray, dt: float, acceleration: float) -> tuple[np.ndarray, np.ndarray]:
    """Ground-plane position (2,) and its covariance (2, 2) after `dt` seconds (negative: back)."""
    transition = motion.transition(dt)
    noise = motion.process_noise(dt, acceleration, 0.0, 0.0)
    return (transition @ mean)[:2], (transition @ covariance @ transition.T + noise)[:2, :2]


def _boundary(track: SmoothedTrack, parked: bool, index: int) -> tuple[np.ndarray, np.ndarray]:
    """State (7,) and covariance (7, 7) at one end of a piece; a parked piece does not move
    (its velocity is 0, known to within the spread of its smoothed velocities)."""
    mean, covariance = track.means[index].copy(), track.covariances[index].copy()
    if parked:
        mean[4:6] = 0.0
        spread = float(np.var(track.means[:, 4:6])) if len(track) > 1 else covariance[4, 4]
        covariance[4:6, :] = covariance[:, 4:6] = 0.0
        covariance[4, 4] = covariance[5, 5] = spread
    return mean, covariance


def _may_stand_still(track: SmoothedTrack) -> bool:
    """A piece whose smoothed velocity is within 2 standard deviations of zero throughout
    (a short, sparse piece of a parked object, say)."""
    velocity = track.means[:, 4:6]
    covariance = track.covariances[:, 4:6, 4:6]
    squared = np.einsum("ti,tij,tj->t", velocity, np.linalg.inv(covariance), velocity)
    return bool(np.all(squared <= _STANDING_STILL))


def stitching_costs(
    tracks: list[SmoothedTrack], labels: list[str], parked: list[bool], detections: Detections, config: TrackingConfig
) -> np.ndarray:
    """(K, K) cost of continuing track i (its end) with track j (its start); inf = not allowed.

    The cost is the larger of two Mahalanobis distances, in standard deviations: the end of
    the earlier piece extrapolated over the gap against the start of the later one, and the
    start of the later piece extrapolated back against the end of the earlier one. Both
    must also be within the class's `distance_gate` + maximum_acceleration * gap^2 / 2
    metres. A parked piece (`parked`, see consolidation.is_stationary) and another that is
    parked or may be standing still (velocity within about 2 std of 0 throughout), up to
    `parked_stitch_seconds` apart, join when their centres lie within their class's
    `stationary_extent`, at a cost of that distance in units of the extent.
    """
    times_s = detections.times_s
    count = len(tracks)
    costs = np.full((count, count), np.inf)
    ends = np.array([track.frames[-1] for track in tracks])
    starts = np.array([track.frames[0] for track in tracks])
    lengths = np.array([int(track.observed.sum()) for track in tracks])
    reach = max(config.stitch_seconds, config.parked_stitch_seconds)
    standing = [parked[index] or _may_stand_still(track) for index, track in enumerate(tracks)]
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
            if (parked[earlier] or parked[later]) and standing[earlier] and standing[later] and gap <= config.parked_stitch_seconds:
                separation = float(np.linalg.norm(tracks[earlier].means[-1, :2] - tracks[later].means[0, :2]))
                if separation <= table.stationary_extent:
                    costs[earlier, later] = separation / table.stationary_extent + mismatch
                continue
            if gap > config.stitch_seconds:
                continue
            # Each piece's extrapolation must reach the other piece's own first (last) state.
            end_mean, end_covariance = _boundary(tracks[earlier], parked[earlier], -1)
            start_mean, start_covariance = _boundary(tracks[later], parked[later], 0)
            distances = []
            for mean, covariance, still, dt, target, target_covariance in (
                (end_mean, end_covariance, parked[earlier], gap, start_mean, start_covariance),
                (start_mean, start_covariance, parked[later], -gap, end_mean, end_covariance),
            ):
                position, position_covariance = _extrapolate(mean, covariance, dt, 0.0 if still else table.acceleration_noise)
                difference = position - target[:2]
                if np.linalg.norm(difference) > table.distance_gate + 0.5 * table.maximum_acceleration * gap**2:
                    break
                distances.append(float(np.sqrt(difference @ np.linalg.solve(position_covariance + target_covariance[:2, :2], difference))))
            else:
                if max(distances) <= config.stitch_gate:
                    costs[earlier, later] = max(distances) + mismatch
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
