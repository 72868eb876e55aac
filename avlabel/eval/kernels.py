"""Numba kernels of the eval stage. Private: arrays and scalars in, arrays and scalars out.

The functions in `algo.py` and `effort.py` check, order and convert their inputs; nothing
here validates anything. Rows of one frame are contiguous; `*_offsets` (F + 1,) give each
frame's rows.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from avlabel.geometry.kernels.rotated_boxes import _height_overlap, _intersection_area, _MAX_VERTICES

_JIT = {"cache": True, "nogil": True}


@njit(**_JIT)
def _greedy_center_match(
    prediction_xy: np.ndarray,
    prediction_frame: np.ndarray,
    order: np.ndarray,
    truth_xy: np.ndarray,
    truth_offsets: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """nuScenes matching. Predictions are taken in `order` (best score first); each takes the
    nearest untaken truth of its frame (first one on a tie) if nearer than `threshold`.

    Returns, per position in `order`: the matched truth row or -1, and the distance (NaN if none).
    """
    taken = np.zeros(truth_xy.shape[0], dtype=np.bool_)
    matched = np.full(order.shape[0], -1, dtype=np.int64)
    distances = np.full(order.shape[0], np.nan)
    for position in range(order.shape[0]):
        prediction = order[position]
        frame = prediction_frame[prediction]
        best = -1
        best_distance = np.inf
        for truth in range(truth_offsets[frame], truth_offsets[frame + 1]):
            if taken[truth]:
                continue
            delta_x = prediction_xy[prediction, 0] - truth_xy[truth, 0]
            delta_y = prediction_xy[prediction, 1] - truth_xy[truth, 1]
            distance = math.sqrt(delta_x * delta_x + delta_y * delta_y)
            if distance < best_distance:
                best_distance = distance
                best = truth
        if best >= 0 and best_distance < threshold:
            taken[best] = True
            matched[position] = best
            distances[position] = best_distance
    return matched, distances


_NO_DETECTION = -10000000.0


@njit(**_JIT)
def _kitti_statistics(
    overlaps: np.ndarray,
    overlap_offsets: np.ndarray,
    prediction_offsets: np.ndarray,
    truth_offsets: np.ndarray,
    scores: np.ndarray,
    ignorable: np.ndarray,
    min_overlap: float,
    score_threshold: float,
    compute_false_positives: bool,
) -> tuple[int, int, int, np.ndarray]:
    """KITTI's per-threshold statistics summed over frames.

    Frame f has predictions prediction_offsets[f]:[f+1] and truth truth_offsets[f]:[f+1];
    its overlaps (P_f, G_f) are stored row-major at overlap_offsets[f]. Every truth is a
    valid object of the class (no difficulty levels); `ignorable` predictions lie in a
    don't-care region and, left unassigned, are not false positives.

    compute_false_positives=False: each truth takes the highest-scored free prediction with
    overlap > min_overlap; returns the matched scores (to place the score thresholds).
    True: predictions below score_threshold are dropped, each truth takes the free
    prediction of largest overlap, and tp, fp, fn are counted.
    """
    true_positives = 0
    false_positives = 0
    false_negatives = 0
    matched_scores = np.empty(truth_offsets[-1])
    matched_count = 0
    for frame in range(prediction_offsets.shape[0] - 1):
        first_prediction = prediction_offsets[frame]
        prediction_count = prediction_offsets[frame + 1] - first_prediction
        first_truth = truth_offsets[frame]
        truth_count = truth_offsets[frame + 1] - first_truth
        base = overlap_offsets[frame]
        assigned = np.zeros(prediction_count, dtype=np.bool_)
        below = np.zeros(prediction_count, dtype=np.bool_)
        if compute_false_positives:
            for prediction in range(prediction_count):
                below[prediction] = scores[first_prediction + prediction] < score_threshold
        for truth in range(truth_count):
            chosen = -1
            valid_detection = _NO_DETECTION
            max_overlap = 0.0
            for prediction in range(prediction_count):
                if assigned[prediction] or below[prediction]:
                    continue
                overlap = overlaps[base + prediction * truth_count + truth]
                score = scores[first_prediction + prediction]
                if not compute_false_positives:
                    if overlap > min_overlap and score > valid_detection:
                        chosen = prediction
                        valid_detection = score
                elif overlap > min_overlap and overlap > max_overlap:
                    max_overlap = overlap
                    chosen = prediction
                    valid_detection = 1.0
            if valid_detection == _NO_DETECTION:
                false_negatives += 1
            else:
                true_positives += 1
                matched_scores[matched_count] = scores[first_prediction + chosen]
                matched_count += 1
                assigned[chosen] = True
        if compute_false_positives:
            for prediction in range(prediction_count):
                if not (assigned[prediction] or below[prediction] or ignorable[first_prediction + prediction]):
                    false_positives += 1
    return true_positives, false_positives, false_negatives, matched_scores[:matched_count]


@njit(**_JIT)
def _edited_box(
    base: np.ndarray,
    offsets: np.ndarray,
    times: np.ndarray,
    sizes: np.ndarray,
    frame: int,
    left: int,
    right: int,
    out: np.ndarray,
) -> None:
    """The box an annotator gets at `frame` with keyframes `left` <= frame <= `right` (-1: none
    on that side): the base box plus the correction offset interpolated in time between the
    keyframes (held constant beyond the outermost keyframe), with the track's size."""
    if left < 0 and right < 0:
        weight_left, weight_right, left, right = 0.0, 0.0, 0, 0
    elif left < 0:
        weight_left, weight_right, left = 0.0, 1.0, right
    elif right < 0 or right == left:
        weight_left, weight_right, right = 1.0, 0.0, left
    else:
        weight_right = (times[frame] - times[left]) / (times[right] - times[left])
        weight_left = 1.0 - weight_right
    out[0] = base[frame, 0] + weight_left * offsets[left, 0] + weight_right * offsets[right, 0]
    out[1] = base[frame, 1] + weight_left * offsets[left, 1] + weight_right * offsets[right, 1]
    out[2] = base[frame, 2] + weight_left * offsets[left, 2] + weight_right * offsets[right, 2]
    out[3] = sizes[frame, 0]
    out[4] = sizes[frame, 1]
    out[5] = sizes[frame, 2]
    out[6] = base[frame, 6] + weight_left * offsets[left, 3] + weight_right * offsets[right, 3]


@njit(**_JIT)
def _fits(edited: np.ndarray, truth: np.ndarray, threshold: float, scratch: np.ndarray) -> bool:
    intersection = _intersection_area(edited, truth, scratch)
    volume = intersection * _height_overlap(edited, truth)
    union = edited[3] * edited[4] * edited[5] + truth[3] * truth[4] * truth[5] - volume
    return volume >= threshold * union


@njit(**_JIT)
def _minimum_keyframes(
    truth: np.ndarray,
    base: np.ndarray,
    times: np.ndarray,
    sizes: np.ndarray,
    threshold: float,
    allow_none: bool,
) -> int:
    """Fewest keyframes so that every frame's edited box reaches 3D IoU >= threshold with truth.

    truth, base (T, 7); times (T,) seconds; sizes (T, 3), the size the edited track uses.
    A keyframe sets the box to the truth's centre and heading; see `_edited_box`. Dynamic
    programming over the last keyframe: cost[j] = fewest keyframes covering frames 0..j with
    a keyframe at j. allow_none: zero keyframes count (the base itself may already fit).
    """
    count = truth.shape[0]
    scratch = np.empty((8 + 2 * _MAX_VERTICES, 2))
    edited = np.empty(7)
    offsets = np.empty((count, 4))
    for frame in range(count):
        offsets[frame, 0] = truth[frame, 0] - base[frame, 0]
        offsets[frame, 1] = truth[frame, 1] - base[frame, 1]
        offsets[frame, 2] = truth[frame, 2] - base[frame, 2]
        offsets[frame, 3] = math.atan2(math.sin(truth[frame, 6] - base[frame, 6]), math.cos(truth[frame, 6] - base[frame, 6]))
    if allow_none:
        every = True
        for frame in range(count):
            _edited_box(base, offsets, times, sizes, frame, -1, -1, edited)
            if not _fits(edited, truth[frame], threshold, scratch):
                every = False
                break
        if every:
            return 0
    unreachable = count + 1
    cost = np.full(count, unreachable, dtype=np.int64)
    for last in range(count):
        # The frames before the first keyframe take its offset.
        prefix = True
        for frame in range(last):
            _edited_box(base, offsets, times, sizes, frame, -1, last, edited)
            if not _fits(edited, truth[frame], threshold, scratch):
                prefix = False
                break
        if prefix:
            cost[last] = 1
            continue
        for previous in range(last - 1, -1, -1):
            if cost[previous] + 1 >= cost[last]:
                continue
            between = True
            for frame in range(previous + 1, last):
                _edited_box(base, offsets, times, sizes, frame, previous, last, edited)
                if not _fits(edited, truth[frame], threshold, scratch):
                    between = False
                    break
            if between:
                cost[last] = cost[previous] + 1
    best = unreachable
    for last in range(count):
        if cost[last] >= best:
            continue
        suffix = True
        for frame in range(last + 1, count):
            _edited_box(base, offsets, times, sizes, frame, last, -1, edited)
            if not _fits(edited, truth[frame], threshold, scratch):
                suffix = False
                break
        if suffix:
            best = cost[last]
    return best
