"""Cluster repairs of the proposal step: walls peeled off, groups of people parted, low
pieces of a car joined back, on small synthetic point sets (ego frame, ground at z = 0)."""

from __future__ import annotations

import numpy as np

from avlabel.perception.cluster import dbscan
from avlabel.perception.propose import _absorb_low_fragments, _split_groups
from avlabel.perception.settings import ClusteringConfig
from avlabel.perception.walls import peel_walls

SETTINGS = ClusteringConfig()


def person(rng: np.random.Generator, x: float, y: float, count: int = 300) -> np.ndarray:
    """Points on a 0.45 x 0.3 m, 1.75 m tall body standing at (x, y)."""
    return np.column_stack([x + rng.uniform(-0.22, 0.22, count), y + rng.uniform(-0.15, 0.15, count), rng.uniform(0.2, 1.75, count)])


def test_a_pedestrian_by_a_wall_comes_free():
    rng = np.random.default_rng(0)
    wall = np.column_stack([rng.uniform(0, 12, 4000), np.full(4000, 5.0) + rng.normal(0, 0.02, 4000), rng.uniform(0.2, 3.0, 4000)])
    walker = person(rng, 6.0, 5.0 - 0.15 - 0.3)  # 0.3 m in front of the wall
    xyz = np.concatenate([wall, walker])
    labels = dbscan(xyz, SETTINGS.eps, SETTINGS.min_points)
    assert len(set(labels)) == 1  # one cluster: wall and pedestrian
    peeled = peel_walls(xyz, labels, largest=6.0, eps=SETTINGS.eps, min_points=SETTINGS.min_points,
                        tolerance=SETTINGS.wall_tolerance, min_length=SETTINGS.wall_min_length, rounds=SETTINGS.wall_rounds)
    walker_labels = peeled[len(wall):]
    assert (walker_labels >= 0).mean() > 0.9 and len(set(walker_labels[walker_labels >= 0])) == 1
    assert not np.isin(peeled[: len(wall)], walker_labels).any()


def test_people_walking_together_are_parted():
    rng = np.random.default_rng(1)
    xyz = np.concatenate([person(rng, 10.0, 0.0), person(rng, 10.0, 0.65), person(rng, 10.5, 1.25)])
    labels = dbscan(xyz, 0.5, SETTINGS.min_points)  # close enough to be one cluster
    assert len(set(labels)) == 1
    parted = _split_groups(xyz, xyz[:, 2], labels, SETTINGS)
    assert [len(set(parted[slice(k * 300, (k + 1) * 300)])) for k in range(3)] == [1, 1, 1]
    assert len(set(parted)) == 3


def test_a_car_is_never_parted_but_its_bonnet_joins_it():
    rng = np.random.default_rng(2)
    cabin = np.column_stack([rng.uniform(10.0, 12.5, 2000), rng.uniform(-0.9, 0.9, 2000), rng.uniform(0.3, 1.5, 2000)])
    bonnet = np.column_stack([rng.uniform(13.05, 13.9, 400), rng.uniform(-0.9, 0.9, 400), rng.uniform(0.3, 0.95, 400)])
    xyz = np.concatenate([cabin, bonnet])
    labels = dbscan(xyz, SETTINGS.eps, SETTINGS.min_points)
    assert len(set(labels)) == 2  # glass between them returned nothing
    assert len(set(_split_groups(xyz, xyz[:, 2], labels, SETTINGS))) == 2
    joined = _absorb_low_fragments(xyz, xyz[:, 2], labels, SETTINGS)
    assert len(set(joined)) == 1
    # A pedestrian (taller than a bonnet) beside a car is never absorbed.
    walker = person(rng, 13.4, 0.0)
    xyz = np.concatenate([cabin, walker])
    labels = dbscan(xyz, SETTINGS.eps, SETTINGS.min_points)
    assert len(set(_absorb_low_fragments(xyz, xyz[:, 2], labels, SETTINGS))) == 2
