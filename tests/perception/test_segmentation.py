"""Cluster repairs of the proposal step: walls peeled off, groups of people parted, low
pieces of a car joined back, what no class holds clustered again (a car and the hedge
behind it), on small synthetic point sets (ego frame, ground at z = 0)."""

from __future__ import annotations

import numpy as np
from scenes import box_scene

from avlabel.geometry.iou import pairwise_bev_iou
from avlabel.perception.cluster import dbscan
from avlabel.perception.propose import _absorb_low_fragments, _split_groups, _split_oversize, propose_ego
from avlabel.perception.settings import ClusteringConfig, PerceptionConfig
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


def test_a_parked_car_and_the_hedge_behind_it_come_apart():
    """At 37 m the clustering radius (0.014 m a metre of the range band's far edge) joins
    a car and a hedge 0.45 m behind it: 12 x 3.2 m, 1.45 m tall, which no class holds.
    It is clustered again with the tighter radius and the car is proposed."""
    car = [36.0, 8.0, 0.0, 4.6, 1.85, 1.45, 0.0]
    hedge = [36.0, 8.0 + 0.925 + 0.45 + 0.6, 0.0, 12.0, 1.2, 1.3, 0.0]  # 0.45 m behind the car's far side
    scene = box_scene([car, hedge])
    config = PerceptionConfig()
    for split_eps, found in (((), False), (config.clustering.split_eps, True)):
        settings = config.model_copy(update={"clustering": config.clustering.model_copy(update={"split_eps": split_eps})})
        proposals = propose_ego(scene.points, settings, sensor_origin=np.array([0.0, 0.0, 1.7]))
        cars = [index for index, label in enumerate(proposals.labels) if label == "car"]
        best = pairwise_bev_iou(proposals.boxes[cars], scene.boxes[:1]).max() if cars else 0.0
        assert (best >= 0.5) == found, (split_eps, proposals.labels, best)


def test_only_vehicle_sized_pieces_leave_a_cluster_no_class_holds():
    """A car-sized block and a row of small foliage tufts 0.5 m apart, one cluster at a
    0.6 m radius (11 m long, 1.3 m tall: no class). Split at 0.35 m, the block leaves and
    the tufts stay one cluster instead of becoming person-sized proposals."""
    rng = np.random.default_rng(3)
    block = np.column_stack([rng.uniform(0, 4.4, 1500), rng.uniform(0, 1.8, 1500), rng.uniform(0.3, 1.4, 1500)])
    tufts = np.concatenate([
        np.column_stack([x + rng.uniform(0, 0.3, 60), 2.3 + rng.uniform(0, 0.3, 60), rng.uniform(0.3, 1.3, 60)]) for x in np.arange(0.0, 11.0, 0.8)
    ])
    xyz = np.concatenate([block, tufts])
    labels = dbscan(xyz, 0.6, SETTINGS.min_points)
    assert len(set(labels)) == 1
    config = PerceptionConfig()
    settings = config.clustering
    split = _split_oversize(xyz, xyz[:, 2], labels, 0.35, settings.min_points, settings.split_min_extent, config)
    block_labels, tuft_labels = split[: len(block)], split[len(block):]
    assert len(set(block_labels)) == 1 and len(set(tuft_labels)) == 1 and block_labels[0] != tuft_labels[0]
    everything = _split_oversize(xyz, xyz[:, 2], labels, 0.35, settings.min_points, 0.0, config)
    assert len(set(everything[len(block):])) == len(np.arange(0.0, 11.0, 0.8))  # without the rule: one cluster a tuft


def test_a_cluster_no_class_holds_that_falls_apart_into_noise_is_left_as_it_was():
    rng = np.random.default_rng(4)
    sparse = np.column_stack([np.arange(0.0, 10.0, 0.5), rng.uniform(0, 0.1, 20), np.full(20, 1.0)])  # 0.5 m apart, nothing within 0.35 m
    labels = dbscan(sparse, 0.6, 2)
    assert set(labels) == {0}
    config = PerceptionConfig()
    split = _split_oversize(sparse, sparse[:, 2], labels, 0.35, 2, config.clustering.split_min_extent, config)
    assert (split == labels).all()
