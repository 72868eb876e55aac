"""Rotated-box overlap kernels against their slow, obvious twin: shapely polygons."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import MultiPoint, Polygon

from avlabel.geometry.iou import (
    bev_giou,
    bev_iou,
    iou_3d,
    pairwise_bev_giou,
    pairwise_bev_intersection_area,
    pairwise_bev_iou,
    pairwise_center_distance,
    pairwise_iou_3d,
)
from avlabel.structs import box_corners


def _footprint(box: np.ndarray) -> Polygon:
    # Top corners 0, 4, 5, 1 go round the footprint (see avlabel.structs.cuboid).
    return Polygon(box_corners(box)[[0, 4, 5, 1], :2])


def _twin(first: np.ndarray, second: np.ndarray) -> dict[str, float]:
    """Intersection area, BEV IoU, 3D IoU and BEV GIoU of two boxes with shapely."""
    polygon_a, polygon_b = _footprint(first), _footprint(second)
    intersection = polygon_a.intersection(polygon_b).area
    union = polygon_a.area + polygon_b.area - intersection
    height = max(0.0, min(first[2] + first[5] / 2, second[2] + second[5] / 2) - max(first[2] - first[5] / 2, second[2] - second[5] / 2))
    volume = intersection * height
    hull = MultiPoint(np.vstack([np.asarray(polygon_a.exterior.coords), np.asarray(polygon_b.exterior.coords)])).convex_hull.area
    return {
        "area": intersection,
        "bev": intersection / union,
        "3d": volume / (first[3] * first[4] * first[5] + second[3] * second[4] * second[5] - volume),
        "giou": intersection / union - (hull - union) / hull,
    }


def _random_boxes(rng: np.random.Generator, count: int, spread: float, origin: float = 0.0) -> np.ndarray:
    return np.column_stack([
        rng.uniform(-spread, spread, (count, 2)) + origin, rng.uniform(-1, 1, count),
        rng.uniform(0.2, 6.0, (count, 3)), rng.uniform(-math.pi, math.pi, count),
    ])


def _special_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Identical boxes, yaw +-pi, touching (edge and corner), contained, disjoint, far away."""
    box = np.array([10.0, -3.0, 0.5, 4.0, 2.0, 1.5, 0.3])
    pairs = [
        (box, box),
        (np.array([0, 0, 0, 4, 2, 1.5, math.pi]), np.array([0, 0, 0, 4, 2, 1.5, -math.pi])),
        (np.array([0, 0, 0, 4, 2, 1.5, math.pi - 1e-12]), np.array([0.1, 0, 0, 4, 2, 1.5, -math.pi])),
        (np.array([0, 0, 0, 4, 2, 1.5, 0.0]), np.array([4, 0, 0, 4, 2, 1.5, 0.0])),  # share an edge
        (np.array([0, 0, 0, 4, 2, 1.5, 0.0]), np.array([4, 2, 0, 4, 2, 1.5, 0.0])),  # share a corner
        (np.array([0, 0, 0, 4, 2, 1.5, 0.0]), np.array([0, 0, 1.5, 4, 2, 1.5, 0.0])),  # stacked: touch in z
        (np.array([0, 0, 0, 4, 2, 1.5, 0.0]), np.array([0, 0, 0, 1, 1, 1, 0.7])),  # contained
        (np.array([0, 0, 0, 4, 2, 1.5, 0.0]), np.array([30, 5, 0, 4, 2, 1.5, 1.0])),  # disjoint
        (np.array([0, 0, 0, 4, 2, 1.5, math.pi / 4]), np.array([0, 0, 0, 4, 2, 1.5, -math.pi / 4])),  # crossed
        (np.array([4.5e3, -2.2e3, 30, 4.5, 1.9, 1.6, 2.0]), np.array([4.5e3 + 0.4, -2.2e3 + 0.3, 30.2, 4.4, 2.0, 1.5, 2.1])),
        (np.array([0, 0, 0, 1e-3, 1e-3, 1e-3, 0.2]), np.array([0, 0, 0, 1e-3, 1e-3, 1e-3, 1.0])),  # tiny
    ]
    return np.array([first for first, _ in pairs], dtype=float), np.array([second for _, second in pairs], dtype=float)


@pytest.mark.slow
def test_pairwise_measures_equal_shapely_on_thousands_of_random_pairs():
    rng = np.random.default_rng(7)
    first = np.vstack([_random_boxes(rng, 60, 4.0), _random_boxes(rng, 20, 3.0, origin=5e3)])
    second = np.vstack([_random_boxes(rng, 50, 4.0), _random_boxes(rng, 20, 3.0, origin=5e3)])
    measures = {
        "area": pairwise_bev_intersection_area(first, second),
        "bev": pairwise_bev_iou(first, second),
        "3d": pairwise_iou_3d(first, second),
        "giou": pairwise_bev_giou(first, second),
    }
    overlapping = 0
    for row in range(len(first)):
        for column in range(len(second)):
            expected = _twin(first[row], second[column])
            for name, values in measures.items():
                assert values[row, column] == pytest.approx(expected[name], abs=1e-9), (name, row, column)
            overlapping += expected["area"] > 0
    assert len(first) * len(second) == 5600
    assert overlapping > 1000  # the set exercises real intersections, not only rejections


def test_special_pairs_equal_shapely_and_known_values():
    first, second = _special_pairs()
    for measure, name in ((bev_iou, "bev"), (iou_3d, "3d"), (bev_giou, "giou")):
        values = measure(first, second)
        expected = [_twin(a, b)[name] for a, b in zip(first, second)]
        np.testing.assert_allclose(values, expected, atol=1e-9, rtol=0)
    bev = bev_iou(first, second)
    assert bev[0] == pytest.approx(1.0, abs=1e-12)  # identical
    assert bev[1] == pytest.approx(1.0, abs=1e-12)  # yaw +pi and -pi are one heading
    assert bev[3] == 0.0 and bev[4] == 0.0  # touching
    assert iou_3d(first, second)[5] == 0.0 and bev[5] == pytest.approx(1.0)  # stacked
    assert bev[6] == pytest.approx(1.0 / 8.0)  # 1 m^2 inside 8 m^2
    assert bev[7] == 0.0 and bev_giou(first, second)[7] < 0  # disjoint: GIoU below 0
    assert bev_giou(first, second)[0] == pytest.approx(1.0)


def test_paired_equals_pairwise_diagonal_and_is_symmetric():
    rng = np.random.default_rng(3)
    first, second = _random_boxes(rng, 40, 2.0), _random_boxes(rng, 40, 2.0)
    np.testing.assert_allclose(bev_iou(first, second), np.diag(pairwise_bev_iou(first, second)), atol=1e-12)
    np.testing.assert_allclose(iou_3d(first, second), np.diag(pairwise_iou_3d(first, second)), atol=1e-12)
    np.testing.assert_allclose(pairwise_iou_3d(first, second), pairwise_iou_3d(second, first).T, atol=1e-12)
    np.testing.assert_allclose(pairwise_bev_giou(first, second), pairwise_bev_giou(second, first).T, atol=1e-12)


def test_center_distance_is_the_bev_norm():
    rng = np.random.default_rng(4)
    first, second = _random_boxes(rng, 9, 20.0), _random_boxes(rng, 7, 20.0)
    expected = np.linalg.norm(first[:, None, :2] - second[None, :, :2], axis=2)
    np.testing.assert_allclose(pairwise_center_distance(first, second), expected, rtol=0, atol=1e-12)
    expected_3d = np.linalg.norm(first[:, None, :3] - second[None, :, :3], axis=2)
    np.testing.assert_allclose(pairwise_center_distance(first, second, dimensions=3), expected_3d, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="dimensions"):
        pairwise_center_distance(first, second, dimensions=4)


def test_empty_sets_give_empty_matrices():
    boxes = _random_boxes(np.random.default_rng(0), 3, 1.0)
    assert pairwise_bev_iou(np.zeros((0, 7)), boxes).shape == (0, 3)
    assert pairwise_iou_3d(boxes, np.zeros((0, 7))).shape == (3, 0)
    assert pairwise_bev_giou([], []).shape == (0, 0)
    assert bev_iou(np.zeros((0, 7)), np.zeros((0, 7))).shape == (0,)


@pytest.mark.parametrize("size", [(0.0, 1.0, 1.0), (1.0, 0.0, 1.0), (1.0, 1.0, 0.0), (1.0, -2.0, 1.0)])
def test_zero_size_boxes_are_rejected_with_advice(size):
    bad = np.array([[0.0, 0.0, 0.0, *size, 0.0]])
    good = np.array([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match=r"first: box 0 has size .* must be > 0"):
        pairwise_iou_3d(bad, good)
    with pytest.raises(ValueError, match=r"second: box 0 has size"):
        bev_iou(good, bad)


def test_bad_shapes_and_values_are_rejected():
    good = np.array([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match=r"expected shape \(N, 7\).*box\[None, :\]"):
        pairwise_bev_iou(good[0], good)
    with pytest.raises(ValueError, match="NaN or infinite"):
        pairwise_bev_iou(np.array([[np.nan, 0, 0, 1, 1, 1, 0]]), good)
    with pytest.raises(ValueError, match="paired boxes"):
        bev_iou(np.vstack([good, good]), good)
