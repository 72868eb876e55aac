"""What the sensor could not see, and what it saw through: a foot hidden behind a hedge,
pieces of one car joined unless beams passed between them, and the scan-line roughness
that tells foliage from a car seen at a grazing angle. Kernels against slow twins."""

from __future__ import annotations

import numpy as np
import pytest
from scenes import box_scene

from avlabel.geometry.iou import pairwise_bev_iou
from avlabel.perception import kernels
from avlabel.perception.propose import propose_ego
from avlabel.perception.settings import PerceptionConfig

CONFIG = PerceptionConfig()


# --------------------------------------------------------------------------- twins


def foot_hidden_twin(points, heights, members, offsets, origin, column_width, margin, gap, min_height):
    """Per cluster, per bearing column it covers: is an occluder nearer and high enough?"""
    columns = int(np.ceil(2 * np.pi / column_width))
    # The kernel's own binning (a fast arctangent): points on a column's edge go where it puts them.
    column = np.array([kernels._bearing_column(x, y, origin, column_width, columns) for x, y in points[:, :2]])
    distance = np.hypot(points[:, 0] - origin[0], points[:, 1] - origin[1])
    elevation = np.arctan2(points[:, 2] - origin[2], distance)
    occluder = heights >= min_height
    shares = []
    for cluster in range(len(offsets) - 1):
        own = members[offsets[cluster]:offsets[cluster + 1]]
        nearest = distance[own].min()
        hidden = []
        for value in np.unique(column[own]):
            lowest = elevation[own][column[own] == value].min()
            blockers = occluder & (column == value) & (distance < nearest - gap)
            hidden.append(bool(blockers.any() and elevation[blockers].max() >= lowest - margin))
        shares.append(np.mean(hidden))
    return np.array(shares)


def roughness_twin(points, members, offsets, min_triples):
    """Median distance of each ring's middle point from the chord of its neighbours."""
    result = []
    for cluster in range(len(offsets) - 1):
        rows = points[members[offsets[cluster]:offsets[cluster + 1]]]
        rows = rows[np.lexsort((rows[:, 4], rows[:, 5]))]
        deviations = []
        for first, middle, last in zip(rows, rows[1:], rows[2:]):
            if first[5] != last[5]:
                continue
            chord = last[:2] - first[:2]
            if np.hypot(*chord) < 1e-6:
                continue
            offset = middle[:2] - first[:2]
            deviations.append(abs(chord[0] * offset[1] - chord[1] * offset[0]) / np.hypot(*chord))
        result.append(np.median(deviations) if len(deviations) >= min_triples else np.nan)
    return np.array(result)


def seen_through_twin(points, owner, origin, boxes, owners, depth):
    """Every point against every box: clip the beam to the footprint in the box frame."""
    counts = []
    for box, pair in zip(boxes, owners):
        x, y, length, width, yaw, z_low, z_high = box
        cos, sin = np.cos(yaw), np.sin(yaw)
        start = np.array([cos * (origin[0] - x) + sin * (origin[1] - y), -sin * (origin[0] - x) + cos * (origin[1] - y)])
        found = 0
        for index, point in enumerate(points):
            if owner[index] >= 0 and owner[index] in pair:
                continue
            delta = point[:2] - origin[:2]
            direction = np.array([cos * delta[0] + sin * delta[1], -sin * delta[0] + cos * delta[1]])
            enter, leave, inside = 0.0, 1.0, True
            for axis, half in ((0, length / 2), (1, width / 2)):
                if abs(direction[axis]) < 1e-12:
                    inside &= abs(start[axis]) <= half
                    continue
                one, two = (-half - start[axis]) / direction[axis], (half - start[axis]) / direction[axis]
                enter, leave = max(enter, min(one, two)), min(leave, max(one, two))
            if inside and enter <= leave and (1 - leave) * np.hypot(*delta) >= depth:
                heights = origin[2] + np.array([enter, leave]) * (point[2] - origin[2])
                found += bool(np.all((z_low <= heights) & (heights <= z_high)))
        counts.append(found)
    return np.array(counts)


def random_clusters(rng: np.random.Generator, count: int = 6):
    """Points around a sensor: `count` blobs standing at random ranges and bearings (some
    behind others), plus ground; members/offsets group the blobs."""
    blobs, members, offsets = [], [], [0]
    for _ in range(count):
        bearing, distance = rng.uniform(-0.3, 0.3), rng.uniform(6, 30)
        centre = np.array([distance * np.cos(bearing), distance * np.sin(bearing)])
        size = rng.integers(30, 120)
        blob = np.column_stack([centre + rng.normal(0, 0.5, (size, 2)), rng.uniform(0.0, 1.8, size)])
        blobs.append(blob)
    ground = np.column_stack([rng.uniform(2, 40, 3000), rng.uniform(-12, 12, 3000), np.zeros(3000)])
    points = np.concatenate([ground, *blobs])
    start = len(ground)
    for blob in blobs:
        members.append(np.arange(start, start + len(blob)))
        start += len(blob)
        offsets.append(offsets[-1] + len(blob))
    rings = rng.integers(0, 8, len(points)).astype(float)
    rows = np.column_stack([points, np.full(len(points), 0.5), rng.uniform(-5e4, 5e4, len(points)), rings]).astype(np.float32)
    heights = points[:, 2].copy()
    return rows, heights, np.concatenate(members).astype(np.int64), np.array(offsets, np.int64)


@pytest.mark.parametrize("seed", range(5))
def test_the_foot_kernel_agrees_with_its_twin(seed):
    rows, heights, members, offsets = random_clusters(np.random.default_rng(seed))
    origin = np.array([0.0, 0.0, 1.8])
    arguments = (np.radians(0.5), np.radians(1.0), 0.5, 0.2)
    fast = kernels._foot_hidden(rows, heights, members, offsets, np.ones(len(offsets) - 1, bool), origin, *arguments)
    slow = foot_hidden_twin(rows.astype(np.float64), heights, members, offsets, origin, *arguments)
    np.testing.assert_allclose(fast, slow)
    assert 0 < np.count_nonzero(fast > 0) < len(fast)  # the blobs hide each other's feet, but not all


@pytest.mark.parametrize("seed", range(5))
def test_the_roughness_kernel_agrees_with_its_twin(seed):
    rows, _, members, offsets = random_clusters(np.random.default_rng(seed))
    fast = kernels._range_roughness(rows, members, offsets, 6, np.ones(len(offsets) - 1, bool))
    np.testing.assert_allclose(fast, roughness_twin(rows.astype(np.float64), members, offsets, 6), rtol=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_the_see_through_kernel_agrees_with_its_twin(seed):
    rng = np.random.default_rng(seed)
    rows, _, members, offsets = random_clusters(rng)
    owner = np.full(len(rows), -1, np.int64)
    for cluster in range(len(offsets) - 1):
        owner[members[offsets[cluster]:offsets[cluster + 1]]] = cluster
    origin = np.array([0.0, 0.0, 1.8])
    boxes = np.column_stack([rng.uniform(5, 25, (8, 1)), rng.uniform(-4, 4, (8, 1)), rng.uniform(1, 5, (8, 2)),
                             rng.uniform(-np.pi, np.pi, (8, 1)), rng.uniform(0.0, 0.4, (8, 1)), rng.uniform(0.5, 1.5, (8, 1))])
    owners = rng.integers(-1, len(offsets) - 1, (8, 2)).astype(np.int64)
    width = np.radians(0.5)
    fast = kernels._seen_through(rows, owner, *kernels._bearing_index(rows, origin, width), origin, width, boxes, owners, 0.3)
    np.testing.assert_array_equal(fast, seen_through_twin(rows.astype(np.float64), owner, origin, boxes, owners, 0.3))
    assert fast.any()


def test_a_beam_that_passes_under_a_car_is_not_seen_through_it():
    # A 3 m footprint 13.5-16.5 m ahead, searched between 0.2 and 0.9 m. The beam to the
    # ground at 18 m enters it at 0.45 m and leaves at 0.15 m: under the car's body (a
    # car stands on wheels), not through it. The beam to something 0.2 m high at 18 m
    # enters at 0.6 m and leaves at 0.33 m, within the band all the way: seen through.
    origin = np.array([0.0, 0.0, 1.8])
    rows = np.array([[18.0, 0.0, 0.0, 0.5, 0.0, 0.0], [18.0, 0.3, 0.2, 0.5, 0.0, 0.0]], np.float32)
    owner = np.full(2, -1, np.int64)
    boxes = np.array([[15.0, 0.0, 3.0, 2.0, 0.0, 0.2, 0.9]])
    owners = np.array([[5, 6]], np.int64)
    width = np.radians(0.5)
    counted = kernels._seen_through(rows, owner, *kernels._bearing_index(rows, origin, width), origin, width, boxes, owners, 0.3)
    assert counted.tolist() == [1]
    assert seen_through_twin(rows.astype(np.float64), owner, origin, boxes, owners, 0.3).tolist() == [1]


# --------------------------------------------------------------------------- behaviour


def proposals_near(scene, xy, config=CONFIG):
    proposals = propose_ego(scene.points, config, sensor_origin=np.array([0.0, 0.0, 1.7]))
    near = np.hypot(proposals.boxes[:, 0] - xy[0], proposals.boxes[:, 1] - xy[1]) < 3.0
    return proposals, np.flatnonzero(near)


def test_a_car_behind_a_hedge_is_proposed_standing_on_the_ground():
    hedge = [12.0, 0.0, 0.0, 0.8, 4.0, 1.1, 0.0]
    car = [17.0, 0.0, 0.0, 1.9, 4.5, 1.5, 0.15]  # nearly side-on: the hedge hides its lower ~0.9 m
    scene = box_scene([hedge, car])
    proposals, near = proposals_near(scene, car[:2])
    assert len(near) == 1, proposals.labels
    index = near[0]
    assert proposals.labels[index] == "car" and proposals.attributes[index]["foot_hidden"]
    box = proposals.boxes[index]
    assert box[2] - box[5] / 2 == pytest.approx(0.0, abs=0.15)  # it stands on the ground, below the lowest point seen
    assert pairwise_bev_iou(box[None], scene.boxes[1:2])[0, 0] > 0.5

    # The same visible part floating in the open (a sign, a canopy) is no car.
    floating = [17.0, 0.0, 0.95, 1.9, 4.5, 0.55, 0.15]
    proposals, near = proposals_near(box_scene([floating]), floating[:2])
    assert "car" not in [proposals.labels[index] for index in near]


def split_car_scene(boxes, gaps):
    """box_scene with the returns of each car dropped in bands [x0, x1] (a dark wheel arch
    and the glass above it), so that DBSCAN finds the car in pieces."""
    scene = box_scene(boxes)
    keep = np.ones(len(scene.points), bool)
    for instance, (low, high) in gaps:
        keep &= ~((scene.instance == instance) & (scene.points[:, 0] >= low) & (scene.points[:, 0] <= high))
    return type(scene)(scene.points[keep], scene.semantic[keep], scene.instance[keep], scene.boxes, scene.labels)


def test_the_pieces_of_one_car_are_joined():
    car = [16.0, 3.0, 0.0, 4.5, 1.85, 1.5, 0.0]  # rear face and left side in sight
    scene = split_car_scene([car], [(0, (14.0, 14.8))])
    every = CONFIG.model_copy(update={"min_score": 0.0})  # every cluster is reported
    apart = every.model_copy(update={"clustering": every.clustering.model_copy(update={"piece_gap": 0.0})})

    def car_clusters(config) -> np.ndarray:
        clusters = propose_ego(scene.points, config, sensor_origin=np.array([0.0, 0.0, 1.7])).point_cluster[scene.instance == 0]
        return np.unique(clusters[clusters >= 0])

    assert len(car_clusters(apart)) >= 2  # DBSCAN alone: rear face and side
    assert len(car_clusters(every)) == 1
    proposals, near = proposals_near(scene, car[:2])
    assert len(near) == 1 and proposals.labels[near[0]] == "car"
    assert pairwise_bev_iou(proposals.boxes[near], scene.boxes)[0, 0] > 0.6


def test_two_cars_parked_side_by_side_stay_two():
    # Seen nose-on across a parking aisle with 0.7 m between them and a wall behind: the
    # gap shows the wall, so their fronts are not the side of one car.
    first = [16.0, -1.3, 0.0, 4.5, 1.85, 1.5, 0.0]
    second = [16.0, 1.25, 0.0, 4.5, 1.85, 1.5, 0.0]
    wall = [23.0, 0.0, 0.0, 0.5, 12.0, 3.0, 0.0]
    scene = box_scene([first, second, wall])
    every = CONFIG.model_copy(update={"min_score": 0.0})  # every cluster is reported

    def shared_clusters(config) -> set[int]:
        clusters = propose_ego(scene.points, config, sensor_origin=np.array([0.0, 0.0, 1.7])).point_cluster
        return set(clusters[scene.instance == 0]) & set(clusters[scene.instance == 1]) - {-1}

    assert not shared_clusters(every)
    # Without the see-through check the two fronts, 4.4 m across, would pass for one car.
    blind = every.model_copy(update={"clustering": every.clustering.model_copy(update={"piece_max_seen_through": 10**6})})
    assert shared_clusters(blind)


def test_a_car_seen_at_a_grazing_angle_with_lost_returns_is_smooth_and_foliage_is_rough():
    rng = np.random.default_rng(4)
    azimuths = np.radians(np.arange(0.0, 6.0, 0.18))
    # A flat side 1 m to the left of the beams' line, seen at a grazing angle: range grows
    # fast from beam to beam, and a third of the returns are lost (glass, dark paint).
    side = np.column_stack([1.0 / np.tan(azimuths[1:] + 0.05) + 20.0, np.full(len(azimuths) - 1, 1.0)])
    side = side[rng.random(len(side)) > 0.35]
    foliage_range = 20.0 + rng.uniform(-0.3, 0.3, len(azimuths))
    foliage = np.column_stack([foliage_range * np.cos(azimuths), foliage_range * np.sin(azimuths)])
    rows = []
    for xy in (side, foliage):
        rows.append(np.column_stack([xy, np.full(len(xy), 1.0), np.full(len(xy), 0.5), np.arange(len(xy)) * 10.0, np.zeros(len(xy))]))
    points = np.concatenate(rows).astype(np.float32)
    members = np.arange(len(points), dtype=np.int64)
    offsets = np.array([0, len(side), len(points)], np.int64)
    side_roughness, foliage_roughness = kernels._range_roughness(points, members, offsets, 6, np.ones(2, bool))
    assert side_roughness < 0.5 * CONFIG.classes["car"].max_roughness
    assert foliage_roughness > 2 * CONFIG.classes["car"].max_roughness


def test_a_sparse_object_turns_on_a_clear_ratio_of_contradicting_points():
    from avlabel.perception.propose import clearly_fewer

    # A near object: 40 points against 20 decide; 30 against 20 do not.
    assert clearly_fewer(np.array([20, 20]), np.array([40, 30]), 15, 5.0).tolist() == [True, False]
    # A far, sparse one: 6 against none decide; 4 against none are too few to tell.
    assert clearly_fewer(np.array([0, 0, 1]), np.array([6, 4, 6]), 15, 5.0).tolist() == [True, False, True]


def test_roughness_thresholds_scale_with_a_coarser_scanner():
    from avlabel.perception.propose import _roughness_scale

    def sweep(shots_per_ring: int, rings: int = 4) -> np.ndarray:
        points = np.zeros((shots_per_ring * rings, 6), np.float32)
        points[:, 5] = np.repeat(np.arange(rings), shots_per_ring)
        return points

    assert _roughness_scale(sweep(2048), 0.18) == 1.0  # as fine as the reference: as is
    assert _roughness_scale(sweep(720), 0.18) == pytest.approx(np.sqrt(0.5 / 0.18))
    unknown = sweep(720)
    unknown[:, 5] = -1
    assert _roughness_scale(unknown, 0.18) == 1.0
