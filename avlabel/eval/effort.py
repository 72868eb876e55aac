"""Annotation effort: how much of a set of labels already fits the truth, and how many
edits would turn the rest into the truth.

No-edit share
-------------
Per frame, truth and label boxes are paired one-to-one by largest 3D IoU among the pairs
reaching `iou_threshold` (0.7); a truth cuboid "needs no edit" when it is paired and the
labels agree. The share is over all truth cuboid-frames (don't-care regions aside).

Edits per track (the correction model)
--------------------------------------
Annotators correct whole tracks, as avlabel's review tool does:

* Association: per frame, truth and labels pair by BEV centre distance below
  `association_distance_m` (minimum total distance, any class); each truth track is then
  given the labelled track it was paired with most often (one-to-one, most pair-frames).
* A keyframe edit sets the box of one frame to the truth's centre and heading. The
  correction (truth minus label: centre offset and heading offset) is interpolated
  linearly in time between consecutive keyframes and held constant before the first and
  after the last, and added to the labelled box of every frame. Where the labelled track
  has no box at a truth frame, its box is interpolated between its neighbours (held at its
  ends). So a track that is only shifted needs one keyframe, a track that drifts needs two.
* One size per track. A size edit (one) replaces the track's size (the median of its
  boxes) by the truth's when their aligned-box IoU is below `size_tolerance` or the
  track's size would keep any frame below `iou_threshold`.
* The keyframes are the fewest (dynamic programming over the last keyframe) with which
  every truth frame of the track reaches 3D IoU >= `iou_threshold`; zero if the labels
  already do.
* Plus one class edit when the labelled track's majority label is wrong, one trim edit per
  end of the labelled track overhanging the truth track, one delete per labelled track
  with no truth, and for a truth track with no labelled track: drawing it from keyframes
  alone (at least one keyframe, boxes interpolated between them; no size or class edit).

edits_per_track = all edits (deletes included) / truth tracks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np
from scipy.optimize import linear_sum_assignment

from avlabel.eval import kernels
from avlabel.eval.data_classes import BoxTable, EffortResult, TrackEffort
from avlabel.eval.settings import EffortSettings
from avlabel.eval.tracking_algo import min_cost_assignment
from avlabel.geometry.iou import pairwise_center_distance, pairwise_iou_3d


def annotation_effort(
    truth: BoxTable,
    labels: BoxTable,
    frame_timestamps_us: np.ndarray,
    truth_rows: np.ndarray,
    label_rows: np.ndarray,
    settings: EffortSettings,
) -> EffortResult:
    """Effort to turn `labels` (rows label_rows) into `truth` (rows truth_rows); rows ascending."""
    times_s = (frame_timestamps_us - (frame_timestamps_us[0] if len(frame_timestamps_us) else 0)) / 1e6
    no_edit = _no_edit_count(truth, labels, truth_rows, label_rows, settings.iou_threshold)
    assigned = _associate_tracks(truth, labels, truth_rows, label_rows, settings.association_distance_m)

    tracks = []
    truth_track_rows = _rows_by_track(truth, truth_rows)
    label_track_rows = _rows_by_track(labels, label_rows)
    for truth_track, rows in truth_track_rows.items():
        label_track = assigned.get(truth_track)
        tracks.append(_track_effort(truth, labels, rows, label_track_rows.get(label_track), label_track, times_s, settings))
    deleted = len(set(label_track_rows) - set(assigned.values()))
    total = sum(track.edits for track in tracks) + deleted
    return EffortResult(
        iou_threshold=settings.iou_threshold,
        truth_cuboids=len(truth_rows),
        no_edit_cuboids=no_edit,
        no_edit_share=no_edit / len(truth_rows) if len(truth_rows) else float("nan"),
        truth_tracks=len(truth_track_rows),
        predicted_tracks=len(label_track_rows),
        keyframe_edits=sum(track.keyframes for track in tracks),
        size_edits=sum(track.size_edit for track in tracks),
        class_edits=sum(track.class_edit for track in tracks),
        trim_edits=sum(track.trims for track in tracks),
        deleted_tracks=deleted,
        created_tracks=sum(track.predicted_track_id is None for track in tracks),
        total_edits=total,
        edits_per_track=total / len(tracks) if tracks else float("nan"),
        tracks=tuple(tracks),
    )


def _no_edit_count(truth: BoxTable, labels: BoxTable, truth_rows: np.ndarray, label_rows: np.ndarray, threshold: float) -> int:
    count = 0
    for frame, frame_truth, frame_labels in _frames(truth, labels, truth_rows, label_rows):
        if len(frame_truth) == 0 or len(frame_labels) == 0:
            continue
        overlap = pairwise_iou_3d(truth.boxes[frame_truth], labels.boxes[frame_labels])
        costs = np.where(overlap >= threshold, -overlap, np.nan)
        rows, columns = min_cost_assignment(costs)
        count += int(np.sum(truth.labels[frame_truth[rows]] == labels.labels[frame_labels[columns]]))
    return count


def _associate_tracks(truth: BoxTable, labels: BoxTable, truth_rows: np.ndarray, label_rows: np.ndarray, reach: float) -> dict[int, int]:
    """Truth track index -> label track index, one-to-one by most frames paired."""
    pairs: Counter[tuple[int, int]] = Counter()
    for frame, frame_truth, frame_labels in _frames(truth, labels, truth_rows, label_rows):
        if len(frame_truth) == 0 or len(frame_labels) == 0:
            continue
        distances = pairwise_center_distance(truth.boxes[frame_truth], labels.boxes[frame_labels])
        distances[distances >= reach] = np.nan
        for row, column in zip(*min_cost_assignment(distances)):
            pairs[(int(truth.track[frame_truth[row]]), int(labels.track[frame_labels[column]]))] += 1
    if not pairs:
        return {}
    truth_tracks = sorted({track for track, _ in pairs})
    label_tracks = sorted({track for _, track in pairs})
    counts = np.zeros((len(truth_tracks), len(label_tracks)))
    for (truth_track, label_track), count in pairs.items():
        counts[truth_tracks.index(truth_track), label_tracks.index(label_track)] = count
    rows, columns = linear_sum_assignment(-counts)
    return {truth_tracks[row]: label_tracks[column] for row, column in zip(rows, columns) if counts[row, column] > 0}


def _track_effort(
    truth: BoxTable,
    labels: BoxTable,
    rows: np.ndarray,
    label_rows: np.ndarray | None,
    label_track: int | None,
    times_s: np.ndarray,
    settings: EffortSettings,
) -> TrackEffort:
    truth_boxes = np.ascontiguousarray(truth.boxes[rows])
    truth_times = np.ascontiguousarray(times_s[truth.frame[rows]])
    label = Counter(truth.labels[rows]).most_common(1)[0][0]
    track_id = truth.track_ids[truth.track[rows[0]]]
    if label_rows is None or label_track is None:
        base = np.ascontiguousarray(np.repeat(truth_boxes[:1], len(rows), axis=0))
        keyframes = kernels._minimum_keyframes(truth_boxes, base, truth_times, np.ascontiguousarray(truth_boxes[:, 3:6]), settings.iou_threshold, False)
        return TrackEffort(track_id, label, len(rows), None, int(keyframes), False, False, 0, int(keyframes))
    label_boxes = labels.boxes[label_rows]
    label_times = times_s[labels.frame[label_rows]]
    base = _boxes_at(label_boxes, label_times, truth_times)
    track_size = np.median(label_boxes[:, 3:6], axis=0)
    size_edit = bool(
        _aligned_iou(track_size[None, :], np.median(truth_boxes[:, 3:6], axis=0)[None, :])[0] < settings.size_tolerance
        or (_aligned_iou(track_size[None, :], truth_boxes[:, 3:6]) < settings.iou_threshold).any()
    )
    sizes = truth_boxes[:, 3:6] if size_edit else np.repeat(track_size[None, :], len(rows), axis=0)
    keyframes = int(kernels._minimum_keyframes(truth_boxes, base, truth_times, np.ascontiguousarray(sizes), settings.iou_threshold, True))
    class_edit = Counter(labels.labels[label_rows]).most_common(1)[0][0] != label
    trims = int(label_times[0] < truth_times[0]) + int(label_times[-1] > truth_times[-1])
    return TrackEffort(
        truth_track_id=track_id,
        label=label,
        frames=len(rows),
        predicted_track_id=labels.track_ids[label_track],
        keyframes=keyframes,
        size_edit=size_edit,
        class_edit=bool(class_edit),
        trims=trims,
        edits=keyframes + int(size_edit) + int(class_edit) + trims,
    )


def _boxes_at(boxes: np.ndarray, times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(T, 7) boxes of a track at target times: linear in centre, shortest arc in heading,
    held at the track's ends. boxes (K, 7) at increasing times (K,)."""
    result = np.empty((len(targets), 7))
    for axis in range(6):
        result[:, axis] = np.interp(targets, times, boxes[:, axis])
    after = np.clip(np.searchsorted(times, targets), 1, max(len(times) - 1, 1))
    if len(times) == 1:
        result[:, 6] = boxes[0, 6]
        return np.ascontiguousarray(result)
    before = after - 1
    weight = np.clip((targets - times[before]) / (times[after] - times[before]), 0.0, 1.0)
    turn = np.arctan2(np.sin(boxes[after, 6] - boxes[before, 6]), np.cos(boxes[after, 6] - boxes[before, 6]))
    result[:, 6] = boxes[before, 6] + weight * turn
    return np.ascontiguousarray(result)


def _aligned_iou(first_sizes: np.ndarray, second_sizes: np.ndarray) -> np.ndarray:
    """IoU of boxes with the given sizes (N, 3) and (N, 3) or (1, 3), centres and headings aligned."""
    intersection = np.prod(np.minimum(first_sizes, second_sizes), axis=1)
    return intersection / (np.prod(first_sizes, axis=1) + np.prod(second_sizes, axis=1) - intersection)


def _rows_by_track(table: BoxTable, rows: np.ndarray) -> dict[int, np.ndarray]:
    """Track index -> its rows (in time order), tracks in order of first appearance."""
    grouped: dict[int, list[int]] = {}
    for row in rows:
        grouped.setdefault(int(table.track[row]), []).append(int(row))
    return {track: np.array(track_rows, dtype=np.int64) for track, track_rows in grouped.items()}


def _frames(truth: BoxTable, labels: BoxTable, truth_rows: np.ndarray, label_rows: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield (frame, truth rows, label rows) per evaluation frame."""
    frame_count = len(truth.frame_offsets) - 1
    truth_offsets = np.searchsorted(truth.frame[truth_rows], np.arange(frame_count + 1))
    label_offsets = np.searchsorted(labels.frame[label_rows], np.arange(frame_count + 1))
    for frame in range(frame_count):
        yield frame, truth_rows[truth_offsets[frame] : truth_offsets[frame + 1]], label_rows[label_offsets[frame] : label_offsets[frame + 1]]
