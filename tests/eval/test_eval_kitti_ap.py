"""KITTI-style (R40) 3D / BEV AP: the numba statistics kernel against a slow, obvious
twin of KITTI's procedure, and pinned values on hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest

from eval_fixtures import result, scene  # noqa: F401 (fixtures)
from avlabel.eval.evaluate import evaluate
from avlabel.eval.settings import DetectionSettings, EvaluationConfig
from avlabel.geometry.iou import pairwise_bev_iou, pairwise_iou_3d
from avlabel.structs import Cuboid, LabelFrame, Labels


def _twin_ap(truth_frames, prediction_frames, min_overlap, kind="3d", positions=40):
    """KITTI's eval_class for one class and no difficulty levels, written out plainly.
    truth_frames: list of (n, 7) boxes; prediction_frames: list of ((m, 7) boxes, (m,) scores)."""
    measure = pairwise_iou_3d if kind == "3d" else pairwise_bev_iou
    overlaps = [measure(boxes, truth) for truth, (boxes, _) in zip(truth_frames, prediction_frames)]
    num_truth = sum(len(truth) for truth in truth_frames)

    def frame_statistics(overlap, scores, threshold, compute_fp):
        assigned = [False] * len(scores)
        tp = fp = fn = 0
        matched = []
        for truth in range(overlap.shape[1]):
            best, best_value = None, None
            for prediction in range(len(scores)):
                if assigned[prediction] or (compute_fp and scores[prediction] < threshold):
                    continue
                if overlap[prediction, truth] <= min_overlap:
                    continue
                value = overlap[prediction, truth] if compute_fp else scores[prediction]
                if best_value is None or value > best_value:
                    best, best_value = prediction, value
            if best is None:
                fn += 1
            else:
                tp += 1
                matched.append(scores[best])
                assigned[best] = True
        if compute_fp:
            fp = sum(1 for prediction in range(len(scores)) if not assigned[prediction] and scores[prediction] >= threshold)
        return tp, fp, fn, matched

    scores = []
    for overlap, (_, frame_scores) in zip(overlaps, prediction_frames):
        scores += frame_statistics(overlap, frame_scores, 0.0, False)[3]
    scores = sorted(scores, reverse=True)
    thresholds, current = [], 0.0
    for index, score in enumerate(scores):
        left = (index + 1) / num_truth
        right = (index + 2) / num_truth if index < len(scores) - 1 else left
        if (right - current) < (current - left) and index < len(scores) - 1:
            continue
        thresholds.append(score)
        current += 1 / positions
    precision = [0.0] * (positions + 1)
    for index, threshold in enumerate(thresholds):
        tp = fp = 0
        for overlap, (_, frame_scores) in zip(overlaps, prediction_frames):
            frame_tp, frame_fp, _, _ = frame_statistics(overlap, frame_scores, threshold, True)
            tp, fp = tp + frame_tp, fp + frame_fp
        precision[index] = tp / (tp + fp)
    for index in range(len(thresholds)):
        precision[index] = max(precision[index:])
    return sum(precision[1:]) / positions


def _per_class_frames(scene, label):
    truth_frames, prediction_frames = [], []
    for truth_frame, prediction_frame in zip(scene.truth, scene.predictions):
        truth_frames.append(np.array([cuboid.box for cuboid in truth_frame if cuboid.label == label]).reshape(-1, 7))
        predictions = [cuboid for cuboid in prediction_frame if cuboid.label == label]
        prediction_frames.append((np.array([cuboid.box for cuboid in predictions]).reshape(-1, 7), np.array([cuboid.score for cuboid in predictions])))
    return truth_frames, prediction_frames


@pytest.mark.parametrize("label", ["car", "pedestrian"])
def test_kitti_ap_equals_the_slow_twin(scene, result, label):
    truth_frames, prediction_frames = _per_class_frames(scene, label)
    threshold_3d = DetectionSettings().iou_threshold(label, "3d")
    assert result.detection.classes[label].ap_3d == pytest.approx(_twin_ap(truth_frames, prediction_frames, threshold_3d, "3d"), abs=1e-12)
    assert result.detection.classes[label].ap_bev == pytest.approx(_twin_ap(truth_frames, prediction_frames, threshold_3d, "bev"), abs=1e-12)
    # A looser threshold, so that the sweep has many thresholds.
    loose = EvaluationConfig(detection=DetectionSettings(iou_threshold_3d={label: 0.1}))
    assert evaluate(scene.predictions, scene.truth, loose).detection.classes[label].ap_3d == pytest.approx(
        _twin_ap(truth_frames, prediction_frames, 0.1, "3d"), abs=1e-12
    )


def _labels(frames, source="truth"):
    return Labels(tuple(
        LabelFrame(1000 + index, tuple(
            Cuboid(f"{source}{index}-{number}", f"{source}{number}", "car", box[:3], box[3:6], box[6], score=score, source=source)
            for number, (box, score) in enumerate(frame)
        ))
        for index, frame in enumerate(frames)
    ))


def _car(x, y, score=1.0, yaw=0.0):
    return (np.array([x, y, 0.8, 4.5, 1.9, 1.6, yaw]), score)


def test_kitti_ap_pinned_cases():
    frames = 50
    truth = _labels([[_car(0, 5 * index), _car(10, 5 * index)] for index in range(frames)])
    scores = np.linspace(0.99, 0.01, 2 * frames)
    perfect = _labels([[_car(0, 5 * index, scores[2 * index]), _car(10, 5 * index, scores[2 * index + 1])] for index in range(frames)], "auto")
    assert evaluate(perfect, truth).detection.classes["car"].ap_3d == pytest.approx(1.0)
    # Half found, no false positive: precision 1 up to recall 0.5, so 20 of the 40 positions.
    half = _labels([[_car(0, 5 * index, scores[index])] for index in range(frames)], "auto")
    assert evaluate(half, truth).detection.classes["car"].ap_3d == pytest.approx(20 / 40)
    # Shifted by 1.5 m along the length: 3D IoU 3 / 6 = 0.5, not above the car's 0.7.
    shifted = _labels([[_car(1.5, 5 * index, scores[2 * index]), _car(11.5, 5 * index, scores[2 * index + 1])] for index in range(frames)], "auto")
    result = evaluate(shifted, truth)
    assert result.detection.classes["car"].ap_3d == 0.0
    assert result.detection.classes["car"].ap[0.5] == 0.0 and result.detection.classes["car"].ap[2.0] == pytest.approx(1.0)


def test_kitti_ap_of_few_matches_cannot_reach_one():
    """KITTI's quirk, kept: one score threshold per matched prediction at most, so 4 perfect
    matches fill 4 of the 41 sample points and AP R40 is 3 / 40."""
    truth = _labels([[_car(0, 0), _car(10, 0)], [_car(0, 5), _car(10, 5)]])
    perfect = _labels([[_car(0, 0, 0.9), _car(10, 0, 0.8)], [_car(0, 5, 0.7), _car(10, 5, 0.6)]], "auto")
    assert evaluate(perfect, truth).detection.classes["car"].ap_3d == pytest.approx(3 / 40)
