"""Detection metrics as pure functions over `BoxTable` rows.

nuScenes (centre distance)
--------------------------
`accumulate` reproduces nuscenes-devkit's `detection.algo.accumulate`: predictions of a
class in order of decreasing score (on equal scores the later one first), each matched to
the nearest untaken truth of its class in its frame when the BEV centre distance is below
the threshold; precision and score interpolated at recall 0, 0.01, ..., 1 (precision 0
beyond the highest recall); each TP error's running mean interpolated by score.
`calc_ap` and `calc_tp` reproduce the devkit's: AP averages (precision - min_precision)+
over the recalls above min_recall, normalised by 1 - min_precision; a TP error averages
over the recalls from min_recall to the highest reached (1.0 if that is below min_recall).
`summarize` gives mAP, the class-mean TP errors and NDS.

Undefined TP errors: where a class's truth carries no attribute at all (or no velocity),
its attr_err (vel_err) is NaN and drops out of the class average, as the devkit does for
classes without attributes; an error undefined for every class is left out of NDS. With
truth that has them, as nuScenes' has, every number equals the devkit's.

One addition, don't-care regions: a prediction that matches no truth and lies in a
don't-care region (BoxTable.ignore) is dropped from the sequence: neither TP nor FP.

KITTI (IoU, R40)
----------------
`kitti_average_precision` follows KITTI's object benchmark: score thresholds placed so
that recall steps by 1/40, at each threshold each truth takes the free prediction of
largest overlap above the class's IoU threshold (strictly greater, as KITTI), precision
made monotone from the right, AP = mean precision over the 40 positions 1/40 ... 1.
There are no difficulty levels; don't-care regions act like KITTI's DontCare (unassigned
predictions in them are not false positives). KITTI's quirk is kept: thresholds sit at
matched scores, at most one per match, so with fewer than 40 matches AP cannot reach 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avlabel.eval import kernels
from avlabel.eval.data_classes import BoxTable, ClassDetection, ConfusionMatrix, DetectionCurve
from avlabel.eval.settings import TP_ERROR_NAMES, DetectionSettings
from avlabel.geometry.iou import pairwise_bev_iou, pairwise_iou_3d

RECALL_POINTS = 101  # nuScenes: recall 0, 0.01, ..., 1


@dataclass(frozen=True, slots=True, eq=False)
class Matching:
    """Outcome of matching one class at one threshold, in processing order (best score first),
    don't-care predictions left out. Rows index the BoxTables."""

    prediction_rows: np.ndarray  # (K,)
    truth_rows: np.ndarray  # (K,) matched truth row, -1 for a false positive
    distances: np.ndarray  # (K,) BEV centre distance of the match, NaN for a false positive
    unmatched_truth_rows: np.ndarray  # truth rows no prediction took


def match_by_center_distance(
    truth: BoxTable, predictions: BoxTable, truth_rows: np.ndarray, prediction_rows: np.ndarray, threshold: float
) -> Matching:
    """nuScenes matching of the given truth rows and prediction rows (each ascending)."""
    truth_frames = truth.frame[truth_rows]
    truth_offsets = np.searchsorted(truth_frames, np.arange(len(truth.frame_offsets))).astype(np.int64)
    scores = predictions.scores[prediction_rows]
    # Decreasing score, and on equal scores the later prediction first (the devkit's order).
    order = np.lexsort((np.arange(len(prediction_rows)), scores))[::-1].astype(np.int64)
    matched, distances = kernels._greedy_center_match(
        np.ascontiguousarray(predictions.boxes[prediction_rows, :2]),
        predictions.frame[prediction_rows],
        order,
        np.ascontiguousarray(truth.boxes[truth_rows, :2]),
        truth_offsets,
        float(threshold),
    )
    ordered_rows = prediction_rows[order]
    keep = (matched >= 0) | ~predictions.ignore[ordered_rows]
    taken = np.zeros(len(truth_rows), dtype=bool)
    taken[matched[matched >= 0]] = True
    matched_rows = np.full(len(matched), -1, dtype=np.int64)
    matched_rows[matched >= 0] = truth_rows[matched[matched >= 0]]
    return Matching(
        prediction_rows=ordered_rows[keep],
        truth_rows=matched_rows[keep],
        distances=distances[keep],
        unmatched_truth_rows=truth_rows[~taken],
    )


def true_positive_errors(
    truth: BoxTable, predictions: BoxTable, truth_rows: np.ndarray, prediction_rows: np.ndarray, orientation_period: float
) -> dict[str, np.ndarray]:
    """(K,) errors of matched pairs, as nuScenes defines them: scale 1 - IoU of the aligned
    sizes; orientation the smallest heading difference modulo the period (radians); velocity
    the L2 difference (NaN where either is unknown); attribute 1 - accuracy (NaN where the
    truth has none). trans_err is added by the caller (the match distance)."""
    truth_sizes = truth.boxes[truth_rows, 3:6]
    prediction_sizes = predictions.boxes[prediction_rows, 3:6]
    intersection = np.prod(np.minimum(truth_sizes, prediction_sizes), axis=1)
    union = np.prod(truth_sizes, axis=1) + np.prod(prediction_sizes, axis=1) - intersection
    difference = np.mod(truth.boxes[truth_rows, 6] - predictions.boxes[prediction_rows, 6] + orientation_period / 2, orientation_period) - orientation_period / 2
    difference = np.where(difference > np.pi, difference - 2 * np.pi, difference)
    velocity_delta = predictions.velocities[prediction_rows] - truth.velocities[truth_rows]
    truth_attributes = truth.attributes[truth_rows]
    attribute_error = np.array(
        [np.nan if expected == "" else 1.0 - float(expected == got) for expected, got in zip(truth_attributes, predictions.attributes[prediction_rows])],
        dtype=np.float64,
    )
    return {
        "scale_err": 1.0 - intersection / union,
        "orient_err": np.abs(difference),
        "vel_err": np.sqrt(velocity_delta[:, 0] ** 2 + velocity_delta[:, 1] ** 2),
        "attr_err": attribute_error,
    }


def accumulate(
    truth: BoxTable,
    predictions: BoxTable,
    matching: Matching,
    num_truth: int,
    orientation_period: float,
) -> DetectionCurve:
    """The nuScenes metric data (precision and TP errors at 101 recall points) of a matching."""
    if num_truth == 0 or not (matching.truth_rows >= 0).any():
        return no_predictions_curve()
    is_match = matching.truth_rows >= 0
    true_positives = np.cumsum(is_match.astype(np.int64)).astype(float)
    false_positives = np.cumsum((~is_match).astype(np.int64)).astype(float)
    confidence = predictions.scores[matching.prediction_rows]
    precision = true_positives / (false_positives + true_positives)
    recall = true_positives / float(num_truth)
    recall_points = np.linspace(0, 1, RECALL_POINTS)
    precision = np.interp(recall_points, recall, precision, right=0)
    interpolated_confidence = np.interp(recall_points, recall, confidence, right=0)

    matched_truth = matching.truth_rows[is_match]
    matched_predictions = matching.prediction_rows[is_match]
    match_confidence = confidence[is_match]
    errors = {"trans_err": matching.distances[is_match]}
    errors.update(true_positive_errors(truth, predictions, matched_truth, matched_predictions, orientation_period))
    resampled = {
        name: np.interp(interpolated_confidence[::-1], match_confidence[::-1], _cummean(values)[::-1])[::-1]
        for name, values in errors.items()
    }
    return DetectionCurve(recall=recall_points, precision=precision, confidence=interpolated_confidence, **resampled)


def no_predictions_curve() -> DetectionCurve:
    """The devkit's metric data for a class without truth or without any match."""
    ones = np.ones(RECALL_POINTS)
    return DetectionCurve(
        recall=np.linspace(0, 1, RECALL_POINTS), precision=np.zeros(RECALL_POINTS), confidence=np.zeros(RECALL_POINTS),
        trans_err=ones, vel_err=ones, scale_err=ones, orient_err=ones, attr_err=ones,
    )


def calc_ap(curve: DetectionCurve, min_recall: float, min_precision: float) -> float:
    """Area under the precision curve above min_recall, precision below min_precision clipped."""
    precision = np.copy(curve.precision)[round(100 * min_recall) + 1 :]
    precision -= min_precision
    precision[precision < 0] = 0
    return float(np.mean(precision)) / (1.0 - min_precision)


def calc_tp(curve: DetectionCurve, min_recall: float, metric_name: str) -> float:
    """Mean of a TP error over the recalls from min_recall (excluded) to the highest reached."""
    first = round(100 * min_recall) + 1
    last = curve.max_recall_index
    if last < first:
        return 1.0
    return float(np.mean(getattr(curve, metric_name)[first : last + 1]))


def summarize(classes: dict[str, ClassDetection], settings: DetectionSettings) -> tuple[float, dict[str, float], dict[str, float], float]:
    """mAP, class-mean TP errors, TP scores and NDS, as nuScenes' DetectionMetrics.

    A TP error undefined for every class that has truth (NaN: truth without attributes, say)
    is undefined overall, has no score (NaN) and is left out of NDS, which then averages
    w mAP with the defined scores.
    """
    if not classes:
        nan_errors = {name: float("nan") for name in TP_ERROR_NAMES}
        return float("nan"), nan_errors, dict(nan_errors), float("nan")
    mean_ap = float(np.mean([result.mean_ap for result in classes.values()]))
    tp_errors = {}
    for name in TP_ERROR_NAMES:
        values = [result.tp_errors[name] for result in classes.values()]
        # Classes without truth score 1 (the devkit's rule), unless no class with truth defines the error.
        defined_by_truth = [result.tp_errors[name] for result in classes.values() if result.num_truth > 0]
        undefined = np.isnan(values).all() or (len(defined_by_truth) > 0 and np.isnan(defined_by_truth).all())
        tp_errors[name] = float("nan") if undefined else float(np.nanmean(values))
    tp_scores = {name: float("nan") if np.isnan(tp_errors[name]) else max(0.0, 1.0 - tp_errors[name]) for name in TP_ERROR_NAMES}
    defined = [score for score in tp_scores.values() if not np.isnan(score)]
    total = float(settings.mean_ap_weight * mean_ap + np.sum(defined))
    nd_score = total / float(settings.mean_ap_weight + len(defined))
    return mean_ap, tp_errors, tp_scores, nd_score


class FrameOverlaps:
    """Per frame, the IoU (3D and BEV) of every prediction with every truth cuboid, computed
    once and sliced per class and distance band."""

    def __init__(self, truth: BoxTable, predictions: BoxTable) -> None:
        self._truth, self._predictions = truth, predictions
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    def frame(self, kind: str, frame: int) -> np.ndarray:
        key = (kind, frame)
        if key not in self._cache:
            truth_boxes = self._truth.boxes[self._truth.frame_rows(frame)]
            prediction_boxes = self._predictions.boxes[self._predictions.frame_rows(frame)]
            measure = pairwise_iou_3d if kind == "3d" else pairwise_bev_iou
            self._cache[key] = measure(prediction_boxes, truth_boxes)
        return self._cache[key]


def kitti_average_precision(
    truth: BoxTable,
    predictions: BoxTable,
    truth_rows: np.ndarray,
    prediction_rows: np.ndarray,
    overlaps: FrameOverlaps,
    kind: str,
    min_overlap: float,
    recall_positions: int,
) -> float:
    """KITTI R40 AP (a fraction) of the given rows (each ascending) with IoU kind "3d" or "bev"."""
    num_truth = len(truth_rows)
    if num_truth == 0:
        return 0.0
    frame_count = len(truth.frame_offsets) - 1
    prediction_offsets = np.searchsorted(predictions.frame[prediction_rows], np.arange(frame_count + 1)).astype(np.int64)
    truth_offsets = np.searchsorted(truth.frame[truth_rows], np.arange(frame_count + 1)).astype(np.int64)
    blocks = []
    for frame in np.flatnonzero((np.diff(prediction_offsets) > 0) & (np.diff(truth_offsets) > 0)):
        local_predictions = prediction_rows[prediction_offsets[frame] : prediction_offsets[frame + 1]] - predictions.frame_offsets[frame]
        local_truth = truth_rows[truth_offsets[frame] : truth_offsets[frame + 1]] - truth.frame_offsets[frame]
        blocks.append((frame, overlaps.frame(kind, frame)[np.ix_(local_predictions, local_truth)].ravel()))
    sizes = np.zeros(frame_count, dtype=np.int64)
    for frame, block in blocks:
        sizes[frame] = len(block)
    overlap_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    flat = np.concatenate([block for _, block in blocks]) if blocks else np.zeros(0)
    scores = np.ascontiguousarray(predictions.scores[prediction_rows])
    ignorable = np.ascontiguousarray(predictions.ignore[prediction_rows])

    def statistics(threshold: float, compute_false_positives: bool) -> tuple[int, int, int, np.ndarray]:
        return kernels._kitti_statistics(
            flat, overlap_offsets, prediction_offsets, truth_offsets, scores, ignorable,
            float(min_overlap), float(threshold), compute_false_positives,
        )

    sample_points = recall_positions + 1
    thresholds = kitti_thresholds(statistics(0.0, False)[3], num_truth, sample_points)
    precision = np.zeros(sample_points)
    for index, threshold in enumerate(thresholds):
        true_positives, false_positives, _, _ = statistics(threshold, True)
        total = true_positives + false_positives
        precision[index] = true_positives / total if total else 0.0
    for index in range(len(thresholds)):
        precision[index] = np.max(precision[index:])
    return float(np.sum(precision[1:]) / recall_positions)


def kitti_thresholds(matched_scores: np.ndarray, num_truth: int, sample_points: int) -> list[float]:
    """Scores at which recall passes each of the sample points 0, 1/(n-1), ..., 1 (KITTI)."""
    scores = np.sort(matched_scores)[::-1]
    current_recall = 0.0
    thresholds = []
    for index, score in enumerate(scores):
        left_recall = (index + 1) / num_truth
        right_recall = (index + 2) / num_truth if index < len(scores) - 1 else left_recall
        if (right_recall - current_recall) < (current_recall - left_recall) and index < len(scores) - 1:
            continue
        thresholds.append(float(score))
        current_recall += 1 / (sample_points - 1.0)
    return thresholds


def class_detection(
    truth: BoxTable,
    predictions: BoxTable,
    truth_rows: np.ndarray,
    prediction_rows: np.ndarray,
    label: str,
    settings: DetectionSettings,
    overlaps: FrameOverlaps,
) -> tuple[ClassDetection, Matching]:
    """Every detection metric of one class over the given rows; the matching at the TP threshold."""
    period = settings.orientation_period(label)
    curves: dict[float, DetectionCurve] = {}
    ap: dict[float, float] = {}
    matchings: dict[float, Matching] = {}
    for threshold in settings.distance_thresholds_m:
        matchings[threshold] = match_by_center_distance(truth, predictions, truth_rows, prediction_rows, threshold)
        curves[threshold] = accumulate(truth, predictions, matchings[threshold], len(truth_rows), period)
        ap[threshold] = calc_ap(curves[threshold], settings.min_recall, settings.min_precision)
    skipped = set(settings.skipped_tp_errors.get(label, ()))
    if len(truth_rows):
        # Truth that never carries an attribute (or a velocity) leaves that error undefined.
        if (truth.attributes[truth_rows] == "").all():
            skipped.add("attr_err")
        if not np.isfinite(truth.velocities[truth_rows]).all(axis=1).any():
            skipped.add("vel_err")
    tp_curve = curves[settings.tp_distance_threshold_m]
    tp_errors = {
        name: float("nan") if name in skipped else calc_tp(tp_curve, settings.min_recall, name) for name in TP_ERROR_NAMES
    }
    result = ClassDetection(
        label=label,
        num_truth=len(truth_rows),
        num_predictions=len(prediction_rows),
        ap=ap,
        mean_ap=float(np.mean(list(ap.values()))),
        tp_errors=tp_errors,
        ap_3d=kitti_average_precision(
            truth, predictions, truth_rows, prediction_rows, overlaps, "3d", settings.iou_threshold(label, "3d"), settings.recall_positions
        ),
        ap_bev=kitti_average_precision(
            truth, predictions, truth_rows, prediction_rows, overlaps, "bev", settings.iou_threshold(label, "bev"), settings.recall_positions
        ),
        curves=curves,
    )
    return result, matchings[settings.tp_distance_threshold_m]


def confusion_matrix(
    truth: BoxTable, predictions: BoxTable, truth_rows: np.ndarray, prediction_rows: np.ndarray, classes: tuple[str, ...], threshold: float
) -> ConfusionMatrix:
    """Pair truth and predictions of any class by nuScenes matching and count labels."""
    matching = match_by_center_distance(truth, predictions, truth_rows, prediction_rows, threshold)
    labels = (*classes, "none")
    none = len(classes)
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for prediction, matched in zip(matching.prediction_rows, matching.truth_rows):
        row = truth.class_index[matched] if matched >= 0 else none
        counts[row, predictions.class_index[prediction]] += 1
    for row in matching.unmatched_truth_rows:
        counts[truth.class_index[row], none] += 1
    return ConfusionMatrix(labels=labels, counts=counts)


def _cummean(values: np.ndarray) -> np.ndarray:
    """Running mean that skips NaN; all NaN gives ones (the devkit's cummean)."""
    if np.isnan(values).sum() == len(values):
        return np.ones(len(values))
    sums = np.nancumsum(values.astype(float))
    counts = np.cumsum(~np.isnan(values))
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts != 0)
