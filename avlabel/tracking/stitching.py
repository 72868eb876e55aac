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
whose start overlaps the end of another by up to `stitch_overlap` frames may continue it
(the earlier piece then ends where the later begins: two trackers briefly followed one
object, one on a stray half of it). A piece with fewer than its class's
`minimum_observations` is too weak to stand alone, and too weak to extend another track (one stray detection knows nothing of its velocity, so its
extrapolation would agree with anything). Likewise a piece larger than anything of its
class (boxes fitted across a car as it comes back into sight, a quarter turn off from
one sweep to the next) would be dropped on its own, and neither extends nor is extended.
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
    """State (7,) and covariance (7, 7) at step `index` of a piece; a parked piece does not move
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
    vx, vy = track.means[:, 4], track.means[:, 5]
    xx, xy, yy = track.covariances[:, 4, 4], track.covariances[:, 4, 5], track.covariances[:, 5, 5]
    squared = (yy * vx**2 - 2.0 * xy * vx * vy + xx * vy**2) / (xx * yy - xy**2)  # v^T C^-1 v for 2x2 C
    return bool(np.all(squared <= _STANDING_STILL))


def _last_view(track: SmoothedTrack, index: int) -> int:
    """Detection row of the last observation of a piece at or before step `index`."""
    return int(track.rows[: index + 1][track.rows[: index + 1] >= 0][-1])


def _unseen_spread(row: int, size: np.ndarray, detections: Detections) -> np.ndarray:
    """(2, 2) ground-plane covariance of where a partial view's centre lies on its object: the
    sensor saw `seen_sizes[row]` of the piece's one size (length, width along and across the
    box), and the seen part may be anywhere along the unseen rest (uniform: unseen^2 / 12)."""
    unseen = np.maximum(0.0, size[:2] - detections.seen_sizes[row, :2])
    cosine, sine = np.cos(detections.boxes[row, 6]), np.sin(detections.boxes[row, 6])
    axes = np.array([[cosine, -sine], [sine, cosine]])
    return axes @ np.diag(unseen**2 / 12.0) @ axes.T


def stitching_costs(
    tracks: list[SmoothedTrack],
    labels: list[str],
    parked: list[bool],
    sizes: list[np.ndarray],
    detections: Detections,
    config: TrackingConfig,
) -> np.ndarray:
    """(K, K) cost of continuing track i (its end) with track j (its start); inf = not allowed.

    The cost is the larger of two Mahalanobis distances, in standard deviations: the end of
    the earlier piece extrapolated over the gap against the start of the later one, and the
    start of the later piece extrapolated back against the end of the earlier one. Both
    must also be within the class's `distance_gate` + maximum_acceleration * gap^2 / 2
    metres. A parked piece (`parked`, see consolidation.is_stationary) and another that is
    parked or may be standing still (velocity within about 2 std of 0 throughout), up to
    `parked_stitch_seconds` apart, join when their centres lie within their class's
    `stationary_extent`, at a cost of that distance in units of the extent. Two pieces
    that may both be standing still but neither parked (short pieces, whose velocities are
    too poorly known to show motion either way) join only as far apart as the class's
    `stationary_extent` plus `moving_speed` times the gap (at that distance's share of
    it): the extrapolation of such a piece agrees with almost anything, and joined two
    short pieces of neighbouring parked cars six metres apart.

    Each piece's centres were re-centred at its own one size (`sizes`, (3,) each, see
    shape.py); two pieces of one object seen at different sizes may thus disagree by half
    the difference, which is added to the combined covariance. A piece's boundary rests
    mostly on its last (first) view: when that view saw only part of the object (a far,
    sparse or half-hidden car, its box grown to the class's size from the part in sight),
    its centre may sit anywhere along the unseen rest, and consecutive views of one such
    stretch share that offset, so smoothing does not average it away; its spread (the
    unseen length and width, as a uniform offset, along the view's box) is added too,
    between two moving pieces: a parked piece's place rests on all its views, and a
    parked car's partial views fitted across it (a stray "mover" at its place) must not
    take that slack to join it.
    """
    times_s = detections.times_s
    count = len(tracks)
    costs = np.full((count, count), np.inf)
    ends = np.array([track.frames[-1] for track in tracks])
    starts = np.array([track.frames[0] for track in tracks])
    lengths = np.array([int(track.observed.sum()) for track in tracks])
    reach = max(config.stitch_seconds, config.parked_stitch_seconds)
    standing = [parked[index] or _may_stand_still(track) for index, track in enumerate(tracks)]
    # Too large for its class: dropped on its own (consolidation), and its size would stretch
    # the size spread below; such a piece neither extends another nor is extended.
    plausible = [bool((sizes[index] <= np.asarray(config.for_label(labels[index]).maximum_size)).all()) for index in range(count)]
    for earlier in range(count):
        table = config.for_label(labels[earlier])
        if lengths[earlier] < table.minimum_observations or not plausible[earlier]:
            continue
        end_time = times_s[ends[earlier]]
        candidates = (starts > starts[earlier]) & (ends > ends[earlier]) & (starts > ends[earlier] - config.stitch_overlap)
        for later in np.flatnonzero(candidates & (times_s[starts] - end_time <= reach)):
            # Overlapping pieces: the earlier one ends, for this pair, just before the later starts.
            end_index = min(len(tracks[earlier]), starts[later] - starts[earlier]) - 1
            gap = float(times_s[starts[later]] - times_s[tracks[earlier].frames[end_index]])
            if not config.compatible(labels[earlier], labels[later]) or lengths[later] < config.for_label(labels[later]).minimum_observations:
                continue
            if not plausible[later]:
                continue
            mismatch = config.class_mismatch_cost if labels[later] != labels[earlier] else 0.0
            separation = float(np.linalg.norm(tracks[earlier].means[end_index, :2] - tracks[later].means[0, :2]))
            if (parked[earlier] or parked[later]) and standing[earlier] and standing[later] and gap <= config.parked_stitch_seconds:
                if separation <= table.stationary_extent:
                    costs[earlier, later] = separation / table.stationary_extent + mismatch
                continue
            if standing[earlier] and standing[later]:
                # Neither piece shows motion: the object moved no faster than what its class
                # calls moving, whatever their poorly known velocities would let it reach.
                allowance = table.stationary_extent + table.moving_speed * gap
                if gap <= config.stitch_seconds and separation <= allowance:
                    costs[earlier, later] = separation / allowance + mismatch
                continue
            if gap > config.stitch_seconds:
                continue
            # Each piece's extrapolation must reach the other piece's own first (last) state.
            end_mean, end_covariance = _boundary(tracks[earlier], parked[earlier], end_index)
            start_mean, start_covariance = _boundary(tracks[later], parked[later], 0)
            size_spread = np.eye(2) * float(np.sum((0.5 * (sizes[earlier][:2] - sizes[later][:2])) ** 2))
            unseen_spread = np.zeros((2, 2))
            if not (parked[earlier] or parked[later]):
                unseen_spread = _unseen_spread(_last_view(tracks[earlier], end_index), sizes[earlier], detections) + _unseen_spread(
                    int(tracks[later].rows[0]), sizes[later], detections
                )
            distances = []
            for mean, covariance, still, dt, target, target_covariance in (
                (end_mean, end_covariance, parked[earlier], gap, start_mean, start_covariance),
                (start_mean, start_covariance, parked[later], -gap, end_mean, end_covariance),
            ):
                position, position_covariance = _extrapolate(mean, covariance, dt, 0.0 if still else table.acceleration_noise)
                difference = position - target[:2]
                if np.linalg.norm(difference) > table.distance_gate + 0.5 * table.maximum_acceleration * gap**2:
                    break
                combined = position_covariance + target_covariance[:2, :2] + size_spread + unseen_spread
                distances.append(float(np.sqrt(difference @ np.linalg.solve(combined, difference))))
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
    """Group `count` tracks into chains following the (earlier, later) links, in time order.
    (Join a chain's rows with `joined_rows`: pieces may overlap at their junctions.)"""
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


def joined_rows(chain: list[int], pieces: list[np.ndarray], frames: np.ndarray) -> np.ndarray:
    """Detection rows of a chain of pieces (rows each, time order; `frames` (N,) maps a row
    to its frame): each piece keeps only its rows before the next piece's first frame."""
    parts = []
    for position, index in enumerate(chain):
        rows = pieces[index]
        if position + 1 < len(chain):
            rows = rows[frames[rows] < frames[pieces[chain[position + 1]][0]]]
        parts.append(rows)
    return np.concatenate(parts)
