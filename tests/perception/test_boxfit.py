"""avlabel.perception.boxfit: rectangle search on synthetic L-shapes, and size completion."""

from __future__ import annotations

import numpy as np
import pytest

from avlabel.perception.boxfit import complete_to_size, fit_rectangle
from avlabel.perception.settings import BoxFitConfig
from avlabel.structs import yaw_difference


def l_shape(
    rng: np.random.Generator, yaw: float, length: float = 4.5, width: float = 1.8, spacing: float = 0.08, noise: float = 0.02, *, all_sides: bool = False
) -> np.ndarray:
    """Points on the sides of a box that face a sensor at the origin (or on all four),
    box centre 12 m ahead and 3 m left."""
    centre = np.array([12.0, 3.0])
    heading = np.array([np.cos(yaw), np.sin(yaw)])
    side = np.array([-np.sin(yaw), np.cos(yaw)])
    corners = [centre + a * heading * length / 2 + b * side * width / 2 for a, b in ((1, 1), (1, -1), (-1, -1), (-1, 1))]
    edges = []
    for first, second in zip(corners, corners[1:] + corners[:1]):
        middle = (first + second) / 2
        outward = middle - centre
        if all_sides or np.dot(outward, -middle) > 0:  # faces the sensor
            steps = max(2, int(np.linalg.norm(second - first) / spacing))
            fractions = rng.uniform(0, 1, steps)[:, None]
            edges.append(first + fractions * (second - first))
    points = np.concatenate(edges) + rng.normal(0, noise, (sum(len(e) for e in edges), 2))
    return np.column_stack([points, rng.uniform(0.3, 1.5, len(points))])


# Not "area": for a clean L-shape the rectangle along the hypotenuse has the same area
# (twice the triangle's), so area ties and often picks it; it only serves full outlines.
@pytest.mark.parametrize("criterion", ["closeness", "variance"])
def test_recovers_the_heading_of_l_shapes(criterion):
    rng = np.random.default_rng(1)
    errors = []
    for yaw in rng.uniform(-np.pi, np.pi, 40):
        centre, length, width, fitted = fit_rectangle(l_shape(rng, yaw), BoxFitConfig(criterion=criterion))
        # The search finds the rectangle's axes (modulo 90 degrees); which one is the
        # length is the class's call when only one side is seen.
        errors.append(np.degrees(yaw_difference(fitted, yaw, period=np.pi / 2)))
        assert length >= width
    assert np.median(errors) < 0.5 and np.percentile(errors, 90) < 2.0, np.round(np.sort(errors), 1)


# Not "variance": it measures spread about the two visible edges only.
@pytest.mark.parametrize("criterion", ["area", "closeness"])
def test_full_view_gives_the_box(criterion):
    rng = np.random.default_rng(2)
    yaw = 0.4
    outline = l_shape(rng, yaw, all_sides=True)
    centre, length, width, fitted = fit_rectangle(outline, BoxFitConfig(criterion=criterion))
    np.testing.assert_allclose(centre, [12.0, 3.0], atol=0.1)
    assert length == pytest.approx(4.5, abs=0.15) and width == pytest.approx(1.8, abs=0.15)
    assert yaw_difference(fitted, yaw, period=np.pi) < np.radians(1.5)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        fit_rectangle(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="NaN"):
        fit_rectangle(np.array([[0.0, np.nan], [1.0, 1.0]]))
    with pytest.raises(ValueError):
        BoxFitConfig(criterion="volume")


def test_completion_grows_away_from_the_sensor():
    # A car's rear face seen from behind: 1.8 m wide, 0.1 m deep, 10 m ahead along x.
    centres, length, width = complete_to_size(
        np.array([[10.05, 0.0]]), np.array([0.1]), np.array([1.8]), np.array([0.0]), np.array([4.5]), np.array([1.8]), np.zeros(2)
    )
    np.testing.assert_allclose(centres, [[10.0 + 4.5 / 2, 0.0]], atol=1e-9)  # the near face stays at x = 10
    assert length[0] == 4.5 and width[0] == 1.8
    # Seen from the other side, it grows the other way.
    centres, _, _ = complete_to_size(np.array([[10.05, 0.0]]), np.array([0.1]), np.array([1.8]), np.array([0.0]), np.array([4.5]), np.array([1.8]), np.array([20.0, 0.0]))
    np.testing.assert_allclose(centres, [[10.1 - 4.5 / 2, 0.0]], atol=1e-9)
    # A side seen from beside its extent grows evenly in length; away from the sensor in width.
    centres, length, width = complete_to_size(np.array([[10.0, 5.0]]), np.array([3.0]), np.array([0.2]), np.array([0.0]), np.array([4.5]), np.array([1.8]), np.array([10.5, 0.0]))
    np.testing.assert_allclose(centres, [[10.0, 5.0 + 0.8]], atol=1e-9)
    # Seen obliquely from beyond its near end, the near end stays and the far end moves.
    centres, _, _ = complete_to_size(np.array([[10.0, 5.0]]), np.array([3.0]), np.array([0.2]), np.array([0.0]), np.array([4.5]), np.array([1.8]), np.zeros(2))
    np.testing.assert_allclose(centres, [[8.5 + 4.5 / 2, 5.0 + 0.8]], atol=1e-9)
    # A near end hidden behind something else: the far end stays, the box grows toward the sensor.
    centres, _, _ = complete_to_size(np.array([[10.05, 0.0]]), np.array([0.1]), np.array([1.8]), np.array([0.0]), np.array([4.5]), np.array([1.8]), np.zeros(2), np.array([True]))
    np.testing.assert_allclose(centres, [[10.1 - 4.5 / 2, 0.0]], atol=1e-9)
    # Never shrinks.
    _, length, width = complete_to_size(np.zeros((1, 2)) + 5, np.array([6.0]), np.array([2.5]), np.array([0.3]), np.array([4.5]), np.array([1.8]), np.zeros(2))
    assert length[0] == 6.0 and width[0] == 2.5


@pytest.mark.parametrize("bearing", [0.0, 0.7, 2.0, -2.6])
@pytest.mark.parametrize("fitted_yaw", [0.0, 0.4, 1.2])
def test_a_person_grows_along_the_line_of_sight(bearing, fitted_yaw):
    # A person's blob 8 m away at any bearing, whatever axes the rectangle fit gave it.
    sensor = np.array([1.0, -2.0])
    sight = np.array([np.cos(bearing), np.sin(bearing)])
    seen = sensor + 8.0 * sight
    length, width = 0.5, 0.2
    grown = lambda share: complete_to_size(  # noqa: E731
        seen[None], np.array([length]), np.array([width]), np.array([fitted_yaw]), np.array([0.55]), np.array([0.45]), sensor,
        sight_share=np.array([share]),
    )
    # Depth along the line of sight, seen and grown, worked out by hand from the corners.
    def depth(l: float, w: float) -> float:
        corners = [np.array([a * l / 2, b * w / 2]) for a in (-1, 1) for b in (-1, 1)]
        turned = [np.array([np.cos(fitted_yaw) * c[0] - np.sin(fitted_yaw) * c[1], np.sin(fitted_yaw) * c[0] + np.cos(fitted_yaw) * c[1]]) for c in corners]
        along = [float(np.dot(c, sight)) for c in turned]
        return max(along) - min(along)
    missing = depth(0.55, 0.45) - depth(length, width)
    centres, new_length, new_width = grown(0.85)
    np.testing.assert_allclose(centres[0], seen + 0.35 * missing * sight, atol=1e-9)  # 85 % behind, 15 % in front
    assert new_length[0] == 0.55 and new_width[0] == 0.45
    centres, _, _ = grown(0.5)  # evenly: the centre stays
    np.testing.assert_allclose(centres[0], seen, atol=1e-9)
    centres, _, _ = grown(1.0)  # all behind: the near side stays where it was seen
    np.testing.assert_allclose(np.dot(centres[0] - sensor, sight) - depth(0.55, 0.45) / 2, 8.0 - depth(length, width) / 2, atol=1e-9)
