"""avlabel.perception.ground: region-wise ground planes on slopes, curbs and under objects."""

from __future__ import annotations

import numpy as np
import pytest
from scenes import street_scene

from avlabel.perception.ground import GroundModel, PolarGrid, fit_ground, ground_mask
from avlabel.perception.quality import GroundCounts
from avlabel.perception.settings import GroundConfig


@pytest.mark.parametrize(("seed", "slope"), [(21, 0.0), (22, 0.06), (23, -0.08)])
def test_ground_of_sloped_streets_with_curbs(seed, slope):
    scene = street_scene(seed, slope=slope, azimuth_steps=900)
    counts = GroundCounts()
    counts.add(ground_mask(scene.points, GroundConfig()), np.isin(scene.semantic, (1, 2, 3)))
    # The boxes of this scene stand on the ground, so their lowest 0.2 m count against precision.
    assert counts.recall > 0.99
    assert counts.precision > 0.88
    assert counts.f1 > 0.93


def test_a_single_tilted_plane_is_followed_far_out():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-60, 60, (40_000, 2))
    z = 0.08 * xy[:, 0] + rng.normal(0, 0.02, len(xy))  # an 8 % grade: 4.8 m up at 60 m
    model, heights = fit_ground(np.column_stack([xy, z]).astype(np.float32), GroundConfig())
    seen = np.hypot(xy[:, 0], xy[:, 1]) > 4.0  # a real sensor's blind circle: a handful of points
    assert np.abs(heights[seen]).max() < 0.15
    np.testing.assert_allclose(model.height_at(np.array([[50.0, 0.0], [-50.0, 10.0], [500.0, 0.0]]))[:2], [4.0, -4.0], atol=0.1)


def test_roofs_and_walls_are_not_ground():
    rng = np.random.default_rng(1)
    ground = np.column_stack([rng.uniform(-30, 30, (30_000, 2)), rng.normal(0, 0.02, 30_000)])
    roof = np.column_stack([rng.uniform(8, 12.5, 3000), rng.uniform(-1, 1, 3000), np.full(3000, 1.5)])  # a car roof
    wall = np.column_stack([rng.uniform(-20, 20, 6000), np.full(6000, 12.0), rng.uniform(0, 6, 6000)])
    ground = ground[~((ground[:, 0] > 8) & (ground[:, 0] < 12.5) & (np.abs(ground[:, 1]) < 1))]  # hidden under the roof
    points = np.concatenate([ground, roof, wall]).astype(np.float32)
    mask = ground_mask(points, GroundConfig())
    assert mask[: len(ground)].mean() > 0.99
    assert not mask[len(ground) : len(ground) + len(roof)].any()
    assert mask[len(ground) + len(roof) :].mean() < 0.05  # only the wall's foot


def test_empty_and_tiny_sweeps():
    model, heights = fit_ground(np.zeros((0, 6), np.float32), GroundConfig())
    assert heights.shape == (0,) and isinstance(model, GroundModel)
    _, heights = fit_ground(np.array([[5.0, 0.0, 0.3]], np.float32), GroundConfig())
    assert heights == pytest.approx([0.3])  # no plane: flat ground at the ego


def test_grid_bins_and_config_checks():
    grid = PolarGrid.from_config(GroundConfig())
    bins = grid.bin_of(np.array([[1.0, 0.0], [0.0, 5.0], [1000.0, 0.0]]))
    assert bins[0] >= 0 and bins[1] > bins[0] and bins[2] == -1
    assert (grid.inner[grid.first_bin[1] :] < np.repeat(grid.first_bin[1:-1], grid.sectors[1:])).all()
    with pytest.raises(ValueError):
        GroundConfig(ring_edges=(0.0, 10.0, 5.0))
