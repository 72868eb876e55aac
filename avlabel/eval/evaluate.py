"""Evaluate labels against ground truth: detection, tracking and annotation effort.

    result = evaluate(predictions, truth, world_from_ego=log.poses())
    result.headline()       # {"mAP": ..., "NDS": ..., "AP": {...}, "MOTA": ..., ...}
    result.to_dict()        # everything, JSON types

Frames are matched by timestamp_us; the truth's frames are the evaluation frames (a truth
frame without predictions counts its objects as missed). Truth cuboids with an ignore
label or attribute are don't-care regions (see `EvaluationConfig`). Which metric means
what is documented in `algo` (detection), `tracking_algo` (tracking) and `effort`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from avlabel.eval import algo, loaders, tracking_algo
from avlabel.eval.data_classes import (
    BandDetection,
    BoxTable,
    ClassDetection,
    ClassTracking,
    DetectionResult,
    Diagnostics,
    EvaluationResult,
    TrackingResult,
    TrackTimeline,
    WorstCase,
)
from avlabel.eval.effort import annotation_effort
from avlabel.eval.settings import EvaluationConfig, TrackingSettings
from avlabel.geometry.iou import pairwise_bev_iou, pairwise_center_distance, pairwise_iou_3d
from avlabel.io.atomic import write_text
from avlabel.io.errors import InputError
from avlabel.io.labels_file import read_labels
from avlabel.structs import Labels, PoseSeries

logger = logging.getLogger(__name__)

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def evaluate(
    predictions: Labels,
    truth: Labels,
    config: EvaluationConfig | None = None,
    *,
    world_from_ego: PoseSeries | None = None,
) -> EvaluationResult:
    """Score `predictions` against `truth` (both world frame).

    world_from_ego: the log's ego poses; with them, boxes beyond their class's range from
    the ego are left out and results are broken down by distance band. Raises InputError
    (a ValueError) when a prediction frame has no truth frame.
    """
    config = config or EvaluationConfig()
    if not isinstance(config, EvaluationConfig):
        raise ValueError(f"config: expected an EvaluationConfig (avlabel.config.load_config().evaluation), got {type(config).__name__}")
    if not isinstance(predictions, Labels) or not isinstance(truth, Labels):
        raise ValueError(
            f"evaluate: expected predictions and truth as avlabel Labels, got {type(predictions).__name__} and "
            f"{type(truth).__name__} (read files with avlabel.io.read_labels or use evaluate_paths)"
        )
    if world_from_ego is not None and not isinstance(world_from_ego, PoseSeries):
        raise ValueError(f"world_from_ego: expected a PoseSeries (DriveLog.poses()), got {type(world_from_ego).__name__}")

    # Step 1: frames, classes and the flat tables.
    frames = loaders.evaluation_frames(predictions, truth)
    classes = loaders.evaluated_classes(config, truth, predictions)
    ego = loaders.ego_positions(world_from_ego, frames)
    truth_table = loaders.box_table(truth, frames, classes, config, ego=ego, truth=True)
    prediction_table = loaders.box_table(predictions, frames, classes, config, ego=ego, truth=False)
    prediction_table = loaders.mark_ignorable(prediction_table, truth_table, config.ignore_overlap)
    # Annotation effort covers every truth cuboid of a seen class, whatever its range.
    effort_tables = (truth_table, prediction_table)
    if not config.classes:
        truth_table, prediction_table, classes = loaders.drop_empty_classes(truth_table, prediction_table, classes)
    logger.info(
        "evaluating %d prediction cuboids against %d truth cuboids over %d frames, classes %s",
        len(prediction_table), int((~truth_table.ignore).sum()), len(frames), ", ".join(classes) or "(none)",
    )

    # Step 2: detection.
    detection, matchings = _detection(truth_table, prediction_table, classes, config, has_poses=ego is not None)

    # Step 3: tracking.
    tracking, timelines = _tracking(truth_table, prediction_table, classes, frames, config.tracking)

    # Step 4: annotation effort.
    effort_truth, effort_predictions = effort_tables
    effort = annotation_effort(
        effort_truth,
        effort_predictions,
        frames,
        np.flatnonzero(effort_truth.class_index >= 0),
        np.flatnonzero((effort_predictions.class_index >= 0) & ~effort_predictions.ignore),
        config.effort,
    )

    return EvaluationResult(
        classes=classes,
        frames=len(frames),
        truth_cuboids=int((~truth_table.ignore).sum()),
        prediction_cuboids=len(prediction_table),
        ignore_regions=int(truth_table.ignore.sum()),
        poses_used=ego is not None,
        detection=detection,
        tracking=tracking,
        effort=effort,
        worst_cases=_worst_cases(truth_table, prediction_table, matchings, frames, config.worst_cases),
        config=config.model_dump(mode="json"),
        diagnostics=_diagnostics(truth_table, prediction_table, matchings, config, timelines, frames),
    )


def evaluate_paths(
    pred_path: str | os.PathLike[str],
    gt_path: str | os.PathLike[str],
    *,
    config: EvaluationConfig | None = None,
    json_path: str | os.PathLike[str] | None = None,
    report_dir: str | os.PathLike[str] | None = None,
) -> EvaluationResult:
    """Evaluate a labels file against a drive log (its truth and poses) or a labels file.

    Writes the result as JSON to json_path (atomically) and an HTML report into report_dir
    when given. Bad input raises InputError with one line naming the file.
    """
    pred_path, gt_path = Path(pred_path), Path(gt_path)
    predictions = read_labels(pred_path)
    truth, poses = _read_truth(gt_path)
    try:
        result = evaluate(predictions, truth, config, world_from_ego=poses)
    except InputError as error:
        raise InputError(f"{pred_path}: {error} (truth: {gt_path})") from None
    if json_path is not None:
        write_text(json_path, json.dumps(result.to_dict(), indent=1, allow_nan=False) + "\n")
        logger.info("wrote %s", json_path)
    if report_dir is not None:
        from avlabel.eval.render import write_report

        write_report(result, report_dir, predictions=predictions, truth=truth)
    return result


def _read_truth(path: Path) -> tuple[Labels, PoseSeries | None]:
    """Truth and poses from a drive log (HDF5), or truth alone from a labels file."""
    try:
        with open(path, "rb") as handle:
            is_log = handle.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE
    except OSError:
        is_log = path.suffix.lower() in (".h5", ".hdf5")
    if not is_log:
        return read_labels(path), None
    from avlabel.io.logstore import DriveLog

    with DriveLog(path) as log:
        truth = log.truth()
        poses = log.poses()
    if truth is None:
        raise InputError(f"{path}: truth/cuboids: the log has no ground truth to evaluate against")
    return truth, poses


# --------------------------------------------------------------------------- detection


def _detection(
    truth: BoxTable, predictions: BoxTable, classes: tuple[str, ...], config: EvaluationConfig, *, has_poses: bool
) -> tuple[DetectionResult, dict[str, algo.Matching]]:
    settings = config.detection
    overlaps = algo.FrameOverlaps(truth, predictions)
    results: dict[str, ClassDetection] = {}
    matchings: dict[str, algo.Matching] = {}
    for index, label in enumerate(classes):
        truth_rows = np.flatnonzero((truth.class_index == index) & truth.in_range)
        prediction_rows = np.flatnonzero((predictions.class_index == index) & predictions.in_range)
        results[label], matchings[label] = algo.class_detection(truth, predictions, truth_rows, prediction_rows, label, settings, overlaps)
    mean_ap, tp_errors, tp_scores, nd_score = algo.summarize(results, settings)
    bands = _distance_bands(truth, predictions, classes, config, overlaps) if has_poses else ()
    confusion = algo.confusion_matrix(
        truth,
        predictions,
        np.flatnonzero((truth.class_index >= 0) & truth.in_range),
        np.flatnonzero((predictions.class_index >= 0) & predictions.in_range),
        classes,
        settings.tp_distance_threshold_m,
    )
    result = DetectionResult(
        mean_ap=mean_ap,
        nd_score=nd_score,
        tp_errors=tp_errors,
        tp_scores=tp_scores,
        mean_ap_3d=_mean([result.ap_3d for result in results.values()]),
        mean_ap_bev=_mean([result.ap_bev for result in results.values()]),
        classes=results,
        distance_bands=bands,
        confusion=confusion,
    )
    return result, matchings


def _distance_bands(
    truth: BoxTable, predictions: BoxTable, classes: tuple[str, ...], config: EvaluationConfig, overlaps: algo.FrameOverlaps
) -> tuple[BandDetection, ...]:
    """Detection per ego-distance band: truth and predictions whose distance lies in the band.
    A class without truth in a band has NaN there and is left out of the band's mean."""
    edges = (*config.distance_band_edges_m, float("inf"))
    bands = []
    for lower, upper in zip(edges[:-1], edges[1:]):
        truth_in = (truth.ego_distance >= lower) & (truth.ego_distance < upper) & truth.in_range
        predictions_in = (predictions.ego_distance >= lower) & (predictions.ego_distance < upper) & predictions.in_range
        ap: dict[str, float] = {}
        ap_3d: dict[str, float] = {}
        trans_err: dict[str, float] = {}
        for index, label in enumerate(classes):
            truth_rows = np.flatnonzero(truth_in & (truth.class_index == index))
            prediction_rows = np.flatnonzero(predictions_in & (predictions.class_index == index))
            if len(truth_rows) == 0:
                ap[label] = ap_3d[label] = trans_err[label] = float("nan")
                continue
            result, _ = algo.class_detection(truth, predictions, truth_rows, prediction_rows, label, config.detection, overlaps)
            ap[label], ap_3d[label], trans_err[label] = result.mean_ap, result.ap_3d, result.tp_errors["trans_err"]
        bands.append(
            BandDetection(
                lower_m=float(lower),
                upper_m=float(upper),
                num_truth=int((truth_in & (truth.class_index >= 0)).sum()),
                num_predictions=int((predictions_in & (predictions.class_index >= 0)).sum()),
                mean_ap=_mean(list(ap.values())),
                ap=ap,
                ap_3d=ap_3d,
                trans_err=trans_err,
            )
        )
    return tuple(bands)


# --------------------------------------------------------------------------- tracking


def _tracking(
    truth: BoxTable, predictions: BoxTable, classes: tuple[str, ...], frames: np.ndarray, settings: TrackingSettings
) -> tuple[TrackingResult, tuple[TrackTimeline, ...]]:
    evaluated = (predictions.class_index >= 0) & predictions.in_range
    track_scores = tracking_algo.mean_track_scores(predictions.track[evaluated], predictions.scores[evaluated], len(predictions.track_ids))
    truth_status = np.zeros(len(truth), dtype=np.int8)
    results: dict[str, ClassTracking] = {}
    for index, label in enumerate(classes):
        truth_rows = np.flatnonzero((truth.class_index == index) & truth.in_range)
        prediction_rows = np.flatnonzero((predictions.class_index == index) & predictions.in_range & ~predictions.ignore)
        per_frame = _tracking_frames(truth, predictions, truth_rows, prediction_rows, len(frames))
        threshold = settings.score_threshold if settings.score_threshold > 0 else None
        counts = tracking_algo.clear_mot(per_frame, settings.match_distance_m, score_threshold=threshold)
        for (frame_truth, _), status in zip(_split(truth, predictions, truth_rows, prediction_rows, len(frames)), counts.status):
            truth_status[frame_truth] = status
        averaged = [
            tracking_algo.TrackingFrame(frame.truth_tracks, frame.prediction_tracks, frame.distances, track_scores[frame.prediction_tracks])
            for frame in per_frame
        ]
        amota = tracking_algo.amota(
            averaged,
            settings.match_distance_m,
            recall_thresholds=settings.amota_recall_thresholds,
            min_recall=settings.amota_min_recall,
            amota_worst=settings.amota_worst,
            amotp_worst=settings.amotp_worst_m,
        )
        hota = _hota(truth, predictions, truth_rows, prediction_rows, len(frames), settings)
        results[label] = ClassTracking(
            label=label,
            num_truth=counts.objects,
            num_predictions=counts.predictions,
            truth_tracks=len(np.unique(truth.track[truth_rows])),
            predicted_tracks=len(np.unique(predictions.track[prediction_rows])),
            matches=counts.matches,
            id_switches=counts.switches,
            false_positives=counts.false_positives,
            misses=counts.misses,
            fragmentations=counts.fragmentations,
            mostly_tracked=counts.mostly_tracked,
            mostly_lost=counts.mostly_lost,
            mota=counts.mota,
            motp=counts.motp,
            precision=counts.precision,
            recall=counts.recall,
            idf1=counts.idf1,
            idp=counts.idp,
            idr=counts.idr,
            idtp=counts.idtp,
            hota=float(np.mean(hota.hota)),
            deta=float(np.mean(hota.deta)),
            assa=float(np.mean(hota.assa)),
            loca=float(np.mean(hota.loca)),
            amota=amota.amota,
            amotp=amota.amotp,
            hota_by_alpha=hota.hota,
            deta_by_alpha=hota.deta,
            assa_by_alpha=hota.assa,
            loca_by_alpha=hota.loca,
            motar_by_threshold=amota.motar,
            motp_by_threshold=amota.motp,
        )
    return _tracking_summary(results), _timelines(truth, truth_status, frames)


def _split(truth: BoxTable, predictions: BoxTable, truth_rows: np.ndarray, prediction_rows: np.ndarray, frame_count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    truth_offsets = np.searchsorted(truth.frame[truth_rows], np.arange(frame_count + 1))
    prediction_offsets = np.searchsorted(predictions.frame[prediction_rows], np.arange(frame_count + 1))
    return [
        (truth_rows[truth_offsets[frame] : truth_offsets[frame + 1]], prediction_rows[prediction_offsets[frame] : prediction_offsets[frame + 1]])
        for frame in range(frame_count)
    ]


def _tracking_frames(
    truth: BoxTable, predictions: BoxTable, truth_rows: np.ndarray, prediction_rows: np.ndarray, frame_count: int
) -> list[tracking_algo.TrackingFrame]:
    frames = []
    for frame_truth, frame_predictions in _split(truth, predictions, truth_rows, prediction_rows, frame_count):
        frames.append(
            tracking_algo.TrackingFrame(
                truth_tracks=truth.track[frame_truth],
                prediction_tracks=predictions.track[frame_predictions],
                distances=pairwise_center_distance(truth.boxes[frame_truth], predictions.boxes[frame_predictions]),
                scores=predictions.scores[frame_predictions],
            )
        )
    return frames


def _hota(
    truth: BoxTable, predictions: BoxTable, truth_rows: np.ndarray, prediction_rows: np.ndarray, frame_count: int, settings: TrackingSettings
) -> tracking_algo.HotaArrays:
    prediction_rows = prediction_rows[predictions.scores[prediction_rows] >= settings.score_threshold]
    _, truth_ids = np.unique(truth.track[truth_rows], return_inverse=True)
    _, prediction_ids = np.unique(predictions.track[prediction_rows], return_inverse=True)
    truth_id_of = dict(zip(truth_rows.tolist(), truth_ids.reshape(-1).tolist()))
    prediction_id_of = dict(zip(prediction_rows.tolist(), prediction_ids.reshape(-1).tolist()))
    truth_ids_per_frame, prediction_ids_per_frame, similarities = [], [], []
    for frame_truth, frame_predictions in _split(truth, predictions, truth_rows, prediction_rows, frame_count):
        truth_ids_per_frame.append(np.array([truth_id_of[row] for row in frame_truth.tolist()], dtype=np.int64))
        prediction_ids_per_frame.append(np.array([prediction_id_of[row] for row in frame_predictions.tolist()], dtype=np.int64))
        similarities.append(hota_similarity(truth.boxes[frame_truth], predictions.boxes[frame_predictions], settings))
    return tracking_algo.hota(truth_ids_per_frame, prediction_ids_per_frame, similarities)


def hota_similarity(truth_boxes: np.ndarray, prediction_boxes: np.ndarray, settings: TrackingSettings) -> np.ndarray:
    """(n, m) HOTA similarity in [0, 1] of truth (n, 7) and prediction (m, 7) boxes: 3D or BEV
    IoU, or max(0, 1 - centre distance / hota_zero_distance_m)."""
    if settings.hota_similarity == "iou_3d":
        return pairwise_iou_3d(truth_boxes, prediction_boxes)
    if settings.hota_similarity == "iou_bev":
        return pairwise_bev_iou(truth_boxes, prediction_boxes)
    distance = pairwise_center_distance(truth_boxes, prediction_boxes)
    return np.maximum(0.0, 1.0 - distance / settings.hota_zero_distance_m)


def _tracking_summary(results: dict[str, ClassTracking]) -> TrackingResult:
    """Pool CLEAR and identity counts over classes; average HOTA over classes with any box;
    average AMOTA/AMOTP over classes with truth."""
    values = list(results.values())
    objects = sum(result.num_truth for result in values)
    predictions = sum(result.num_predictions for result in values)
    detections = sum(result.matches + result.id_switches for result in values)
    errors = sum(result.misses + result.id_switches + result.false_positives for result in values)
    distance_sum = sum(result.motp * (result.matches + result.id_switches) for result in values if result.matches + result.id_switches)
    active = [result for result in values if result.num_truth + result.num_predictions > 0]
    return TrackingResult(
        mota=1.0 - errors / objects if objects else float("nan"),
        motp=distance_sum / detections if detections else float("nan"),
        idf1=2 * sum(result.idtp for result in values) / (objects + predictions) if objects + predictions else float("nan"),
        id_switches=sum(result.id_switches for result in values),
        fragmentations=sum(result.fragmentations for result in values),
        hota=_mean([result.hota for result in active]),
        deta=_mean([result.deta for result in active]),
        assa=_mean([result.assa for result in active]),
        loca=_mean([result.loca for result in active]),
        amota=_mean([result.amota for result in values]),
        amotp=_mean([result.amotp for result in values]),
        classes=results,
    )


def _timelines(truth: BoxTable, status: np.ndarray, frames: np.ndarray) -> tuple[TrackTimeline, ...]:
    timelines = []
    evaluated = np.flatnonzero(status > 0)
    for track in np.unique(truth.track[evaluated]):
        rows = evaluated[truth.track[evaluated] == track]
        timelines.append(
            TrackTimeline(
                track_id=truth.track_ids[track],
                label=str(truth.labels[rows[0]]),
                timestamps_us=frames[truth.frame[rows]],
                status=status[rows],
            )
        )
    return tuple(sorted(timelines, key=lambda timeline: (timeline.label, int(timeline.timestamps_us[0]))))


# --------------------------------------------------------------------------- report material


def _worst_cases(
    truth: BoxTable, predictions: BoxTable, matchings: dict[str, algo.Matching], frames: np.ndarray, count: int
) -> tuple[WorstCase, ...]:
    """The largest centre errors, highest-scored false positives and nearest misses at the TP threshold."""
    pairs = [(row, match, distance) for matching in matchings.values() for row, match, distance in zip(matching.prediction_rows, matching.truth_rows, matching.distances)]
    matched = sorted((pair for pair in pairs if pair[1] >= 0), key=lambda pair: -pair[2])[:count]
    false_positives = sorted((pair for pair in pairs if pair[1] < 0), key=lambda pair: -predictions.scores[pair[0]])[:count]
    misses = np.concatenate([matching.unmatched_truth_rows for matching in matchings.values()] or [np.zeros(0, dtype=np.int64)]).astype(np.int64)
    distance = np.where(np.isnan(truth.ego_distance[misses]), np.inf, truth.ego_distance[misses])
    misses = misses[np.argsort(distance, kind="stable")][:count]
    cases = []
    for prediction, matched_truth, offset in matched:
        cases.append(_case("localisation", truth, predictions, frames, matched_truth, prediction, float(offset), f"centre off by {offset:.2f} m"))
    for prediction, _, _ in false_positives:
        score = float(predictions.scores[prediction])
        text = f"unmatched {predictions.labels[prediction]}, score {score:.2f}; {_nearest(predictions.boxes[prediction], truth, predictions.frame[prediction], 'truth')}"
        cases.append(_case("false_positive", truth, predictions, frames, None, prediction, score, text))
    for row in misses:
        ego = float(truth.ego_distance[row])
        where = f", {ego:.1f} m from the ego" if np.isfinite(ego) else ""
        text = f"missed{where}; {_nearest(truth.boxes[row], predictions, truth.frame[row], 'label')}"
        cases.append(_case("miss", truth, predictions, frames, int(row), None, ego, text))
    return tuple(cases)


def _nearest(box: np.ndarray, table: BoxTable, frame: int, name: str) -> str:
    """'nearest truth: car 0.08 m away' among the other side's boxes of the frame (don't-care aside)."""
    rows = np.arange(table.frame_offsets[frame], table.frame_offsets[frame + 1])
    rows = rows[~table.ignore[rows]] if name == "truth" else rows
    if len(rows) == 0:
        return f"no {name} in the frame"
    distances = np.hypot(table.boxes[rows, 0] - box[0], table.boxes[rows, 1] - box[1])
    nearest = int(np.argmin(distances))
    return f"nearest {name}: {table.labels[rows[nearest]]} {distances[nearest]:.2f} m away"


def _case(
    kind: str, truth: BoxTable, predictions: BoxTable, frames: np.ndarray, truth_row: int | None, prediction_row: int | None, value: float, description: str
) -> WorstCase:
    if truth_row is not None:
        label, frame = truth.labels[truth_row], truth.frame[truth_row]
    else:
        label, frame = predictions.labels[prediction_row], predictions.frame[prediction_row]
    return WorstCase(
        kind=kind,
        label=str(label),
        timestamp_us=int(frames[frame]),
        value=value,
        description=description,
        truth_id=None if truth_row is None else truth.cuboid_ids[truth_row],
        prediction_id=None if prediction_row is None else predictions.cuboid_ids[prediction_row],
        truth_box=None if truth_row is None else truth.boxes[truth_row].copy(),
        prediction_box=None if prediction_row is None else predictions.boxes[prediction_row].copy(),
    )


def _diagnostics(
    truth: BoxTable,
    predictions: BoxTable,
    matchings: dict[str, algo.Matching],
    config: EvaluationConfig,
    timelines: tuple[TrackTimeline, ...],
    frames: np.ndarray,
) -> Diagnostics:
    # Errors of every match at the TP threshold, for the error-versus-distance plot.
    parts: dict[str, list[np.ndarray]] = {"truth": [], "distance": [], "scale_err": [], "orient_err": []}
    for label, matching in matchings.items():
        matched = matching.truth_rows >= 0
        truth_rows, prediction_rows = matching.truth_rows[matched], matching.prediction_rows[matched]
        errors = algo.true_positive_errors(truth, predictions, truth_rows, prediction_rows, config.detection.orientation_period(label))
        parts["truth"].append(truth_rows)
        parts["distance"].append(matching.distances[matched])
        parts["scale_err"].append(errors["scale_err"])
        parts["orient_err"].append(errors["orient_err"])
    joined = {name: np.concatenate(values) if values else np.zeros(0) for name, values in parts.items()}
    truth_rows = joined["truth"].astype(np.int64)
    return Diagnostics(
        match_class_index=truth.class_index[truth_rows],
        match_ego_distance=truth.ego_distance[truth_rows],
        match_trans_err=joined["distance"],
        match_scale_err=joined["scale_err"],
        match_orient_err=joined["orient_err"],
        timelines=timelines,
        frame_timestamps_us=frames,
    )


def _mean(values: list[float]) -> float:
    finite = [value for value in values if not np.isnan(value)]
    return float(np.mean(finite)) if finite else float("nan")
