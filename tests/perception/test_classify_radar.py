"""avlabel.perception.classify (table-driven class and score) and radar (Doppler velocity)."""

from __future__ import annotations

import numpy as np
import pytest

from avlabel.perception.classify import ClusterFeatures, classify
from avlabel.perception.radar import associate, radar_in_ego
from avlabel.perception.settings import ClassConfig, PerceptionConfig
from avlabel.structs import Calibration, RadarScan


def features(rows: list[tuple[float, float, float, float, int, float, float]]) -> ClusterFeatures:
    """rows of (length, width, height, bottom, points, range, edge_fraction)."""
    array = np.array(rows, dtype=np.float64).reshape(-1, 7)
    return ClusterFeatures(*(array[:, column] for column in range(7)), intensity=np.full(len(array), 0.5))


CONFIG = PerceptionConfig()


def test_shapes_get_their_class():
    result = classify(
        features([
            (4.3, 1.8, 1.55, 0.25, 300, 12.0, 0.95),  # a car, L-shape
            (1.8, 0.2, 1.5, 0.3, 120, 15.0, 1.0),  # a car seen end-on: its width is what shows
            (0.5, 0.4, 1.75, 0.2, 80, 9.0, 1.0),  # a pedestrian
            (9.0, 2.4, 3.4, 0.4, 900, 20.0, 0.9),  # a truck
            (25.0, 0.6, 6.0, 0.2, 3000, 14.0, 1.0),  # a wall: nothing
            (3.0, 2.8, 2.0, 2.4, 400, 10.0, 0.4),  # a canopy: floating, foliage
        ]),
        CONFIG.classes,
        CONFIG.score,
    )
    labels = [result.names[index] for index in result.label]
    assert labels[:4] == ["car", "car", "pedestrian", "truck"]
    assert result.swapped[1] and not result.swapped[0]
    assert result.score[:4].min() > 0.5
    assert result.score[4] < 0.05 and result.score[5] < 0.05


def test_a_cyclist_is_rougher_than_a_car_yet_no_bush():
    # Spokes, wheels and a rider are rough along the scan lines (ring points 5 cm off their
    # neighbours' chord), though far less than foliage; a bush is no taller than a metre or so.
    rows = features([
        (1.75, 0.5, 1.8, 0.25, 60, 20.0, 0.9),  # a cyclist seen side-on
        (1.8, 0.9, 1.1, 0.25, 60, 20.0, 0.9),  # a bush of about the same footprint
    ])
    rows = ClusterFeatures(**{**{name: getattr(rows, name) for name in ClusterFeatures.__dataclass_fields__}, "roughness": np.array([0.05, 0.05])})
    result = classify(rows, CONFIG.classes, CONFIG.score)
    assert result.names[result.label[0]] == "cyclist" and result.score[0] > 0.5
    assert result.names[result.label[1]] != "cyclist" or result.score[1] < CONFIG.min_score


def test_few_points_far_away_are_as_good_as_many_near_by():
    # A car's L-shape of 20 points: far away that may be all a 64-beam scanner returns, at
    # 12 m it is a scrap. Beyond support_reference_range a point weighs (range / it) ** power.
    reference_range = CONFIG.score.support_reference_range
    rows = [(4.3, 1.8, 1.55, 0.25, 20, distance, 0.95) for distance in (12.0, reference_range, 1.5 * reference_range)]
    near, reference, far = classify(features(rows), CONFIG.classes, CONFIG.score).score
    # (other terms change a little with range: the height envelope widens with beam spacing)
    assert near == pytest.approx(reference, rel=0.01) and far > 1.2 * reference
    weight = 1.5 ** CONFIG.score.support_range_power
    same = classify(features([(4.3, 1.8, 1.55, 0.25, 20 * weight, 12.0, 0.95)]), CONFIG.classes, CONFIG.score).score[0]
    assert far == pytest.approx(same, rel=0.01)
    flat = CONFIG.score.model_copy(update={"support_range_power": 0.0})
    near, _, far = classify(features(rows), CONFIG.classes, flat).score
    assert far == pytest.approx(near, rel=0.01)


def test_score_rises_with_support():
    counts = [3, 8, 20, 60, 200]
    result = classify(features([(4.3, 1.8, 1.55, 0.25, count, 12.0, 0.95) for count in counts]), CONFIG.classes, CONFIG.score)
    assert (np.diff(result.score) > 0).all()
    assert ((result.score >= 0) & (result.score <= 1)).all()


def test_the_table_is_the_only_source_of_classes():
    only_bins = {"other": ClassConfig(length=1.0, width=0.7, height=1.2, min_length=0.5, max_length=1.5, min_width=0.4, max_width=1.0, min_height=0.8, max_height=1.6)}
    result = classify(features([(0.9, 0.6, 1.1, 0.1, 50, 8.0, 0.9), (4.3, 1.8, 1.55, 0.25, 300, 12.0, 0.95)]), only_bins, CONFIG.score)
    assert result.names == ("other",) and result.score[0] > 0.3 and result.score[1] < 0.05
    with pytest.raises(ValueError, match="empty"):
        classify(features([]), {}, CONFIG.score)
    with pytest.raises(ValueError, match="unknown class"):
        PerceptionConfig(classes={"bus": only_bins["other"]})


def test_empty_input():
    result = classify(features([]), CONFIG.classes, CONFIG.score)
    assert result.label.shape == (0,) and result.score.shape == (0,)


def radar_pair(positions: np.ndarray, velocities: np.ndarray, ego_velocity: np.ndarray, sensor=np.array([3.5, 0.0, 0.5])):
    """Detections of targets at ego-frame positions moving with velocities (over ground),
    seen by a radar at `sensor` on an ego moving with ego_velocity (ego frame)."""
    calibration = Calibration("radar_front", "radar", np.array([[1, 0, 0, sensor[0]], [0, 1, 0, sensor[1]], [0, 0, 1, sensor[2]], [0, 0, 0, 1.0]]))
    rays = positions - sensor
    unit = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    radial = ((velocities - ego_velocity) * unit).sum(axis=1)
    sensor_frame = np.column_stack([positions - sensor, radial, np.full(len(positions), 10.0)]).astype(np.float32)
    return radar_in_ego(RadarScan("radar_front", 0, sensor_frame), calibration)


def test_doppler_is_compensated_for_ego_motion():
    ego_velocity = np.array([12.0, 0.0, 0.0])
    centres = np.array([[30.0, 3.0], [40.0, -3.5], [25.0, 10.0]])
    yaw = np.array([0.0, np.pi, 0.05])
    target_velocity = np.array([[0.0, 0.0, 0.0], [-8.0, 0.0, 0.0], [5.0 * np.cos(0.05), 5.0 * np.sin(0.05), 0.0]])
    positions = np.column_stack([centres, np.full(3, 0.8)]) + np.array([-2.0, 0.0, 0.0])
    pair = radar_pair(positions, target_velocity, ego_velocity)
    evidence = associate([pair], centres, np.full(3, 4.5), np.full(3, 1.9), yaw, ego_velocity, gate=1.0)
    assert evidence.detections.tolist() == [1, 1, 1]
    np.testing.assert_allclose(evidence.velocity, target_velocity[:, :2], atol=1e-4)


def test_detections_far_from_every_box_are_ignored():
    pair = radar_pair(np.array([[60.0, 20.0, 0.5]]), np.zeros((1, 3)), np.zeros(3))
    evidence = associate([pair], np.array([[10.0, 0.0]]), np.array([4.5]), np.array([1.9]), np.zeros(1), np.zeros(3), gate=1.0)
    assert evidence.detections[0] == 0 and np.isnan(evidence.velocity).all()
