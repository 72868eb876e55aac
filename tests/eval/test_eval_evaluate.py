"""The evaluation entry points: edge cases, don't-care regions, ranges and bands, files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from tinylog import write_tiny_log
from pydantic import ValidationError

from eval_fixtures import result, scene  # noqa: F401 (fixtures)
from avlabel.eval.evaluate import evaluate, evaluate_paths
from avlabel.eval.settings import DetectionSettings, EvaluationConfig
from avlabel.io import InputError, read_labels, write_labels
from avlabel.io.logstore import DriveLog
from avlabel.structs import Cuboid, LabelFrame, Labels, PoseSeries

STAMPS = [1_000_000 + 100_000 * index for index in range(5)]


def _cuboid(name, track, label, x, y, *, yaw=0.0, score=0.9, size=(4.5, 1.9, 1.6), source="auto", **attributes):
    return Cuboid(name, track, label, (x, y, 0.8), size, yaw, score=score, source=source, velocity=(1.0, 0.0), attributes=attributes)


def _labels(per_frame, stamps=STAMPS):
    return Labels(tuple(LabelFrame(stamp, tuple(per_frame(index))) for index, stamp in enumerate(stamps)))


def _truth():
    return _labels(lambda index: [
        _cuboid(f"c{index}", "car", "car", 10.0 + index, 0.0, source="truth"),
        _cuboid(f"p{index}", "walker", "pedestrian", 5.0, 4.0, size=(0.7, 0.7, 1.8), source="truth"),
    ])


def test_headline_and_json_types(result):
    headline = result.headline()
    assert set(headline) == {"mAP", "NDS", "AP", "MOTA", "HOTA", "IDF1", "AMOTA", "no_edit_share", "edits_per_track"}
    assert set(headline["AP"]) == {"car", "cyclist", "pedestrian", "truck"}
    document = result.to_dict()
    text = json.dumps(document, allow_nan=False)  # plain JSON types only, NaN as null
    assert json.loads(text)["headline"] == headline
    assert document["detection"]["classes"]["car"]["ap"].keys() == {"0.5", "1", "2", "4"}
    assert len(document["tracking"]["classes"]["car"]["hota_by_alpha"]) == 19
    assert result.effort.no_edit_share == pytest.approx(0.284, abs=1e-12)
    assert result.effort.edits_per_track == pytest.approx(20.04, abs=1e-12)


def test_perfect_predictions_score_one():
    truth = _truth()
    result = evaluate(truth, truth)
    assert result.detection.mean_ap == pytest.approx(1.0) and result.detection.nd_score == pytest.approx(1.0)
    # No attributes in the truth: attr_err is undefined (not 1) and left out of NDS.
    assert math.isnan(result.detection.tp_errors["attr_err"]) and math.isnan(result.detection.tp_scores["attr_err"])
    assert result.detection.tp_errors["vel_err"] == pytest.approx(0.0)
    # An attribute wrong on every box: attr_err 1 and NDS (5 + 4) / 10.
    truth_with = _labels(lambda index: [_cuboid(f"c{index}", "car", "car", 10.0 + index, 0.0, source="truth", attribute="vehicle.moving")])
    labels_with = _labels(lambda index: [_cuboid(f"c{index}", "car", "car", 10.0 + index, 0.0, attribute="vehicle.parked")])
    assert evaluate(truth_with, truth_with).detection.nd_score == pytest.approx(1.0)
    assert evaluate(labels_with, truth_with).detection.nd_score == pytest.approx(0.9)
    assert result.tracking.mota == 1.0 and result.tracking.idf1 == 1.0 and result.tracking.hota == pytest.approx(1.0)
    assert result.tracking.amota == pytest.approx(1.0) and result.tracking.amotp == pytest.approx(0.0)
    assert result.effort.no_edit_share == 1.0 and result.effort.total_edits == 0


def test_no_predictions():
    truth = _truth()
    result = evaluate(Labels(), truth)
    assert result.detection.mean_ap == 0.0 and result.detection.nd_score == 0.0
    assert result.tracking.mota == 0.0 and result.tracking.idf1 == 0.0 and result.tracking.hota == 0.0
    assert math.isnan(result.tracking.motp)
    assert result.tracking.amota == 0.0 and result.tracking.amotp == 2.0  # nuScenes' worst values
    assert result.effort.no_edit_share == 0.0 and result.effort.created_tracks == 2
    # Drawn from keyframes: the moving car needs its first and last, the standing walker one.
    assert result.effort.edits_per_track == pytest.approx(1.5)
    json.dumps(result.to_dict(), allow_nan=False)


def test_no_truth():
    predictions = _truth()
    empty_truth = _labels(lambda index: [])
    result = evaluate(predictions, empty_truth)
    assert result.classes == ("car", "pedestrian")
    assert result.detection.classes["car"].ap == {0.5: 0.0, 1.0: 0.0, 2.0: 0.0, 4.0: 0.0}
    assert result.detection.mean_ap == 0.0
    assert math.isnan(result.tracking.mota) and math.isnan(result.tracking.amota)
    assert math.isnan(result.effort.no_edit_share) and result.effort.deleted_tracks == 2
    headline = json.loads(json.dumps(result.headline(), allow_nan=False))
    assert headline["MOTA"] is None and headline["AMOTA"] is None
    # Nothing at all.
    nothing = evaluate(Labels(), Labels())
    assert nothing.classes == () and math.isnan(nothing.detection.mean_ap)


def test_class_present_on_one_side_only():
    truth = _truth()
    predictions = _labels(lambda index: [
        _cuboid(f"c{index}", "car", "car", 10.0 + index, 0.0),
        _cuboid(f"t{index}", "lorry", "truck", 30.0, 0.0),
    ])
    result = evaluate(predictions, truth)
    assert result.classes == ("car", "pedestrian", "truck")
    assert result.detection.classes["car"].mean_ap == pytest.approx(1.0)
    assert result.detection.classes["pedestrian"].mean_ap == 0.0  # truth only: all missed
    assert result.detection.classes["truck"].mean_ap == 0.0  # predictions only: all false
    assert result.detection.classes["truck"].num_truth == 0
    assert result.detection.mean_ap == pytest.approx(1.0 / 3.0)
    assert math.isnan(result.tracking.classes["truck"].amota) and result.tracking.classes["truck"].false_positives == 5
    # A configured class list drops other labels from both sides.
    only_cars = evaluate(predictions, truth, EvaluationConfig(classes=("car",)))
    assert only_cars.classes == ("car",) and only_cars.detection.mean_ap == pytest.approx(1.0)


def test_headings_at_plus_and_minus_pi_agree():
    truth = _labels(lambda index: [_cuboid(f"c{index}", "car", "car", 10.0, 0.0, yaw=math.pi - 1e-9, source="truth")])
    predictions = _labels(lambda index: [_cuboid(f"c{index}", "car", "car", 10.0, 0.0, yaw=-math.pi + 1e-9)])
    result = evaluate(predictions, truth)
    assert result.detection.classes["car"].tp_errors["orient_err"] == pytest.approx(0.0, abs=1e-8)
    assert result.detection.classes["car"].ap_3d > 0 and result.effort.no_edit_share == 1.0
    turned = _labels(lambda index: [_cuboid(f"c{index}", "car", "car", 10.0, 0.0, yaw=0.0)])
    assert evaluate(turned, truth).detection.classes["car"].tp_errors["orient_err"] == pytest.approx(math.pi, abs=1e-8)
    # A class with a half-turn heading period does not count the turn.
    half = EvaluationConfig(detection=DetectionSettings(orientation_period_turns={"car": 0.5}))
    assert evaluate(turned, truth, half).detection.classes["car"].tp_errors["orient_err"] == pytest.approx(0.0, abs=1e-8)


def test_zero_size_boxes_are_rejected():
    with pytest.raises(ValueError, match="size: length, width and height must be > 0"):
        _cuboid("z", "z", "car", 0.0, 0.0, size=(4.0, 0.0, 1.5))


@pytest.mark.parametrize("mark", ["label", "attribute"])
def test_predictions_in_dont_care_regions_are_neither_true_nor_false(mark):
    region = (
        _cuboid("r", "region", "ignore", 40.0, 0.0, size=(12.0, 8.0, 3.0), source="truth")
        if mark == "label"
        else _cuboid("r", "region", "car", 40.0, 0.0, size=(12.0, 8.0, 3.0), source="truth", ignore=True)
    )
    truth = Labels(tuple(LabelFrame(frame.timestamp_us, (*frame.cuboids, region)) for frame in _truth()))
    clean = _labels(lambda index: [
        _cuboid(f"c{index}", "car", "car", 10.0 + index, 0.0, score=0.5),
        _cuboid(f"p{index}", "walker", "pedestrian", 5.0, 4.0, size=(0.7, 0.7, 1.8), score=0.5),
    ])
    # Parked cars in the region, scored above the real detections.
    cluttered = Labels(tuple(
        LabelFrame(frame.timestamp_us, (*frame.cuboids, _cuboid(f"x{index}", f"x{index}", "car", 41.0, 1.0, score=0.95)))
        for index, frame in enumerate(clean)
    ))
    with_region = evaluate(cluttered, truth)
    assert with_region.ignore_regions == 5 and with_region.truth_cuboids == 10
    assert with_region.detection.mean_ap == pytest.approx(evaluate(clean, truth).detection.mean_ap)
    assert with_region.detection.classes["car"].mean_ap == pytest.approx(1.0)
    assert with_region.detection.classes["car"].ap_3d == evaluate(clean, truth).detection.classes["car"].ap_3d
    assert with_region.tracking.classes["car"].false_positives == 0 and with_region.tracking.mota == 1.0
    assert with_region.effort.deleted_tracks == 0
    # Without the region the parked cars are false positives ranked first.
    plain_truth = _truth()
    assert evaluate(cluttered, plain_truth).detection.classes["car"].mean_ap < 0.9


def test_range_filter_and_distance_bands_use_the_poses():
    stamps = np.array(STAMPS, dtype=np.int64)
    world_from_ego = np.tile(np.eye(4), (len(stamps), 1, 1))
    world_from_ego[:, 0, 3] = 100.0  # the ego sits at x = 100
    poses = PoseSeries(stamps, world_from_ego)
    truth = _labels(lambda index: [
        _cuboid(f"n{index}", "near", "car", 110.0, 0.0, source="truth"),  # 10 m
        _cuboid(f"m{index}", "mid", "car", 100.0, 30.0, source="truth"),  # 30 m
        _cuboid(f"f{index}", "far", "car", 100.0, -70.0, source="truth"),  # 70 m: beyond the car range (50 m)
        _cuboid(f"t{index}", "lorry", "truck", 100.0, 75.0, source="truth"),  # only beyond its range: not a class here
    ])
    predictions = _labels(lambda index: [_cuboid(f"n{index}", "near", "car", 110.0, 0.0)])
    with_poses = evaluate(predictions, truth, world_from_ego=poses)
    assert with_poses.poses_used and with_poses.detection.classes["car"].num_truth == 10
    assert with_poses.classes == ("car",)
    bands = {(band.lower_m, band.upper_m): band for band in with_poses.detection.distance_bands}
    assert bands[(0.0, 20.0)].ap["car"] == pytest.approx(1.0) and bands[(20.0, 40.0)].ap["car"] == 0.0
    assert math.isnan(bands[(40.0, 60.0)].ap["car"]) and bands[(60.0, math.inf)].num_truth == 0
    without = evaluate(predictions, truth)
    assert not without.poses_used and without.detection.classes["car"].num_truth == 15 and without.detection.distance_bands == ()
    assert without.classes == ("car", "truck")


def test_a_prediction_frame_without_truth_is_one_clear_line():
    truth = _truth()
    predictions = _labels(lambda index: [], stamps=[STAMPS[0], 1_234_567])
    with pytest.raises(InputError, match=r"^predictions: frame timestamp_us=1234567 has no truth frame .*same log$"):
        evaluate(predictions, truth)
    with pytest.raises(ValueError, match="expected predictions and truth as avlabel Labels"):
        evaluate([], truth)
    with pytest.raises(ValueError, match="expected an EvaluationConfig"):
        evaluate(truth, truth, {"classes": ["car"]})


def test_settings_are_validated_with_advice():
    with pytest.raises(ValidationError, match="must be one of distance_thresholds_m"):
        DetectionSettings(tp_distance_threshold_m=3.0)
    with pytest.raises(ValidationError, match="either evaluated or a don't-care region"):
        EvaluationConfig(classes=("car", "ignore"))
    with pytest.raises(ValidationError, match="unknown TP error"):
        DetectionSettings(skipped_tp_errors={"car": ("speed_err",)})
    with pytest.raises(ValidationError, match="strictly increasing"):
        EvaluationConfig(distance_band_edges_m=(0.0, 40.0, 20.0))


def test_evaluate_paths_with_labels_files(tmp_path, scene):
    write_labels(tmp_path / "truth.json", scene.truth)
    write_labels(tmp_path / "pred.json", scene.predictions)
    result = evaluate_paths(tmp_path / "pred.json", tmp_path / "truth.json", json_path=tmp_path / "out" / "eval.json")
    document = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert document["schema"] == "avlabel.evaluation/1"
    assert document["headline"] == result.headline()
    assert result.detection.mean_ap == pytest.approx(0.6853009777282056, abs=1e-12)
    assert not list((tmp_path / "out").glob("*.partial"))


def test_evaluate_paths_with_a_drive_log(tmp_path):
    log = write_tiny_log(tmp_path / "tiny.h5")
    with DriveLog(log) as opened:
        truth = opened.truth()
    write_labels(tmp_path / "pred.json", truth)
    result = evaluate_paths(tmp_path / "pred.json", log)
    assert result.poses_used and result.detection.mean_ap == pytest.approx(1.0)
    assert len(result.detection.distance_bands) == 4
    bare = write_tiny_log(tmp_path / "bare.h5", truth=False)
    with pytest.raises(InputError, match=r"bare.h5: truth/cuboids: the log has no ground truth"):
        evaluate_paths(tmp_path / "pred.json", bare)
    stray = Labels((LabelFrame(42, ()),))
    write_labels(tmp_path / "stray.json", stray)
    with pytest.raises(InputError, match=r"stray.json: predictions: frame timestamp_us=42 has no truth frame"):
        evaluate_paths(tmp_path / "stray.json", log)
    with pytest.raises(InputError, match="no such file"):
        evaluate_paths(tmp_path / "missing.json", log)
    assert read_labels(tmp_path / "pred.json").num_cuboids() == truth.num_cuboids()


def test_truth_with_too_few_points_is_left_out():
    truth = _labels(lambda index: [
        Cuboid(f"c{index}", "car", "car", (10.0, 0.0, 0.8), (4.5, 1.9, 1.6), 0.0, source="truth", num_points=50),
        Cuboid(f"h{index}", "hidden", "car", (30.0, 0.0, 0.8), (4.5, 1.9, 1.6), 0.0, source="truth", num_points=0),
    ])
    predictions = _labels(lambda index: [_cuboid(f"c{index}", "car", "car", 10.0, 0.0)])
    assert evaluate(predictions, truth).detection.classes["car"].num_truth == 10
    strict = evaluate(predictions, truth, EvaluationConfig(min_truth_points=1))
    assert strict.detection.classes["car"].num_truth == 5 and strict.detection.mean_ap == pytest.approx(1.0)
    assert strict.tracking.mota == 1.0


def test_an_error_no_truth_defines_stays_undefined_beside_an_empty_class():
    truth = _truth()  # no attributes anywhere
    predictions = _labels(lambda index: [
        _cuboid(f"c{index}", "car", "car", 10.0 + index, 0.0),
        _cuboid(f"t{index}", "lorry", "truck", 30.0, 0.0),  # a class without truth scores 1 on every error
    ])
    result = evaluate(predictions, truth)
    assert result.detection.classes["truck"].tp_errors["attr_err"] == 1.0
    assert math.isnan(result.detection.tp_errors["attr_err"])
    assert result.detection.tp_errors["trans_err"] == pytest.approx((0.0 + 1.0 + 1.0) / 3)
    scores = [score for score in result.detection.tp_scores.values() if not math.isnan(score)]
    assert len(scores) == 4
    assert result.detection.nd_score == pytest.approx((5 * result.detection.mean_ap + sum(scores)) / 9)
