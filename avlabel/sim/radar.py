"""The forward radar: sparse detections with Doppler, radar cross-section, noise and clutter.

A scan casts a fan of rays over the field of view (about +-60 degrees, a few elevation
rows) at the scan instant. Objects return a few scatterers each (trucks most, pedestrians
fewest, farther objects fewer), drawn from their lit surface with a preference for faces
square to the radar; static structures (walls, poles, trees, parked cars' surroundings)
return some too. Each detection is measured with noise in range, azimuth, elevation and
radial velocity; radial velocity is relative to the sensor (not ego-motion compensated),
positive moving away, so static structures show the ego's own motion. False alarms are
added uniformly over the field of view. Detections are in the sensor frame (x forward, y
left, z up); rcs in dBsm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avlabel.io.logstore import GROUND_CLASSES, SEMANTIC_CODE
from avlabel.sim.lidar import sensor_poses
from avlabel.sim.materials import RCS_OF_MATERIAL, SEMANTIC_OF_MATERIAL
from avlabel.sim.raycast import ObjectScene, StaticScene
from avlabel.sim.scenario import Agent, Scenario

FIELD_OF_VIEW = np.radians(60.0)  # half angle
MAX_RANGE = 150.0
_AZIMUTHS = np.radians(np.arange(-60.0, 60.01, 0.4))
_ELEVATIONS = np.radians(np.array([-4.0, -2.0, -0.5, 1.0, 2.5, 4.0]))
_SCATTERERS = {"car": 3.5, "truck": 6.0, "pedestrian": 1.0, "cyclist": 1.4}  # expected detections at 20 m
_DETECTED = {"car": 0.97, "truck": 0.99, "pedestrian": 0.65, "cyclist": 0.8}  # chance to show at all, near
_STATIC_DETECTIONS = 14.0  # expected per scan
_FALSE_ALARMS = 2.5
_NOISE = {"range": 0.12, "azimuth": np.radians(0.3), "elevation": np.radians(1.2), "radial_velocity": 0.08, "rcs": 2.5}


@dataclass(frozen=True, slots=True)
class Scan:
    """detections (D, 5) float32 (RADAR_FIELDS) and their truth instance (D,) int32."""

    detections: np.ndarray
    instance: np.ndarray


def simulate_scan(scenario: Scenario, static: StaticScene, ego_from_radar: np.ndarray, time: float, rng: np.random.Generator) -> Scan:
    """The scan at log time `time` (seconds)."""
    rotations, origins = sensor_poses(scenario, ego_from_radar, np.array([time - 0.005, time, time + 0.005]))
    rotation, origin = rotations[1], origins[1]
    sensor_velocity = (origins[2] - origins[0]) / 0.01

    # ---- cast the fan
    azimuth, elevation = np.meshgrid(_AZIMUTHS, _ELEVATIONS)
    local = np.column_stack([(np.cos(elevation) * np.cos(azimuth)).ravel(), (np.cos(elevation) * np.sin(azimuth)).ravel(), np.sin(elevation).ravel()])
    directions = local @ rotation.T
    ray_origins = np.broadcast_to(origin, directions.shape)
    hits = static.cast(ray_origins, directions, MAX_RANGE)
    objects = ObjectScene(scenario, time, origin, MAX_RANGE, rotation[:, 0], FIELD_OF_VIEW + np.radians(6.0))
    hits.take_nearer(objects.cast(ray_origins, directions, MAX_RANGE))
    hit = np.isfinite(hits.distance)
    points = ray_origins + directions * np.where(hit, hits.distance, 0.0)[:, None]
    facing = np.abs(np.einsum("ij,ij->i", hits.normal, directions))

    # ---- scatterers on objects
    chosen: list[int] = []
    instances: list[int] = []
    rcs: list[float] = []
    agents = {agent.instance: agent for agent in scenario.agents}
    for instance in np.unique(hits.instance[hit & (hits.instance >= 0)]):
        rows = np.flatnonzero(hit & (hits.instance == instance))
        agent = agents[int(instance)]
        distance = float(hits.distance[rows].min())
        if rng.random() > _DETECTED[agent.label] * np.clip(1.3 - distance / MAX_RANGE, 0.0, 1.0):
            continue
        count = min(len(rows), rng.poisson(_SCATTERERS[agent.label] * np.clip(20.0 / max(distance, 1.0), 0.35, 1.8)) + 1)
        weights = facing[rows] ** 2 + 0.05
        picked = rng.choice(rows, size=count, replace=False, p=weights / weights.sum())
        chosen += list(picked)
        instances += [int(instance)] * count
        rcs += list(agent.model.rcs_dbsm - 10 * np.log10(count) + rng.normal(0.0, _NOISE["rcs"], count))

    # ---- scatterers on the static world (ground mostly suppressed)
    ground = np.isin(SEMANTIC_OF_MATERIAL[hits.material], [SEMANTIC_CODE[name] for name in GROUND_CLASSES])
    static_rows = np.flatnonzero(hit & (hits.instance < 0))
    if len(static_rows):
        weights = (10 ** (RCS_OF_MATERIAL[hits.material[static_rows]] / 20) * (facing[static_rows] ** 2 + 0.02)
                   * np.where(ground[static_rows], 0.01, 1.0))
        count = min(len(static_rows), rng.poisson(_STATIC_DETECTIONS))
        picked = rng.choice(static_rows, size=count, replace=False, p=weights / weights.sum())
        chosen += list(picked)
        instances += [-1] * count
        rcs += list(RCS_OF_MATERIAL[hits.material[picked]] + rng.normal(0.0, 4.0, count))

    # ---- true radial velocity of each scatterer
    chosen_rows = np.array(chosen, dtype=np.int64)
    true_points = points[chosen_rows]
    velocities = np.zeros((len(chosen_rows), 3))
    for row, instance in enumerate(instances):
        if instance >= 0:
            velocities[row] = _point_velocity(agents[instance], time, true_points[row])
    line_of_sight = directions[chosen_rows]
    radial = np.einsum("ij,ij->i", velocities - sensor_velocity, line_of_sight)
    ranges = hits.distance[chosen_rows]
    azimuths = np.arctan2(local[chosen_rows, 1], local[chosen_rows, 0])
    elevations = np.arcsin(np.clip(local[chosen_rows, 2], -1.0, 1.0))

    # ---- false alarms
    alarms = rng.poisson(_FALSE_ALARMS)
    ranges = np.concatenate([ranges, rng.uniform(3.0, MAX_RANGE, alarms)])
    azimuths = np.concatenate([azimuths, rng.uniform(-FIELD_OF_VIEW, FIELD_OF_VIEW, alarms)])
    elevations = np.concatenate([elevations, rng.normal(0.0, np.radians(2.0), alarms)])
    radial = np.concatenate([radial, rng.normal(0.0, 3.0, alarms)])
    rcs = np.concatenate([np.array(rcs, dtype=np.float64), rng.uniform(-15.0, 0.0, alarms)])
    instance_array = np.concatenate([np.array(instances, dtype=np.int32), np.full(alarms, -1, np.int32)])

    # ---- measurement noise, sensor frame
    count = len(ranges)
    ranges = ranges + rng.normal(0.0, _NOISE["range"], count)
    azimuths = azimuths + rng.normal(0.0, _NOISE["azimuth"], count) * (1.0 + np.abs(azimuths) / FIELD_OF_VIEW)
    elevations = elevations + rng.normal(0.0, _NOISE["elevation"], count)
    radial = radial + rng.normal(0.0, _NOISE["radial_velocity"], count)
    detections = np.column_stack([
        ranges * np.cos(elevations) * np.cos(azimuths),
        ranges * np.cos(elevations) * np.sin(azimuths),
        ranges * np.sin(elevations),
        radial,
        rcs,
    ]).astype(np.float32)
    order = np.argsort(ranges, kind="stable")
    return Scan(detections[order], instance_array[order])


def _point_velocity(agent: Agent, time: float, point: np.ndarray) -> np.ndarray:
    """World velocity (3,) of a point on a (yawing) object at `time`."""
    pose = agent.trajectory.sample(np.array([time - 0.005, time, time + 0.005]))
    yaw_rate = (pose["yaw"][2] - pose["yaw"][0]) / 0.01
    velocity = np.array([(pose["x"][2] - pose["x"][0]) / 0.01, (pose["y"][2] - pose["y"][0]) / 0.01, 0.0])
    lever = point[:2] - np.array([pose["x"][1], pose["y"][1]])
    velocity[:2] += yaw_rate * np.array([-lever[1], lever[0]])
    return velocity
