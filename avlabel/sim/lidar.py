"""The rotating multi-beam LiDAR.

Every firing column has its own time (t_offset from -50 ms to +50 ms around the sweep
stamp) and so its own sensor pose: each ray is cast from where the sensor was when it fired,
against the static town and against every object posed at that same instant (see
`raycast.ObjectAtlas`). Points are returned in the sensor frame of their own firing time, so
a sweep is skewed by both ego and object motion, as a real one is.

Returns, per ray hit:
- range noise: Gaussian, 2 cm; foliage lets the beam in (range grows by an exponential
  depth, see `materials.Material.penetration_m`);
- detection: the return's strength ~ reflectivity * cos(incidence) / range^2 must beat a
  soft threshold, so dark grazing asphalt fades out beyond about 40 m while lane paint and
  retro-reflectors still return far; glass and leaves drop some returns; the sky returns
  nothing; range limit 120 m;
- intensity in [0, 1) (float32: the sensor's 8-bit value / 256):
  reflectivity * (0.25 + 0.75 cos(incidence)), with 8 % multiplicative and 0.01 additive
  noise; lane paint and plates are bright, asphalt dark;
- a few spurious returns (dust, multipath) at short random ranges: semantic "noise";
- coordinates in steps of 1/512 m (about 2 mm, far below the noise), as a sensor
  resolves range; binary steps leave the low mantissa bits zero, so logs compress well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avlabel.io.logstore import SEMANTIC_CODE, PointTruth
from avlabel.sim.materials import DROPOUT_OF_MATERIAL, PENETRATION_OF_MATERIAL, REFLECTIVITY_OF_MATERIAL, SEMANTIC_OF_MATERIAL, code
from avlabel.sim.raycast import Hits, ObjectAtlas, StaticScene, surface_materials
from avlabel.sim.rig import SWEEP_PERIOD_US, LidarBeams, rotation_from_yaw_pitch_roll
from avlabel.sim.scenario import Scenario

MAX_RANGE = 120.0
MIN_RANGE = 0.9
RANGE_NOISE = 0.02
_REFERENCE_RANGE = 600.0  # a white (1.0) surface head-on returns at threshold strength here
_THRESHOLD_SOFTNESS = 0.4  # in log strength
_SPURIOUS_RATE = 4e-5  # spurious returns per ray
_COORDINATE_STEPS = 512.0  # coordinates come in steps of 1/512 m (about 2 mm), a sensor's range resolution


@dataclass(frozen=True, slots=True)
class Sweep:
    """One simulated revolution: points (N, 6) float32 (POINT_FIELDS), their truth, and the
    number of points on each instance."""

    points: np.ndarray
    truth: PointTruth
    points_per_instance: dict[int, int]


def column_offsets_us(columns: int) -> np.ndarray:
    """(columns,) integer t_offset of each firing column, from -50000 to just under 50000."""
    return np.round(-SWEEP_PERIOD_US / 2 + np.arange(columns) * SWEEP_PERIOD_US / columns).astype(np.int64)


def sensor_poses(scenario: Scenario, ego_from_sensor: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """world_from_sensor at `times` (N,): rotations (N, 3, 3) and origins (N, 3)."""
    pose = scenario.ego.sample(times)
    world_from_ego = rotation_from_yaw_pitch_roll(pose["yaw"], pose["pitch"], pose["roll"])
    rotations = world_from_ego @ ego_from_sensor[:3, :3]
    origins = np.einsum("nij,j->ni", world_from_ego, ego_from_sensor[:3, 3]) + np.column_stack([pose["x"], pose["y"], pose["z"]])
    return rotations, origins


def simulate_sweep(
    scenario: Scenario,
    static: StaticScene,
    atlas: ObjectAtlas,
    ego_from_lidar: np.ndarray,
    beams: LidarBeams,
    columns: int,
    sweep_time: float,
    rng: np.random.Generator,
) -> Sweep:
    """The sweep stamped at log time `sweep_time` (seconds)."""
    # ---- firing times, sensor poses and rays
    offsets_us = column_offsets_us(columns)
    column_times = sweep_time + offsets_us / 1e6
    rotations, origins = sensor_poses(scenario, ego_from_lidar, column_times)
    beam_count = len(beams.elevations)
    azimuth = -2.0 * np.pi * offsets_us[:, None] / SWEEP_PERIOD_US + beams.azimuth_offsets[None, :]  # clockwise spin
    elevation = np.broadcast_to(beams.elevations[None, :], azimuth.shape)
    local = np.stack([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)], axis=-1)  # (A, B, 3)
    directions = np.einsum("aij,abj->abi", rotations, local).reshape(-1, 3)
    ray_origins = np.repeat(origins, beam_count, axis=0)
    local = local.reshape(-1, 3)

    # ---- static world, then every object at each ray's own time
    hits = static.cast(ray_origins, directions, MAX_RANGE + 1.0)
    rows, agents, positions, yaws = _object_candidates(scenario, rotations, origins, local.reshape(columns, beam_count, 3), column_times)
    object_rows, object_hits = atlas.cast(ray_origins, directions, rows, agents, positions, yaws, MAX_RANGE + 1.0)
    hits.take_nearer(object_hits, object_rows)

    # ---- what comes back
    hit = np.flatnonzero(np.isfinite(hits.distance))
    world_points = ray_origins[hit] + directions[hit] * hits.distance[hit, None]
    surface_materials(scenario, world_points, hits, hit)
    return _returns(hits, hit, local, directions, offsets_us, beam_count, rng, atlas)


def _object_candidates(scenario: Scenario, rotations: np.ndarray, origins: np.ndarray, local: np.ndarray,
                       column_times: np.ndarray) -> tuple[list, list, list, list]:
    """For each object near the sensor: the rays (column-major indices) whose direction passes
    within its bounding sphere at the ray's time, and the object's pose at those times."""
    columns, beam_count, _ = local.shape
    rows, agents, positions, yaws = [], [], [], []
    table = scenario.table
    poses, present = table.sample(column_times)  # (A, columns)
    middle = columns // 2
    near = present.any(axis=1) & (np.hypot(poses["cx"][:, middle] - origins[middle, 0], poses["cy"][:, middle] - origins[middle, 1])
                                  < MAX_RANGE + table.radius + 5.0)
    column_azimuth = np.arctan2(local[:, 0, 1], local[:, 0, 0])  # beam-0 azimuth of each column
    slack = np.radians(1.0)  # beam azimuth offsets
    for index in np.flatnonzero(near):
        radius = table.radius[index]
        centres = np.column_stack([poses["cx"][index], poses["cy"][index], poses["cz"][index]])
        relative = np.einsum("aji,aj->ai", rotations, centres - origins)  # sensor frame at each column
        distance = np.linalg.norm(relative, axis=1)
        horizontal = np.hypot(relative[:, 0], relative[:, 1])
        half_angle = np.arcsin(np.clip(radius / np.maximum(horizontal, 1e-6), 0.0, 1.0))
        difference = np.abs(np.mod(column_azimuth - np.arctan2(relative[:, 1], relative[:, 0]) + np.pi, 2 * np.pi) - np.pi)
        candidate_columns = np.flatnonzero(present[index] & ((difference <= half_angle + slack) | (horizontal <= radius)))
        if not len(candidate_columns):
            continue
        unit = relative[candidate_columns] / np.maximum(distance[candidate_columns], 1e-6)[:, None]
        cone = np.cos(np.arcsin(np.clip(radius / np.maximum(distance[candidate_columns], 1e-6), 0.0, 1.0)))
        inside = (np.einsum("abi,ai->ab", local[candidate_columns], unit) >= cone[:, None] - 1e-9) | (distance[candidate_columns] <= radius)[:, None]
        column_index, beam_index = np.nonzero(inside)
        if not len(column_index):
            continue
        firing_columns = candidate_columns[column_index]
        rows.append(firing_columns * beam_count + beam_index)
        agents.append(int(index))
        positions.append(np.column_stack([poses["x"][index, firing_columns], poses["y"][index, firing_columns], poses["z"][index, firing_columns]]))
        yaws.append(poses["yaw"][index, firing_columns])
    return rows, agents, positions, yaws


def _returns(hits: Hits, hit: np.ndarray, local: np.ndarray, directions: np.ndarray, offsets_us: np.ndarray, beam_count: int,
             rng: np.random.Generator, atlas: ObjectAtlas) -> Sweep:
    """Turn ray hits into measured points: detection, range noise, intensity, spurious points."""
    count = len(hits.distance)
    material = hits.material
    distance = hits.distance
    reflectivity = REFLECTIVITY_OF_MATERIAL[material]
    scale = {agent.instance: agent.model.reflectivity_scale for agent in atlas.agents}
    objects = np.flatnonzero((hits.instance >= 0) & (material == code("paint")))
    if len(objects):
        reflectivity[objects] *= np.array([scale[instance] for instance in hits.instance[objects]])
    reflectivity = np.clip(reflectivity * rng.normal(1.0, 0.05, count), 0.01, 1.0)
    cosine = np.zeros(count)
    cosine[hit] = np.abs(np.einsum("ij,ij->i", hits.normal[hit], directions[hit]))

    returned = np.zeros(count, dtype=bool)
    strength = reflectivity[hit] * np.maximum(cosine[hit], 1e-3) * (_REFERENCE_RANGE / np.maximum(distance[hit], 0.1)) ** 2
    probability = 1.0 / (1.0 + np.exp(-np.log(strength) / _THRESHOLD_SOFTNESS))
    probability *= (1.0 - DROPOUT_OF_MATERIAL[material[hit]]) * 0.996
    returned[hit] = (rng.random(len(hit)) < probability) & (distance[hit] >= MIN_RANGE) & (distance[hit] <= MAX_RANGE)

    measured = distance + rng.normal(0.0, RANGE_NOISE, count)
    depth = PENETRATION_OF_MATERIAL[material]
    porous = returned & (depth > 0)
    measured[porous] += rng.exponential(1.0, int(porous.sum())) * depth[porous]
    intensity = np.clip(reflectivity * (0.25 + 0.75 * cosine) * rng.normal(1.0, 0.08, count) + rng.normal(0.0, 0.01, count), 0.0, 1.0)
    semantic = SEMANTIC_OF_MATERIAL[material].copy()
    instance = hits.instance.copy()

    # ---- spurious returns, mostly where nothing came back
    spurious = rng.random(count) < _SPURIOUS_RATE * np.where(returned, 0.2, 1.0)
    if spurious.any():
        returned |= spurious
        measured[spurious] = rng.uniform(1.0, 25.0, int(spurious.sum()))
        intensity[spurious] = rng.uniform(0.0, 0.15, int(spurious.sum()))
        semantic[spurious] = SEMANTIC_CODE["noise"]
        instance[spurious] = -1

    keep = np.flatnonzero(returned)  # already in firing order: column, then ring
    points = np.empty((len(keep), 6), dtype=np.float32)
    points[:, :3] = np.round(local[keep] * measured[keep, None] * _COORDINATE_STEPS) / _COORDINATE_STEPS
    points[:, 3] = np.round(intensity[keep] * 255.0) / 256.0  # the sensor's 8-bit value / 256
    points[:, 4] = np.repeat(offsets_us, beam_count)[keep]
    points[:, 5] = np.tile(np.arange(beam_count), len(offsets_us))[keep]
    kept_instances = instance[keep]
    instances, counts = np.unique(kept_instances[kept_instances >= 0], return_counts=True)
    return Sweep(points, PointTruth(semantic[keep].astype(np.uint8), kept_instances.astype(np.int32)),
                 {int(value): int(number) for value, number in zip(instances, counts)})
