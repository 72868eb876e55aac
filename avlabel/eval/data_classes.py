"""Data of an evaluation: the flattened inputs and every result, as frozen dataclasses.

Conventions: boxes are avlabel's [x, y, z, length, width, height, yaw] in the world frame
(x, y, z metres; ENU, z up); distances from the ego are bird's-eye (x, y) metres; AP and
the other ratios are fractions in [0, 1] (not percent). A metric that is not defined (no
truth of a class, say) is NaN in Python and null in JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import numpy as np

# Status of a truth cuboid in the tracking timeline (Diagnostics.timelines).
TRACK_MATCHED, TRACK_SWITCHED, TRACK_MISSED = 1, 2, 3


@dataclass(frozen=True, slots=True, eq=False)
class BoxTable:
    """One side's cuboids (truth or predictions), flattened into arrays.

    Rows are in frame order, then in the order of the cuboids within their frame, as in the
    Labels they came from. N rows over F evaluation frames:

        boxes (N, 7) float64        world frame
        frame (N,) int64            index into the evaluation frames (the truth's frames)
        frame_offsets (F + 1,)      rows of frame f are frame_offsets[f]:frame_offsets[f + 1]
        labels (N,) object          the cuboid's label
        class_index (N,) int64      index into the evaluated classes; -1 = not evaluated
        scores (N,) float64         truth cuboids carry their stored score (unused)
        velocities (N, 2) float64   m/s in world x, y; NaN where unknown
        attributes (N,) object      the attribute compared for attr_err, "" for none
        track (N,) int64            index into track_ids
        ego_distance (N,) float64   BEV metres from the ego at the frame's time; NaN unknown
        in_range (N,) bool          within the class's evaluation range from the ego (and,
                                    for truth, with at least min_truth_points LiDAR points)
        ignore (N,) bool            truth: a don't-care region; predictions: lies in one
        cuboid_ids, track_ids       the string ids behind the rows and `track`
    """

    boxes: np.ndarray
    frame: np.ndarray
    frame_offsets: np.ndarray
    labels: np.ndarray
    class_index: np.ndarray
    scores: np.ndarray
    velocities: np.ndarray
    attributes: np.ndarray
    track: np.ndarray
    ego_distance: np.ndarray
    in_range: np.ndarray
    ignore: np.ndarray
    cuboid_ids: tuple[str, ...]
    track_ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.boxes)

    def frame_rows(self, frame: int) -> slice:
        return slice(int(self.frame_offsets[frame]), int(self.frame_offsets[frame + 1]))


@dataclass(frozen=True, slots=True, eq=False)
class DetectionCurve:
    """nuScenes metric data of one class at one distance threshold: 101 recall points
    0, 0.01, ..., 1 with the interpolated precision, score and mean TP errors (101,) each."""

    recall: np.ndarray
    precision: np.ndarray
    confidence: np.ndarray
    trans_err: np.ndarray
    vel_err: np.ndarray
    scale_err: np.ndarray
    orient_err: np.ndarray
    attr_err: np.ndarray

    @property
    def max_recall_index(self) -> int:
        """Index of the highest recall reached: the last point with a score > 0 (nuScenes)."""
        nonzero = np.nonzero(self.confidence)[0]
        return int(nonzero[-1]) if len(nonzero) else 0


@dataclass(frozen=True, slots=True, eq=False)
class ClassDetection:
    """Detection metrics of one class. `ap` maps each centre-distance threshold (m) to its AP."""

    label: str
    num_truth: int
    num_predictions: int
    ap: dict[float, float]
    mean_ap: float
    tp_errors: dict[str, float]  # trans_err m, scale_err 1-IoU, orient_err rad, vel_err m/s, attr_err 1-accuracy
    ap_3d: float  # KITTI R40, 3D IoU above the class threshold
    ap_bev: float  # KITTI R40, BEV IoU above the class threshold
    curves: dict[float, DetectionCurve] = field(repr=False)


@dataclass(frozen=True, slots=True, eq=False)
class BandDetection:
    """Detection metrics of the truth and predictions whose ego distance lies in [lower, upper)."""

    lower_m: float
    upper_m: float  # inf for the last band (null in JSON)
    num_truth: int
    num_predictions: int
    mean_ap: float
    ap: dict[str, float]  # per class, mean over the distance thresholds
    ap_3d: dict[str, float]
    trans_err: dict[str, float]


@dataclass(frozen=True, slots=True, eq=False)
class ConfusionMatrix:
    """Counts of truth label (row) against predicted label (column) for boxes paired by BEV
    centre distance regardless of class; the "none" row holds unpaired predictions, the
    "none" column unpaired truth."""

    labels: tuple[str, ...]  # rows and columns, "none" last
    counts: np.ndarray  # (L, L) int64


@dataclass(frozen=True, slots=True, eq=False)
class DetectionResult:
    mean_ap: float  # nuScenes mAP over classes and distance thresholds
    nd_score: float  # nuScenes detection score
    tp_errors: dict[str, float]  # class means
    tp_scores: dict[str, float]  # max(0, 1 - error)
    mean_ap_3d: float  # KITTI R40 mean over classes
    mean_ap_bev: float
    classes: dict[str, ClassDetection]
    distance_bands: tuple[BandDetection, ...]
    confusion: ConfusionMatrix


@dataclass(frozen=True, slots=True, eq=False)
class ClassTracking:
    """Tracking metrics of one class.

    CLEAR MOT and identity metrics as motmetrics computes them (pairs closer than the match
    distance, MOTP = mean distance in metres), HOTA as TrackEval (means over the 19
    localisation thresholds alpha = 0.05 ... 0.95, arrays per alpha alongside), AMOTA/AMOTP
    as nuScenes (score sweep over recall thresholds; NaN when the class has no truth).
    """

    label: str
    num_truth: int
    num_predictions: int
    truth_tracks: int
    predicted_tracks: int
    matches: int
    id_switches: int
    false_positives: int
    misses: int
    fragmentations: int
    mostly_tracked: int
    mostly_lost: int
    mota: float
    motp: float
    precision: float
    recall: float
    idf1: float
    idp: float
    idr: float
    idtp: int
    hota: float
    deta: float
    assa: float
    loca: float
    amota: float
    amotp: float
    hota_by_alpha: np.ndarray = field(repr=False)  # (19,)
    deta_by_alpha: np.ndarray = field(repr=False)
    assa_by_alpha: np.ndarray = field(repr=False)
    loca_by_alpha: np.ndarray = field(repr=False)
    motar_by_threshold: np.ndarray = field(repr=False)  # (amota_recall_thresholds,) highest recall first
    motp_by_threshold: np.ndarray = field(repr=False)


@dataclass(frozen=True, slots=True, eq=False)
class TrackingResult:
    """Over all classes: MOTA, MOTP, IDF1 pool the classes' counts (as motmetrics on the
    merged class accumulators); HOTA and its parts average the classes (TrackEval's class
    average); AMOTA and AMOTP average the classes that have truth (nuScenes)."""

    mota: float
    motp: float
    idf1: float
    id_switches: int
    fragmentations: int
    hota: float
    deta: float
    assa: float
    loca: float
    amota: float
    amotp: float
    classes: dict[str, ClassTracking]


@dataclass(frozen=True, slots=True, eq=False)
class TrackEffort:
    """Edits one truth track needs, under the model documented in `avlabel.eval.effort`."""

    truth_track_id: str
    label: str
    frames: int
    predicted_track_id: str | None  # None: no predicted track; the annotator draws it
    keyframes: int
    size_edit: bool
    class_edit: bool
    trims: int  # ends of the predicted track that overhang the truth track (0-2)
    edits: int


@dataclass(frozen=True, slots=True, eq=False)
class EffortResult:
    iou_threshold: float
    truth_cuboids: int
    no_edit_cuboids: int
    no_edit_share: float  # share of truth cuboid-frames whose label already fits
    truth_tracks: int
    predicted_tracks: int
    keyframe_edits: int
    size_edits: int
    class_edits: int
    trim_edits: int
    deleted_tracks: int  # predicted tracks with no truth: one delete each
    created_tracks: int  # truth tracks with no predicted track
    total_edits: int
    edits_per_track: float  # total_edits / truth_tracks
    tracks: tuple[TrackEffort, ...] = field(repr=False)


@dataclass(frozen=True, slots=True, eq=False)
class WorstCase:
    """One bad example for the report: kind is "localisation" (largest centre error of a
    match), "false_positive" (highest-scored unmatched prediction) or "miss" (unmatched
    truth nearest the ego)."""

    kind: str
    label: str
    timestamp_us: int
    value: float
    description: str
    truth_id: str | None
    prediction_id: str | None
    truth_box: np.ndarray | None  # (7,) world frame
    prediction_box: np.ndarray | None


@dataclass(frozen=True, slots=True, eq=False)
class TrackTimeline:
    """Per frame of one truth track: its status (TRACK_MATCHED, TRACK_SWITCHED, TRACK_MISSED)."""

    track_id: str
    label: str
    timestamps_us: np.ndarray  # (T,) int64
    status: np.ndarray  # (T,) int8


@dataclass(frozen=True, slots=True, eq=False)
class Diagnostics:
    """Per-box detail behind the report's plots; kept out of `to_dict()`.

    matches: the nuScenes matches at the TP threshold, (K,) arrays: class_index, ego_distance
    (NaN without poses), trans_err, scale_err, orient_err.
    """

    match_class_index: np.ndarray
    match_ego_distance: np.ndarray
    match_trans_err: np.ndarray
    match_scale_err: np.ndarray
    match_orient_err: np.ndarray
    timelines: tuple[TrackTimeline, ...]
    frame_timestamps_us: np.ndarray  # (F,) the evaluation frames


@dataclass(frozen=True, slots=True, eq=False)
class EvaluationResult:
    """Everything an evaluation found. `to_dict()` is plain JSON types; `headline()` the few
    numbers a person wants first."""

    classes: tuple[str, ...]
    frames: int
    truth_cuboids: int
    prediction_cuboids: int
    ignore_regions: int
    poses_used: bool
    detection: DetectionResult
    tracking: TrackingResult
    effort: EffortResult
    worst_cases: tuple[WorstCase, ...]
    config: dict[str, Any]
    diagnostics: Diagnostics = field(repr=False)

    def headline(self) -> dict[str, Any]:
        """mAP, NDS, AP per class, MOTA, HOTA, IDF1, AMOTA, no-edit share, edits per track."""
        return _plain({
            "mAP": self.detection.mean_ap,
            "NDS": self.detection.nd_score,
            "AP": {label: result.mean_ap for label, result in self.detection.classes.items()},
            "MOTA": self.tracking.mota,
            "HOTA": self.tracking.hota,
            "IDF1": self.tracking.idf1,
            "AMOTA": self.tracking.amota,
            "no_edit_share": self.effort.no_edit_share,
            "edits_per_track": self.effort.edits_per_track,
        })

    def to_dict(self) -> dict[str, Any]:
        """The whole result (diagnostics aside) as dicts, lists, str, int, float, bool and None."""
        document = {item.name: getattr(self, item.name) for item in fields(self) if item.name != "diagnostics"}
        return {"schema": "avlabel.evaluation/1", "headline": self.headline(), **_plain(document)}


def _plain(value: Any) -> Any:
    """Recursively convert to JSON types: arrays to lists, NaN/inf to None, keys to str."""
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: _plain(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, dict):
        return {_key(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _key(key: Any) -> str:
    if isinstance(key, (float, np.floating)):
        return f"{float(key):g}"
    return str(key)
