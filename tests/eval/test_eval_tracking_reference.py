"""Tracking metrics against the reference implementations on the same boxes: motmetrics
(MOTA, MOTP, IDF1, ID switches, fragmentations), TrackEval's HOTA class (same similarity
scores) and nuscenes-devkit's TrackingEvaluation (AMOTA, AMOTP)."""

from __future__ import annotations

from collections import defaultdict

import motmetrics
import numpy as np
import pytest
from eval_reference import NUSCENES_NAMES, tracking_config, tracking_tracks
from nuscenes.eval.common.utils import center_distance
from nuscenes.eval.tracking.algo import TrackingEvaluation
from trackeval.metrics import HOTA

from eval_fixtures import result, scene  # noqa: F401 (fixtures)
from avlabel.eval.evaluate import evaluate, hota_similarity
from avlabel.eval.settings import EvaluationConfig, TrackingSettings
from avlabel.geometry.iou import pairwise_center_distance

MOT_FIELDS = {
    "mota": "mota", "motp": "motp", "idf1": "idf1", "idp": "idp", "idr": "idr", "num_switches": "id_switches",
    "num_fragmentations": "fragmentations", "num_false_positives": "false_positives", "num_misses": "misses",
    "mostly_tracked": "mostly_tracked", "mostly_lost": "mostly_lost", "precision": "precision", "recall": "recall",
}


def _boxes(frame, label):
    cuboids = [cuboid for cuboid in frame if label is None or cuboid.label == label]
    return cuboids, np.array([cuboid.box for cuboid in cuboids]).reshape(-1, 7)


def _motmetrics(scene, label, match_distance=2.0, score_threshold=0.0):
    """One MOTAccumulator (integer ids, as motmetrics 1.4 needs). label=None: all classes in
    one accumulator with cross-class distances removed: the pooled 'overall' numbers."""
    accumulator = motmetrics.MOTAccumulator(auto_id=True)
    ids: dict[str, int] = {}
    for truth_frame, prediction_frame in zip(scene.truth, scene.predictions):
        truth, truth_boxes = _boxes(truth_frame, label)
        predictions = [cuboid for cuboid in _boxes(prediction_frame, label)[0] if cuboid.score >= score_threshold]
        prediction_boxes = np.array([cuboid.box for cuboid in predictions]).reshape(-1, 7)
        distances = pairwise_center_distance(truth_boxes, prediction_boxes)
        distances[distances >= match_distance] = np.nan
        distances[np.array([[a.label != b.label for b in predictions] for a in truth], dtype=bool).reshape(distances.shape)] = np.nan
        accumulator.update(
            [ids.setdefault("t" + cuboid.track_id, len(ids)) for cuboid in truth],
            [ids.setdefault("p" + cuboid.track_id, len(ids)) for cuboid in predictions],
            distances,
        )
    return motmetrics.metrics.create().compute(accumulator, metrics=list(MOT_FIELDS), name="run").iloc[0]


def test_clear_mot_and_identity_equal_motmetrics(scene, result):
    assert result.tracking.id_switches > 20  # the scene does exercise switches
    for label in result.classes:
        expected = _motmetrics(scene, label)
        ours = result.tracking.classes[label]
        for field, name in MOT_FIELDS.items():
            assert getattr(ours, name) == pytest.approx(float(expected[field]), abs=1e-9), (label, field)
    overall = _motmetrics(scene, None)
    assert result.tracking.mota == pytest.approx(float(overall["mota"]), abs=1e-9)
    assert result.tracking.motp == pytest.approx(float(overall["motp"]), abs=1e-9)
    assert result.tracking.idf1 == pytest.approx(float(overall["idf1"]), abs=1e-9)
    assert result.tracking.id_switches == int(overall["num_switches"])
    assert result.tracking.fragmentations == int(overall["num_fragmentations"])


def test_score_threshold_and_match_distance_equal_motmetrics(scene):
    config = EvaluationConfig(tracking=TrackingSettings(score_threshold=0.5, match_distance_m=1.0))
    result = evaluate(scene.predictions, scene.truth, config)
    for label in ("car", "pedestrian"):
        expected = _motmetrics(scene, label, match_distance=1.0, score_threshold=0.5)
        for field, name in MOT_FIELDS.items():
            assert getattr(result.tracking.classes[label], name) == pytest.approx(float(expected[field]), abs=1e-9), (label, field)


def _trackeval_hota(scene, label, settings=TrackingSettings()):
    data = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    truth_ids: dict[str, int] = {}
    tracker_ids: dict[str, int] = {}
    for truth_frame, prediction_frame in zip(scene.truth, scene.predictions):
        truth, truth_boxes = _boxes(truth_frame, label)
        predictions, prediction_boxes = _boxes(prediction_frame, label)
        data["gt_ids"].append(np.array([truth_ids.setdefault(cuboid.track_id, len(truth_ids)) for cuboid in truth], dtype=int))
        data["tracker_ids"].append(np.array([tracker_ids.setdefault(cuboid.track_id, len(tracker_ids)) for cuboid in predictions], dtype=int))
        data["similarity_scores"].append(hota_similarity(truth_boxes, prediction_boxes, settings))
    data["num_gt_dets"] = sum(len(ids) for ids in data["gt_ids"])
    data["num_tracker_dets"] = sum(len(ids) for ids in data["tracker_ids"])
    data["num_gt_ids"], data["num_tracker_ids"] = len(truth_ids), len(tracker_ids)
    return HOTA().eval_sequence(data)


def test_hota_equals_trackeval(scene, result):
    per_class = {}
    for label in result.classes:
        expected = per_class[label] = _trackeval_hota(scene, label)
        ours = result.tracking.classes[label]
        np.testing.assert_allclose(ours.hota_by_alpha, expected["HOTA"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours.deta_by_alpha, expected["DetA"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours.assa_by_alpha, expected["AssA"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours.loca_by_alpha, expected["LocA"], rtol=0, atol=1e-9)
        assert ours.hota == pytest.approx(float(np.mean(expected["HOTA"])), abs=1e-9)
    combined = HOTA().combine_classes_class_averaged(per_class)
    assert result.tracking.hota == pytest.approx(float(np.mean(combined["HOTA"])), abs=1e-9)
    assert result.tracking.assa == pytest.approx(float(np.mean(combined["AssA"])), abs=1e-9)


@pytest.mark.parametrize("similarity", ["center_distance", "iou_bev"])
def test_hota_with_other_similarities_equals_trackeval(scene, similarity):
    settings = TrackingSettings(hota_similarity=similarity)
    result = evaluate(scene.predictions, scene.truth, EvaluationConfig(tracking=settings))
    for label in ("car", "cyclist"):
        expected = _trackeval_hota(scene, label, settings)
        np.testing.assert_allclose(result.tracking.classes[label].hota_by_alpha, expected["HOTA"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(result.tracking.classes[label].loca_by_alpha, expected["LocA"], rtol=0, atol=1e-9)


@pytest.mark.slow
def test_amota_and_amotp_equal_nuscenes_devkit(scene, result):
    config = tracking_config()
    scores = defaultdict(list)
    for frame in scene.predictions:
        for cuboid in frame:
            scores[cuboid.track_id].append(cuboid.score)
    track_scores = {track: float(np.mean(values)) for track, values in scores.items()}
    for label in result.classes:
        evaluation = TrackingEvaluation(
            tracking_tracks(scene.truth, label, truth=True),
            tracking_tracks(scene.predictions, label, truth=False, track_scores=track_scores),
            NUSCENES_NAMES[label], center_distance, config.dist_th_tp, config.min_recall, config.num_thresholds,
            config.metric_worst, verbose=False,
        )
        metric_data = evaluation.accumulate()
        ours = result.tracking.classes[label]
        np.testing.assert_allclose(ours.motar_by_threshold, metric_data.motar, rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours.motp_by_threshold, metric_data.motp, rtol=0, atol=1e-9)
        # The devkit's AMOTA / AMOTP (TrackingEval.evaluate): unreached recalls take the worst value.
        for name, series in (("amota", "motar"), ("amotp", "motp")):
            values = np.array(metric_data.get_metric(series))
            values[np.isnan(values)] = config.metric_worst[name]
            assert getattr(ours, name) == pytest.approx(float(np.mean(values)), abs=1e-9), (label, name)


def test_tracking_values_are_pinned(result):
    tracking = result.tracking
    assert tracking.mota == pytest.approx(0.552, abs=1e-12)
    assert tracking.motp == pytest.approx(0.39501666125456025, abs=1e-12)
    assert tracking.idf1 == pytest.approx(0.5503184713375796, abs=1e-12)
    assert (tracking.id_switches, tracking.fragmentations) == (42, 82)
    assert tracking.hota == pytest.approx(0.278819621913568, abs=1e-12)
    assert tracking.amota == pytest.approx(0.7218563144195427, abs=1e-12)
    assert tracking.amotp == pytest.approx(0.7494596057978143, abs=1e-12)
