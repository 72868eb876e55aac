"""Tracking metrics as pure functions over per-frame rows of one class.

CLEAR MOT and identity (motmetrics' definitions)
------------------------------------------------
`clear_mot` replays motmetrics' `MOTAccumulator.update` frame by frame. Truth and
prediction may pair when their BEV centre distance is below the match distance. Each
frame: (1) a truth object keeps last frame's prediction track if it is still there and
within reach; (2) the rest are assigned by minimum total distance among the pairings of
largest size (motmetrics' scipy solver with "expensive" invalid edges); a pairing whose
truth was last paired with another prediction track is an ID switch; (3) unpaired truth
are misses, unpaired predictions false positives. Then

    MOTA = 1 - (misses + switches + false positives) / truth,   MOTP = mean pair distance (m)
    IDF1 = 2 IDTP / (truth + predictions), IDTP the most frames a one-to-one track
           assignment keeps paired (within reach),
    fragmentations = times a truth track goes from tracked to missed between its first and
           last tracked frame; mostly tracked/lost: tracked in >= 80% / < 20% of its frames.

HOTA (TrackEval's definition)
-----------------------------
`hota` follows TrackEval's HOTA class on one sequence: per frame a Hungarian assignment on
similarity weighted by the global alignment of the two tracks, counted at the 19
thresholds alpha = 0.05 ... 0.95; DetA, AssA, LocA, HOTA = sqrt(DetA AssA) per alpha.

AMOTA and AMOTP (nuScenes' definition)
--------------------------------------
`amota` follows nuscenes-devkit's TrackingEvaluation: each predicted track scores the mean
of its boxes' scores; score thresholds are placed at recall min_recall ... 1 (40 steps)
from the scores of the non-switch pairs of a run with every prediction; at each threshold
the CLEAR run gives MOTAR = max(0, 1 - (misses + switches + fp - (1 - r) P) / (r P)) with
r the run's recall and P the truth count, and MOTP; recalls never reached take the worst
values (MOTAR 0, MOTP 2 m). AMOTA and AMOTP average over the thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from avlabel.eval.data_classes import TRACK_MATCHED, TRACK_MISSED, TRACK_SWITCHED

HOTA_ALPHAS = np.arange(0.05, 0.99, 0.05)  # TrackEval's array_labels, to the last bit
_EPSILON = np.finfo("float").eps


@dataclass(frozen=True, slots=True, eq=False)
class TrackingFrame:
    """One frame of one class: truth and prediction track indices (n,), (m,), their BEV
    centre distances (n, m) in metres, and the predictions' scores (m,)."""

    truth_tracks: np.ndarray
    prediction_tracks: np.ndarray
    distances: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class ClearCounts:
    """motmetrics' counts of one CLEAR run. status: per frame, (n,) status codes of the truth
    (TRACK_MATCHED, TRACK_SWITCHED, TRACK_MISSED). match_scores: scores of non-switch pairs,
    in frame order (what nuScenes places its AMOTA thresholds with)."""

    objects: int
    predictions: int
    matches: int
    switches: int
    false_positives: int
    misses: int
    distance_sum: float
    fragmentations: int
    mostly_tracked: int
    mostly_lost: int
    idtp: int
    status: tuple[np.ndarray, ...]
    match_scores: np.ndarray

    @property
    def detections(self) -> int:
        return self.matches + self.switches

    @property
    def mota(self) -> float:
        return _divide(-(self.misses + self.switches + self.false_positives), self.objects, offset=1.0)

    @property
    def motp(self) -> float:
        return _divide(self.distance_sum, self.detections)

    @property
    def precision(self) -> float:
        return _divide(self.detections, self.detections + self.false_positives)

    @property
    def recall(self) -> float:
        return _divide(self.detections, self.objects)

    @property
    def idf1(self) -> float:
        return _divide(2 * self.idtp, self.objects + self.predictions)

    @property
    def idp(self) -> float:
        return _divide(self.idtp, self.predictions)

    @property
    def idr(self) -> float:
        return _divide(self.idtp, self.objects)


def clear_mot(
    frames: Sequence[TrackingFrame], match_distance: float, *, score_threshold: float | None = None, details: bool = True
) -> ClearCounts:
    """One motmetrics-equivalent CLEAR MOT run over the frames (in time order).

    score_threshold: predictions scoring below it are left out (None: keep all).
    details=False skips what only the final report needs (identity, fragmentations, mostly
    tracked/lost, per-frame status; left 0 / empty), for the AMOTA score sweep.
    """
    previous: dict[int, int] = {}  # truth track -> prediction track of its last pairing
    objects = predictions = matches = switches = false_positives = misses = 0
    distance_sum = 0.0
    pair_frames: dict[tuple[int, int], int] = {}
    history: dict[int, list[int]] = {}  # truth track -> its status codes, frame by frame
    statuses = []
    match_scores: list[float] = []
    for frame in frames:
        if score_threshold is None:
            prediction_tracks, scores, distances = frame.prediction_tracks, frame.scores, frame.distances
        else:
            keep = frame.scores >= score_threshold
            prediction_tracks, scores, distances = frame.prediction_tracks[keep], frame.scores[keep], frame.distances[:, keep]
        truth_list = frame.truth_tracks.tolist()
        prediction_list = prediction_tracks.tolist()
        within = distances < match_distance
        objects += len(truth_list)
        predictions += len(prediction_list)
        if details:
            for row, column in zip(*np.nonzero(within)):
                key = (truth_list[row], prediction_list[column])
                pair_frames[key] = pair_frames.get(key, 0) + 1
        status = [TRACK_MISSED] * len(truth_list)
        truth_taken = [False] * len(truth_list)
        prediction_taken = [False] * len(prediction_list)
        matched_predictions: set[int] = set()
        if truth_list and prediction_list:
            # 1. Keep last frame's pairings that are still within reach.
            column_of = {track: column for column, track in enumerate(prediction_list)}
            for row, truth_track in enumerate(truth_list):
                column = column_of.get(previous.get(truth_track, -1))
                if column is not None and not prediction_taken[column] and within[row, column]:
                    truth_taken[row] = prediction_taken[column] = True
                    status[row] = TRACK_MATCHED
                    matches += 1
                    distance_sum += distances[row, column]
                    matched_predictions.add(prediction_list[column])
            # 2. Assign the rest by minimum distance.
            free_rows = [row for row, taken in enumerate(truth_taken) if not taken]
            free_columns = [column for column, taken in enumerate(prediction_taken) if not taken]
            if free_rows and free_columns and within[np.ix_(free_rows, free_columns)].any():
                remaining = np.where(within, distances, np.nan)
                remaining[np.array(truth_taken), :] = np.nan
                remaining[:, np.array(prediction_taken)] = np.nan
                for row, column in zip(*min_cost_assignment(remaining)):
                    truth_track, prediction_track = truth_list[row], prediction_list[column]
                    truth_taken[row] = prediction_taken[column] = True
                    distance_sum += remaining[row, column]
                    if truth_track in previous and previous[truth_track] != prediction_track:
                        switches += 1
                        status[row] = TRACK_SWITCHED
                    else:
                        matches += 1
                        status[row] = TRACK_MATCHED
                        matched_predictions.add(prediction_track)
                    previous[truth_track] = prediction_track
        misses += truth_taken.count(False)
        false_positives += prediction_taken.count(False)
        if matched_predictions:
            match_scores.extend(score for track, score in zip(prediction_list, scores.tolist()) if track in matched_predictions)
        if details:
            for truth_track, code in zip(truth_list, status):
                history.setdefault(truth_track, []).append(code)
            statuses.append(np.array(status, dtype=np.int8))
    ratios = np.array([sum(code != TRACK_MISSED for code in codes) / len(codes) for codes in history.values()])
    return ClearCounts(
        objects=objects,
        predictions=predictions,
        matches=matches,
        switches=switches,
        false_positives=false_positives,
        misses=misses,
        distance_sum=float(distance_sum),
        fragmentations=sum(_fragmentations(codes) for codes in history.values()),
        mostly_tracked=int((ratios >= 0.8).sum()),
        mostly_lost=int((ratios < 0.2).sum()),
        idtp=_identity_true_positives(pair_frames),
        status=tuple(statuses),
        match_scores=np.array(match_scores, dtype=np.float64),
    )


def min_cost_assignment(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost assignment that pairs as many finite entries as possible (NaN = no edge),
    as motmetrics solves it with scipy: invalid edges cost more than any valid assignment."""
    valid = np.isfinite(costs)
    if not valid.any():
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    if valid.all():
        finite = costs.copy()
    else:
        reach = np.abs(costs[valid]).max() + 1
        finite = np.where(valid, costs, 2 * min(costs.shape) * reach + 1)
    rows, columns = linear_sum_assignment(finite)
    keep = valid[rows, columns]
    return rows[keep], columns[keep]


def _fragmentations(codes: list[int]) -> int:
    """Tracked-to-missed transitions between the first and the last tracked frame."""
    tracked = [index for index, code in enumerate(codes) if code != TRACK_MISSED]
    if not tracked:
        return 0
    span = codes[tracked[0] : tracked[-1] + 1]
    return sum(1 for before, after in zip(span, span[1:]) if before != TRACK_MISSED and after == TRACK_MISSED)


def _identity_true_positives(pair_frames: dict[tuple[int, int], int]) -> int:
    """Most pair-frames a one-to-one truth-to-prediction track assignment keeps (IDTP)."""
    if not pair_frames:
        return 0
    truth_tracks = sorted({truth for truth, _ in pair_frames})
    prediction_tracks = sorted({prediction for _, prediction in pair_frames})
    truth_lookup = {track: index for index, track in enumerate(truth_tracks)}
    prediction_lookup = {track: index for index, track in enumerate(prediction_tracks)}
    counts = np.zeros((len(truth_tracks), len(prediction_tracks)))
    for (truth, prediction), count in pair_frames.items():
        counts[truth_lookup[truth], prediction_lookup[prediction]] = count
    rows, columns = linear_sum_assignment(-counts)
    return int(counts[rows, columns].sum())


def _divide(numerator: float, denominator: float, *, offset: float = 0.0) -> float:
    if denominator == 0:
        return float("nan")
    return offset + numerator / denominator


# --------------------------------------------------------------------------- HOTA


@dataclass(frozen=True, slots=True, eq=False)
class HotaArrays:
    """TrackEval's HOTA fields at the 19 alphas, (19,) each."""

    hota: np.ndarray
    deta: np.ndarray
    assa: np.ndarray
    loca: np.ndarray
    detre: np.ndarray
    detpr: np.ndarray
    assre: np.ndarray
    asspr: np.ndarray
    true_positives: np.ndarray
    false_negatives: np.ndarray
    false_positives: np.ndarray


def hota(
    truth_ids: Sequence[np.ndarray],
    prediction_ids: Sequence[np.ndarray],
    similarities: Sequence[np.ndarray],
) -> HotaArrays:
    """HOTA of one sequence. Per frame t: truth_ids[t] (n_t,) and prediction_ids[t] (m_t,)
    contiguous track indices 0..; similarities[t] (n_t, m_t) in [0, 1]."""
    alphas = len(HOTA_ALPHAS)
    true_positives = np.zeros(alphas)
    false_negatives = np.zeros(alphas)
    false_positives = np.zeros(alphas)
    localisation = np.zeros(alphas)
    association = np.zeros(alphas)
    association_recall = np.zeros(alphas)
    association_precision = np.zeros(alphas)
    num_truth = sum(len(ids) for ids in truth_ids)
    num_predictions = sum(len(ids) for ids in prediction_ids)
    if num_predictions == 0 or num_truth == 0:
        false_negatives[:] = num_truth
        false_positives[:] = num_predictions
        return _hota_fields(true_positives, false_negatives, false_positives, np.ones(alphas), association, association_recall, association_precision)
    truth_count = 1 + max((int(ids.max()) for ids in truth_ids if len(ids)), default=-1)
    prediction_count = 1 + max((int(ids.max()) for ids in prediction_ids if len(ids)), default=-1)
    potential = np.zeros((truth_count, prediction_count))
    truth_frames = np.zeros((truth_count, 1))
    prediction_frames = np.zeros((1, prediction_count))
    for truth_t, prediction_t, similarity in zip(truth_ids, prediction_ids, similarities):
        # Similarity normalised as an IoU over the frame's rows and columns.
        denominator = similarity.sum(0)[np.newaxis, :] + similarity.sum(1)[:, np.newaxis] - similarity
        normalised = np.zeros_like(similarity)
        mask = denominator > 0 + _EPSILON
        normalised[mask] = similarity[mask] / denominator[mask]
        potential[truth_t[:, np.newaxis], prediction_t[np.newaxis, :]] += normalised
        truth_frames[truth_t] += 1
        prediction_frames[0, prediction_t] += 1
    alignment = potential / (truth_frames + prediction_frames - potential)
    pair_matches = [np.zeros_like(potential) for _ in range(alphas)]
    for truth_t, prediction_t, similarity in zip(truth_ids, prediction_ids, similarities):
        if len(truth_t) == 0:
            false_positives += len(prediction_t)
            continue
        if len(prediction_t) == 0:
            false_negatives += len(truth_t)
            continue
        score = alignment[truth_t[:, np.newaxis], prediction_t[np.newaxis, :]] * similarity
        rows, columns = linear_sum_assignment(-score)
        for index, alpha in enumerate(HOTA_ALPHAS):
            kept = similarity[rows, columns] >= alpha - _EPSILON
            kept_rows, kept_columns = rows[kept], columns[kept]
            count = len(kept_rows)
            true_positives[index] += count
            false_negatives[index] += len(truth_t) - count
            false_positives[index] += len(prediction_t) - count
            if count > 0:
                localisation[index] += sum(similarity[kept_rows, kept_columns])
                pair_matches[index][truth_t[kept_rows], prediction_t[kept_columns]] += 1
    for index in range(alphas):
        matched = pair_matches[index]
        weight = np.maximum(1, true_positives[index])
        association[index] = np.sum(matched * (matched / np.maximum(1, truth_frames + prediction_frames - matched))) / weight
        association_recall[index] = np.sum(matched * (matched / np.maximum(1, truth_frames))) / weight
        association_precision[index] = np.sum(matched * (matched / np.maximum(1, prediction_frames))) / weight
    localisation = np.maximum(1e-10, localisation) / np.maximum(1e-10, true_positives)
    return _hota_fields(true_positives, false_negatives, false_positives, localisation, association, association_recall, association_precision)


def _hota_fields(
    true_positives: np.ndarray,
    false_negatives: np.ndarray,
    false_positives: np.ndarray,
    localisation: np.ndarray,
    association: np.ndarray,
    association_recall: np.ndarray,
    association_precision: np.ndarray,
) -> HotaArrays:
    detection = true_positives / np.maximum(1, true_positives + false_negatives + false_positives)
    return HotaArrays(
        hota=np.sqrt(detection * association),
        deta=detection,
        assa=association,
        loca=localisation,
        detre=true_positives / np.maximum(1, true_positives + false_negatives),
        detpr=true_positives / np.maximum(1, true_positives + false_positives),
        assre=association_recall,
        asspr=association_precision,
        true_positives=true_positives,
        false_negatives=false_negatives,
        false_positives=false_positives,
    )


# --------------------------------------------------------------------------- AMOTA


@dataclass(frozen=True, slots=True, eq=False)
class AmotaResult:
    """nuScenes AMOTA/AMOTP of one class, and MOTAR and MOTP at each recall threshold
    (highest recall first, NaN where not reached); all NaN without truth."""

    amota: float
    amotp: float
    motar: np.ndarray
    motp: np.ndarray
    thresholds: np.ndarray


def amota(
    frames: Sequence[TrackingFrame],
    match_distance: float,
    *,
    recall_thresholds: int,
    min_recall: float,
    amota_worst: float,
    amotp_worst: float,
) -> AmotaResult:
    """AMOTA and AMOTP over the frames of one class; frame scores are the tracks' mean scores."""
    truth_count = sum(len(frame.truth_tracks) for frame in frames)
    if truth_count == 0:
        nan = np.full(recall_thresholds, np.nan)
        return AmotaResult(float("nan"), float("nan"), nan, nan, nan)
    first_run = clear_mot(frames, match_distance, details=False)
    thresholds = _score_thresholds(first_run.match_scores, truth_count, recall_thresholds, min_recall)
    motar = np.full(recall_thresholds, np.nan)
    motp = np.full(recall_thresholds, np.nan)
    computed: dict[float, tuple[float, float]] = {}
    for index, threshold in enumerate(thresholds):
        if np.isnan(threshold):
            continue
        if threshold not in computed:
            counts = clear_mot(frames, match_distance, score_threshold=threshold, details=False)
            computed[threshold] = (_motar(counts), counts.motp)
        motar[index], motp[index] = computed[threshold]
    if not computed:
        motar[:] = amota_worst
        motp[:] = amotp_worst
    return AmotaResult(
        amota=_mean_with_worst(motar, amota_worst),
        amotp=_mean_with_worst(motp, amotp_worst),
        motar=motar,
        motp=motp,
        thresholds=np.array(thresholds),
    )


def _mean_with_worst(values: np.ndarray, worst: float) -> float:
    """Mean with NaN taken as the worst value; NaN if every value is NaN (the devkit's rule)."""
    if np.isnan(values).all():
        return float("nan")
    return float(np.mean(np.where(np.isnan(values), worst, values)))


def _score_thresholds(match_scores: np.ndarray, truth_count: int, count: int, min_recall: float) -> list[float]:
    """Scores that reach recall min_recall ... 1 (count steps), highest recall first; NaN for
    recalls above the highest reached (the devkit's compute_thresholds)."""
    if len(match_scores) == 0:
        return [float("nan")] * count
    scores = np.sort(match_scores)[::-1]
    recall = np.arange(1, len(scores) + 1) / truth_count
    targets = np.linspace(min_recall, 1, count).round(12)
    thresholds = np.interp(targets, recall, scores, right=0)
    thresholds[targets > np.max(recall)] = np.nan
    return list(thresholds.tolist())[::-1]


def _motar(counts: ClearCounts) -> float:
    recall = counts.matches / counts.objects
    numerator = (counts.misses + counts.switches + counts.false_positives) - (1 - recall) * counts.objects
    denominator = recall * counts.objects
    if denominator == 0:
        return float("nan")
    return float(np.maximum(0, 1 - numerator / denominator))


def mean_track_scores(tracks: np.ndarray, scores: np.ndarray, track_count: int) -> np.ndarray:
    """(track_count,) mean score of each track over the given rows (NaN for a track with none)."""
    sums = np.bincount(tracks, weights=scores, minlength=track_count)
    counts = np.bincount(tracks, minlength=track_count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts

