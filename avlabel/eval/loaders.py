"""From Labels to the flat arrays the metrics work on (`BoxTable`), frame by frame.

Frames are matched by timestamp_us: the truth's frames are the evaluation frames, and
every prediction frame must be one of them. Ego distances come from the log's poses
(world_from_ego translations, linearly interpolated at each frame's time).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from avlabel.eval.data_classes import BoxTable
from avlabel.eval.settings import EvaluationConfig
from avlabel.geometry.iou import pairwise_bev_intersection_area
from avlabel.io.errors import InputError
from avlabel.structs import Cuboid, Labels, PoseSeries

logger = logging.getLogger(__name__)


def evaluation_frames(predictions: Labels, truth: Labels) -> np.ndarray:
    """(F,) int64 timestamps of the truth frames; InputError if a prediction frame has none."""
    truth_stamps = truth.timestamps_us
    prediction_stamps = predictions.timestamps_us
    missing = prediction_stamps[~np.isin(prediction_stamps, truth_stamps)]
    if len(missing):
        span = f"{truth_stamps[0]}..{truth_stamps[-1]}" if len(truth_stamps) else "no frames"
        raise InputError(
            f"predictions: frame timestamp_us={int(missing[0])} has no truth frame "
            f"({len(missing)} of {len(prediction_stamps)} prediction frames unmatched; truth frames span {span}); "
            "predictions and truth must come from the same log"
        )
    return truth_stamps


def evaluated_classes(config: EvaluationConfig, truth: Labels, predictions: Labels) -> tuple[str, ...]:
    """The configured classes, or every label seen on either side (sorted), ignore labels aside.
    (`drop_empty_classes` then removes seen labels left without a box in range.)"""
    if config.classes:
        return tuple(config.classes)
    seen = {cuboid.label for labels in (truth, predictions) for frame in labels for cuboid in frame}
    return tuple(sorted(seen - set(config.ignore_labels)))


def ego_positions(poses: PoseSeries | None, timestamps_us: np.ndarray) -> np.ndarray | None:
    """(F, 3) world-frame ego positions at the timestamps, or None without poses.

    Translations are interpolated linearly; times outside the poses take the nearest pose.
    """
    if poses is None or len(poses) == 0:
        return None
    stamps = poses.timestamps_us
    if len(timestamps_us) and (timestamps_us[0] < stamps[0] or timestamps_us[-1] > stamps[-1]):
        logger.warning("some frames lie outside the poses' time span; their ego position is the nearest pose's")
    translations = poses.world_from_ego[:, :3, 3]
    return np.column_stack([np.interp(timestamps_us, stamps, translations[:, axis]) for axis in range(3)])


def box_table(
    labels: Labels,
    frame_timestamps_us: np.ndarray,
    classes: Sequence[str],
    config: EvaluationConfig,
    *,
    ego: np.ndarray | None,
    truth: bool,
) -> BoxTable:
    """Flatten `labels` over the evaluation frames (frames of `labels` not among them are
    skipped; the caller has checked predictions). `ego` (F, 3) world-frame ego positions."""
    class_lookup = {label: index for index, label in enumerate(classes)}
    frame_lookup = {int(stamp): index for index, stamp in enumerate(frame_timestamps_us)}
    cuboids: list[Cuboid] = []
    frames: list[int] = []
    for frame in labels:
        index = frame_lookup.get(frame.timestamp_us)
        if index is None:
            continue
        cuboids.extend(frame.cuboids)
        frames.extend([index] * len(frame.cuboids))
    count = len(cuboids)
    frame_index = np.asarray(frames, dtype=np.int64)
    boxes = np.stack([cuboid.box for cuboid in cuboids]) if count else np.zeros((0, 7))
    label_array = np.array([cuboid.label for cuboid in cuboids], dtype=object)
    ignore = np.array([truth and _is_ignore_region(cuboid, config) for cuboid in cuboids], dtype=bool)
    class_index = np.array([-1 if flag else class_lookup.get(label, -1) for label, flag in zip(label_array, ignore)], dtype=np.int64)
    velocities = np.array(
        [cuboid.velocity if cuboid.velocity is not None else (np.nan, np.nan) for cuboid in cuboids], dtype=np.float64
    ).reshape(count, 2)
    attributes = np.array([_attribute(cuboid, config.attribute_key) for cuboid in cuboids], dtype=object)
    track_ids = tuple(dict.fromkeys(cuboid.track_id for cuboid in cuboids))
    track_lookup = {track_id: index for index, track_id in enumerate(track_ids)}
    if ego is not None and count:
        ego_distance = np.hypot(boxes[:, 0] - ego[frame_index, 0], boxes[:, 1] - ego[frame_index, 1])
        ranges = np.array([config.detection.class_range(label) for label in label_array])
        in_range = ego_distance < ranges
    else:
        ego_distance = np.full(count, np.nan)
        in_range = np.ones(count, dtype=bool)
    if truth and config.min_truth_points:
        in_range &= np.array([cuboid.num_points >= config.min_truth_points for cuboid in cuboids], dtype=bool)
    return BoxTable(
        boxes=boxes,
        frame=frame_index,
        frame_offsets=np.searchsorted(frame_index, np.arange(len(frame_timestamps_us) + 1)).astype(np.int64),
        labels=label_array,
        class_index=class_index,
        scores=np.array([cuboid.score for cuboid in cuboids], dtype=np.float64),
        velocities=velocities,
        attributes=attributes,
        track=np.array([track_lookup[cuboid.track_id] for cuboid in cuboids], dtype=np.int64),
        ego_distance=ego_distance,
        in_range=in_range,
        ignore=ignore,
        cuboid_ids=tuple(cuboid.id for cuboid in cuboids),
        track_ids=track_ids,
    )


def drop_empty_classes(truth: BoxTable, predictions: BoxTable, classes: tuple[str, ...]) -> tuple[BoxTable, BoxTable, tuple[str, ...]]:
    """Remove classes with no evaluated box (in range, not a don't-care region) on either side,
    renumbering class_index. For automatic class lists: a label seen only beyond the range
    has nothing to score (a configured class is kept and scores 0, as nuScenes)."""
    present = np.zeros(len(classes), dtype=bool)
    for table in (truth, predictions):
        rows = (table.class_index >= 0) & table.in_range
        present[np.unique(table.class_index[rows])] = True
    if present.all():
        return truth, predictions, classes
    renumber = np.full(len(classes) + 1, -1, dtype=np.int64)  # the last entry maps -1 to -1
    renumber[np.flatnonzero(present)] = np.arange(int(present.sum()))
    kept = tuple(label for label, keep in zip(classes, present) if keep)
    return (
        _replace(truth, class_index=renumber[truth.class_index]),
        _replace(predictions, class_index=renumber[predictions.class_index]),
        kept,
    )


def mark_ignorable(predictions: BoxTable, truth: BoxTable, overlap: float) -> BoxTable:
    """Predictions with `ignore` set where at least `overlap` of their footprint lies in one
    of their frame's don't-care regions (truth rows with `ignore`)."""
    ignorable = np.zeros(len(predictions), dtype=bool)
    if truth.ignore.any():
        for frame in np.unique(truth.frame[truth.ignore]):
            rows = predictions.frame_rows(frame)
            truth_rows = truth.frame_rows(frame)
            regions = truth.boxes[truth_rows][truth.ignore[truth_rows]]
            boxes = predictions.boxes[rows]
            if len(boxes) == 0:
                continue
            covered = pairwise_bev_intersection_area(boxes, regions) / (boxes[:, 3] * boxes[:, 4])[:, None]
            ignorable[rows] = (covered >= overlap).any(axis=1)
    return _replace(predictions, ignore=ignorable)


def _replace(table: BoxTable, **changes: np.ndarray) -> BoxTable:
    values = {name: getattr(table, name) for name in BoxTable.__dataclass_fields__}
    values.update(changes)
    return BoxTable(**values)


def _is_ignore_region(cuboid: Cuboid, config: EvaluationConfig) -> bool:
    return cuboid.label in config.ignore_labels or cuboid.attributes.get(config.ignore_attribute) is True


def _attribute(cuboid: Cuboid, key: str) -> str:
    value = cuboid.attributes.get(key, "")
    return value if isinstance(value, str) else ""
