"""Small ray-cast street scenes for perception tests and benchmarks (no simulator needed).

A 64-beam spinning LiDAR 1.7 m above a gently sloped road with raised sidewalks, cars,
pedestrians, walls and trees (trunk and canopy). Ego frame: x forward, y left, z up,
ground under the ego at z = 0. Everything is an oriented box, so this is kinder than
reality; tests that need realism use the simulator's logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SENSOR_HEIGHT = 1.7
# Semantic codes as avlabel.io.logstore.SEMANTIC_CLASSES: road 1, sidewalk 2, building 4,
# vegetation 6, object 7.
ROAD, SIDEWALK, BUILDING, VEGETATION, OBJECT = 1, 2, 4, 6, 7


@dataclass(frozen=True)
class Scene:
    points: np.ndarray  # (N, 6) float32 POINT_FIELDS, ego frame
    semantic: np.ndarray  # (N,) uint8
    instance: np.ndarray  # (N,) int32, -1 for stuff
    boxes: np.ndarray  # (K, 7) truth boxes of the objects, ego frame
    labels: tuple[str, ...]  # (K,) class of each box


def _rays(beams: int, azimuth_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The sensor's shots: `beams` from +2 to -24.8 degrees, `azimuth_steps` around from
    -pi. Returns the azimuths (A,) and unit directions (beams * A, 3), ring-major."""
    elevations = np.deg2rad(np.linspace(2.0, -24.8, beams))
    azimuths = np.linspace(-np.pi, np.pi, azimuth_steps, endpoint=False)
    elevation_grid, azimuth_grid = np.meshgrid(elevations, azimuths, indexing="ij")
    directions = np.stack(
        [np.cos(elevation_grid) * np.cos(azimuth_grid), np.cos(elevation_grid) * np.sin(azimuth_grid), np.sin(elevation_grid)], axis=-1
    ).reshape(-1, 3)
    return azimuths, directions


def ray_box(origin: np.ndarray, directions: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Distance along each ray (R, 3) from `origin` (3,) to where it enters the box
    [x, y, z_bottom, length, width, height, yaw]; inf where it misses."""
    x, y, z_bottom, length, width, height, yaw = box
    cos, sin = np.cos(yaw), np.sin(yaw)
    local_origin = np.array([cos * (origin[0] - x) + sin * (origin[1] - y), -sin * (origin[0] - x) + cos * (origin[1] - y), origin[2] - z_bottom])
    local_directions = np.column_stack([cos * directions[:, 0] + sin * directions[:, 1], -sin * directions[:, 0] + cos * directions[:, 1], directions[:, 2]])
    low = np.array([-length / 2, -width / 2, 0.0])
    high = np.array([length / 2, width / 2, height])
    with np.errstate(divide="ignore", invalid="ignore"):
        t_low = (low - local_origin) / local_directions
        t_high = (high - local_origin) / local_directions
    t_near = np.nanmax(np.minimum(t_low, t_high), axis=1)
    t_far = np.nanmin(np.maximum(t_low, t_high), axis=1)
    return np.where((t_near <= t_far) & (t_near > 0), t_near, np.inf)


def box_scene(
    boxes: list[np.ndarray], *, azimuth_steps: int = 2048, beams: int = 64, max_range: float = 80.0, noise: float = 0.02, seed: int = 0
) -> Scene:
    """One sweep over flat ground (z = 0) with the given boxes [x, y, z_bottom, length,
    width, height, yaw] (semantic "object", instance = index, label "car"), range noise
    of `noise` metres."""
    azimuths, directions = _rays(beams, azimuth_steps)
    origin = np.array([0.0, 0.0, SENSOR_HEIGHT])
    with np.errstate(divide="ignore"):
        hit_range = np.where(directions[:, 2] < 0, -origin[2] / directions[:, 2], np.inf)
    semantic = np.where(np.isfinite(hit_range), ROAD, 0).astype(np.uint8)
    instances = np.full(len(directions), -1, np.int32)
    for index, box in enumerate(boxes):
        t_near = ray_box(origin, directions, np.asarray(box, dtype=np.float64))
        valid = t_near < hit_range
        hit_range[valid], semantic[valid], instances[valid] = t_near[valid], OBJECT, index
    keep = hit_range < max_range
    noisy_range = hit_range[keep] + np.random.default_rng(seed).normal(0.0, noise, keep.sum())
    points_xyz = origin + noisy_range[:, None] * directions[keep]
    t_offset = (azimuths[np.tile(np.arange(azimuth_steps), beams)][keep] + np.pi) / (2 * np.pi) * 1e5 - 5e4
    rings = np.repeat(np.arange(beams), azimuth_steps)[keep]
    points = np.column_stack([points_xyz, np.full(keep.sum(), 0.5), t_offset, rings]).astype(np.float32)
    truth = [[box[0], box[1], box[2] + box[5] / 2, *box[3:]] for box in boxes]
    return Scene(points, semantic[keep], instances[keep], np.array(truth).reshape(-1, 7), tuple("car" for _ in boxes))


def _ground_height(x: np.ndarray, y: np.ndarray, slope: float) -> np.ndarray:
    return slope * x + np.where(np.abs(y) > 7.0, 0.15, 0.0)


def street_scene(
    seed: int = 0,
    *,
    azimuth_steps: int = 1875,
    beams: int = 64,
    cars: int = 40,
    pedestrians: int = 10,
    slope: float = 0.03,
    max_range: float = 120.0,
) -> Scene:
    """Ray-cast one sweep of a street scene: about 120k points with the defaults."""
    rng = np.random.default_rng(seed)
    # Objects: (box [x, y, z_bottom, l, w, h, yaw], semantic, instance, label or None).
    objects: list[tuple[np.ndarray, int, int, str | None]] = []
    instance = 0
    lanes = {-5.5: [], -2.0: [], 2.0: [], 5.5: []}
    for _ in range(cars):
        lane = float(rng.choice(list(lanes)))
        x = rng.uniform(-60, 60)
        if abs(x) < 7 and abs(lane) < 3 or any(abs(x - other) < 6.0 for other in lanes[lane]):
            continue  # keep clear of the ego and of other cars
        lanes[lane].append(x)
        size = rng.uniform([4.0, 1.7, 1.4], [5.0, 2.0, 1.7])
        yaw = rng.normal(0, 0.08) + (np.pi if rng.random() < 0.5 else 0.0)
        objects.append((np.array([x, lane, 0.0, *size, yaw]), OBJECT, instance, "car"))
        instance += 1
    for _ in range(pedestrians):
        x, y = rng.uniform(-30, 30), rng.choice([-1, 1]) * rng.uniform(7.4, 8.2)
        objects.append((np.array([x, y, 0.15, 0.5, 0.6, 1.75, rng.uniform(-np.pi, np.pi)]), OBJECT, instance, "pedestrian"))
        instance += 1
    for side in (-1, 1):  # building fronts with gaps
        x = -110.0
        while x < 110.0:
            length = rng.uniform(8, 30)
            objects.append((np.array([x + length / 2, side * rng.uniform(9.6, 11.0), 0.15, length, 2.0, rng.uniform(8, 20), 0.0]), BUILDING, -1, None))
            x += length + rng.uniform(0.5, 4)
    for _ in range(16):  # trees: trunk and canopy
        x, y = rng.uniform(-70, 70), rng.choice([-1, 1]) * rng.uniform(7.2, 7.6)
        objects.append((np.array([x, y, 0.15, 0.3, 0.3, 3.0, 0.0]), VEGETATION, -1, None))
        radius = rng.uniform(1.5, 3.0)
        objects.append((np.array([x, y, 2.5, radius * 2, radius * 2, rng.uniform(2, 4), rng.uniform(0, 1)]), VEGETATION, -1, None))

    azimuths, directions = _rays(beams, azimuth_steps)
    rings = np.repeat(np.arange(beams), azimuth_steps)
    origin = np.array([0.0, 0.0, SENSOR_HEIGHT])

    # Ground: road plane z = slope * x, sidewalks 0.15 m higher beyond |y| = 7.
    hit_range = np.full(len(directions), np.inf)
    semantic = np.zeros(len(directions), np.uint8)
    instances = np.full(len(directions), -1, np.int32)
    for raise_by, code in ((0.0, ROAD), (0.15, SIDEWALK)):
        denominator = directions[:, 2] - slope * directions[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (raise_by - origin[2]) / denominator
        hit = origin + t[:, None] * directions
        valid = (t > 0) & ((np.abs(hit[:, 1]) > 7.0) == (code == SIDEWALK)) & (t < hit_range)
        hit_range[valid] = t[valid]
        semantic[valid] = code
    for box, code, object_id, _ in objects:
        x, y, bottom, length, width, height, yaw = box
        t_near = ray_box(origin, directions, np.array([x, y, bottom + slope * x, length, width, height, yaw]))
        valid = np.isfinite(t_near) & (t_near < hit_range)
        if code == VEGETATION and height > 3.5 - 1e-9 or code == VEGETATION and bottom > 1.0:
            valid &= rng.random(len(valid)) < 0.6  # canopies let some beams through
        hit_range[valid] = t_near[valid]
        semantic[valid] = code
        instances[valid] = object_id
    keep = hit_range < max_range
    hit_range = hit_range[keep] + rng.normal(0, 0.02, keep.sum())
    points_xyz = origin + hit_range[:, None] * directions[keep]
    intensity = np.where(semantic[keep] == OBJECT, rng.uniform(0.2, 0.9, keep.sum()), rng.uniform(0.0, 0.3, keep.sum()))
    t_offset = (azimuths[np.tile(np.arange(azimuth_steps), beams)][keep] + np.pi) / (2 * np.pi) * 1e5 - 5e4
    points = np.column_stack([points_xyz, intensity, t_offset, rings[keep]]).astype(np.float32)
    boxes, labels = [], []
    for box, _, object_id, label in objects:
        if label is not None:
            x, y, bottom, length, width, height, yaw = box
            boxes.append([x, y, bottom + slope * x + height / 2, length, width, height, yaw])
            labels.append(label)
    return Scene(points, semantic[keep], instances[keep], np.array(boxes), tuple(labels))
