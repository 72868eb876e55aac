"""Detection metrics against nuscenes-devkit's accumulate / calc_ap / calc_tp / DetectionMetrics,
fed the same boxes through its own data classes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from eval_reference import NUSCENES_NAMES, detection_boxes, detection_config
from nuscenes.eval.common.utils import center_distance
from nuscenes.eval.detection.algo import accumulate, calc_ap, calc_tp
from nuscenes.eval.detection.constants import TP_METRICS
from nuscenes.eval.detection.data_classes import DetectionMetrics

from eval_fixtures import result, scene  # noqa: F401 (fixtures)
from avlabel.eval.evaluate import evaluate
from avlabel.structs import LabelFrame, Labels

CURVE_FIELDS = ("recall", "precision", "confidence", "trans_err", "vel_err", "scale_err", "orient_err", "attr_err")


def _devkit_metrics(predictions: Labels, truth: Labels, classes: tuple[str, ...]):
    truth_boxes = detection_boxes(truth, truth=True)
    prediction_boxes = detection_boxes(predictions, truth=False)
    config = detection_config(list(classes))
    metrics = DetectionMetrics(config)
    curves = {}
    for label in classes:
        name = NUSCENES_NAMES[label]
        for threshold in config.dist_ths:
            curves[label, threshold] = accumulate(truth_boxes, prediction_boxes, name, center_distance, threshold)
            metrics.add_label_ap(name, threshold, calc_ap(curves[label, threshold], config.min_recall, config.min_precision))
        for metric in TP_METRICS:
            metrics.add_label_tp(name, metric, calc_tp(curves[label, config.dist_th_tp], config.min_recall, metric))
    return metrics, curves


def _assert_equal_to_devkit(result, predictions: Labels, truth: Labels) -> None:
    metrics, curves = _devkit_metrics(predictions, truth, result.classes)
    for (label, threshold), expected in curves.items():
        ours = result.detection.classes[label].curves[threshold]
        for name in CURVE_FIELDS:
            np.testing.assert_allclose(getattr(ours, name), getattr(expected, name), rtol=0, atol=1e-9, err_msg=f"{label} {threshold} {name}")
        assert result.detection.classes[label].ap[threshold] == pytest.approx(metrics.get_label_ap(NUSCENES_NAMES[label], threshold), abs=1e-9)
    for label in result.classes:
        for metric in TP_METRICS:
            assert result.detection.classes[label].tp_errors[metric] == pytest.approx(metrics.get_label_tp(NUSCENES_NAMES[label], metric), abs=1e-9)
    assert result.detection.mean_ap == pytest.approx(metrics.mean_ap, abs=1e-9)
    for metric in TP_METRICS:
        assert result.detection.tp_errors[metric] == pytest.approx(metrics.tp_errors[metric], abs=1e-9)
    assert result.detection.nd_score == pytest.approx(metrics.nd_score, abs=1e-9)


def test_detection_equals_nuscenes_devkit(scene, result):
    assert result.classes == ("car", "cyclist", "pedestrian", "truck")
    assert result.truth_cuboids == 750 and result.prediction_cuboids > 750
    _assert_equal_to_devkit(result, scene.predictions, scene.truth)


def test_detection_equals_devkit_with_tied_scores(scene):
    """Scores rounded to one decimal: many ties, which the devkit breaks by input order."""
    frames = []
    for frame in scene.predictions:
        cuboids = tuple(dataclasses.replace(cuboid, score=round(cuboid.score, 1)) for cuboid in frame)
        frames.append(LabelFrame(frame.timestamp_us, cuboids))
    predictions = Labels(tuple(frames))
    _assert_equal_to_devkit(evaluate(predictions, scene.truth), predictions, scene.truth)


def test_missing_velocities_and_attributes_follow_the_devkit(scene):
    """Truth without velocity or attribute (NaN errors dropped from the running means)."""
    frames = []
    for index, frame in enumerate(scene.truth):
        cuboids = tuple(
            dataclasses.replace(cuboid, velocity=None, attributes={}) if (position + index) % 3 == 0 else cuboid
            for position, cuboid in enumerate(frame)
        )
        frames.append(LabelFrame(frame.timestamp_us, cuboids))
    truth = Labels(tuple(frames))
    _assert_equal_to_devkit(evaluate(scene.predictions, truth), scene.predictions, truth)


def test_detection_values_are_pinned(result):
    """Exact values on the fixed scene (they change only if the metric changes)."""
    assert result.detection.mean_ap == pytest.approx(0.6853009777282056, abs=1e-12)
    assert result.detection.nd_score == pytest.approx(0.7073356085582204, abs=1e-12)
    assert result.detection.classes["car"].ap[0.5] == pytest.approx(0.5666949329697787, abs=1e-12)
    assert result.detection.tp_errors["trans_err"] == pytest.approx(0.24857997734561788, abs=1e-12)
