"""Ray casting against the simulated world with Open3D's RaycastingScene.

- `StaticScene`: the town, one scene built once per log (world frame).
- `ObjectAtlas`: every object's mesh in its own frame, all in one scene built once per log
  (each object far from the others). A ray is tested against an object by carrying the ray
  into that object's frame at the ray's own time, so a LiDAR ray fired at t sees each object
  exactly where it was at t.
- `ObjectScene`: the objects placed at one instant, rebuilt per camera image or radar scan.

`Hits` gathers the nearest hit of each ray: distance, material code, normal (world frame,
turned to face the ray) and instance (-1 for the static world). `surface_materials` then
paints road markings and facade windows onto the hits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from avlabel.sim.layout import MARKING_WHITE, MARKING_YELLOW
from avlabel.sim.materials import IS_FACADE, code
from avlabel.sim.mesh import Mesh, rotation_z
from avlabel.sim.scenario import Agent, Scenario

_ATLAS_SPACING = 600.0  # metres between object copies in the atlas (> 2 x the longest ray)


@dataclass(slots=True)
class Hits:
    """Nearest hits of N rays. distance (N,) inf where nothing was hit."""

    distance: np.ndarray
    material: np.ndarray  # (N,) uint8
    normal: np.ndarray  # (N, 3) world frame, facing the ray
    instance: np.ndarray  # (N,) int32, -1 for the static world

    @classmethod
    def empty(cls, count: int) -> "Hits":
        return cls(np.full(count, np.inf), np.zeros(count, np.uint8), np.zeros((count, 3)), np.full(count, -1, np.int32))

    def take_nearer(self, other: "Hits", rows: np.ndarray | None = None) -> None:
        """Keep, ray by ray, whichever of self and other (for `rows` of self) is nearer."""
        rows = np.arange(len(self.distance)) if rows is None else rows
        nearer = other.distance < self.distance[rows]
        target = rows[nearer]
        self.distance[target] = other.distance[nearer]
        self.material[target] = other.material[nearer]
        self.normal[target] = other.normal[nearer]
        self.instance[target] = other.instance[nearer]


def _scene(vertices: np.ndarray, triangles: np.ndarray) -> o3d.t.geometry.RaycastingScene:
    scene = o3d.t.geometry.RaycastingScene()
    if len(triangles):
        scene.add_triangles(o3d.core.Tensor(np.ascontiguousarray(vertices, dtype=np.float32)),
                            o3d.core.Tensor(np.ascontiguousarray(triangles, dtype=np.uint32)))
    return scene


def _cast(scene: o3d.t.geometry.RaycastingScene, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rays = np.empty((len(origins), 6), dtype=np.float32)
    rays[:, :3], rays[:, 3:] = origins, directions
    answer = scene.cast_rays(o3d.core.Tensor(rays))
    return answer["t_hit"].numpy().astype(np.float64), answer["primitive_ids"].numpy(), answer["primitive_normals"].numpy().astype(np.float64)


def _facing(normals: np.ndarray, directions: np.ndarray) -> np.ndarray:
    flip = np.einsum("ij,ij->i", normals, directions) > 0
    normals = normals.copy()
    normals[flip] *= -1.0
    return normals


class StaticScene:
    """The static world, world frame."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self._scene = _scene(mesh.vertices, mesh.triangles)

    def cast(self, origins: np.ndarray, directions: np.ndarray, max_distance: float = np.inf) -> Hits:
        distance, primitive, normal = _cast(self._scene, origins, directions)
        hit = np.isfinite(distance) & (distance <= max_distance)
        hits = Hits.empty(len(origins))
        hits.distance[hit] = distance[hit]
        hits.material[hit] = self.mesh.materials[primitive[hit]]
        hits.normal[hit] = _facing(normal[hit], directions[hit])
        return hits


class ObjectAtlas:
    """All object meshes, each in its own frame at its own far-away slot of one scene."""

    def __init__(self, agents: tuple[Agent, ...]) -> None:
        self.agents = agents
        slots = np.arange(len(agents))
        self.offsets = _ATLAS_SPACING * np.column_stack([slots % 8, (slots // 8) % 8, slots // 64]).astype(np.float64) + _ATLAS_SPACING
        meshes = [agent.model.mesh.translated(offset) for agent, offset in zip(agents, self.offsets)]
        counts = np.array([len(mesh) for mesh in meshes], dtype=np.int64)
        self.first_triangle = np.concatenate([[0], np.cumsum(counts)])
        vertex_offsets = np.concatenate([[0], np.cumsum([len(mesh.vertices) for mesh in meshes])])[:-1]
        vertices = np.concatenate([mesh.vertices for mesh in meshes]) if meshes else np.zeros((0, 3))
        triangles = np.concatenate([mesh.triangles + offset for mesh, offset in zip(meshes, vertex_offsets)]) if meshes else np.zeros((0, 3), np.int64)
        self.materials = np.concatenate([mesh.materials for mesh in meshes]) if meshes else np.zeros(0, np.uint8)
        self._scene = _scene(vertices, triangles)

    def cast(self, origins: np.ndarray, directions: np.ndarray, rows: list[np.ndarray], agents: list[int],
             positions: list[np.ndarray], yaws: list[np.ndarray], max_distance: float) -> tuple[np.ndarray, Hits]:
        """Cast rays against objects, each ray in the frame of the object at its own time.

        For each entry j: rays `rows[j]` (indices into origins/directions, world frame) are
        tested against agent index `agents[j]` posed at positions[j] (n_j, 3) and yaws[j]
        (n_j,) (the agent's pose at each ray's time). Returns the ray rows and their hits
        (nearest per ray over all entries)."""
        if not rows:
            return np.zeros(0, np.int64), Hits.empty(0)
        all_rows = np.concatenate(rows)
        local_origins = np.empty((len(all_rows), 3))
        local_directions = np.empty((len(all_rows), 3))
        owner = np.concatenate([np.full(len(entry), agent) for entry, agent in zip(rows, agents)])
        all_yaws = np.concatenate(yaws)
        start = 0
        for entry, agent, position, yaw in zip(rows, agents, positions, yaws):
            stop = start + len(entry)
            cos, sin = np.cos(yaw), np.sin(yaw)
            relative = origins[entry] - position
            # object_from_world = Rz(-yaw) (p - position)
            local_origins[start:stop, 0] = cos * relative[:, 0] + sin * relative[:, 1]
            local_origins[start:stop, 1] = -sin * relative[:, 0] + cos * relative[:, 1]
            local_origins[start:stop, 2] = relative[:, 2]
            direction = directions[entry]
            local_directions[start:stop, 0] = cos * direction[:, 0] + sin * direction[:, 1]
            local_directions[start:stop, 1] = -sin * direction[:, 0] + cos * direction[:, 1]
            local_directions[start:stop, 2] = direction[:, 2]
            local_origins[start:stop] += self.offsets[agent]
            start = stop
        distance, primitive, normal = _cast(self._scene, local_origins, local_directions)
        hit = np.isfinite(distance) & (distance <= max_distance)
        hit[hit] &= np.searchsorted(self.first_triangle, primitive[hit], side="right") - 1 == owner[hit]
        # normals back to the world frame
        cos, sin = np.cos(all_yaws), np.sin(all_yaws)
        world_normal = np.column_stack([cos * normal[:, 0] - sin * normal[:, 1], sin * normal[:, 0] + cos * normal[:, 1], normal[:, 2]])
        # nearest over entries, per ray
        order = np.lexsort((np.where(hit, distance, np.inf), all_rows))
        first = np.concatenate([[True], all_rows[order][1:] != all_rows[order][:-1]])
        chosen = order[first]
        chosen = chosen[hit[chosen]]
        hits = Hits(
            distance[chosen],
            self.materials[primitive[chosen]],
            _facing(world_normal[chosen], directions[all_rows[chosen]]),
            np.array([self.agents[agent].instance for agent in owner[chosen]], dtype=np.int32),
        )
        return all_rows[chosen], hits


class ObjectScene:
    """The objects placed at one instant (world frame), for cameras and radar. Only objects
    within `reach` of `origin` and inside the view cone (axis `view`, half angle
    `half_angle` radians) are placed."""

    def __init__(self, scenario: Scenario, time: float, origin: np.ndarray, reach: float,
                 view: np.ndarray | None = None, half_angle: float = np.pi) -> None:
        table = scenario.table
        poses, present = table.sample(np.array([time]))
        relative = np.column_stack([poses["cx"][:, 0], poses["cy"][:, 0], poses["cz"][:, 0]]) - origin
        distance = np.linalg.norm(relative, axis=1)
        wanted = present[:, 0] & (distance < reach + table.radius)
        if view is not None and half_angle < np.pi:
            angle = np.arccos(np.clip(relative @ view / np.maximum(distance, 1e-9), -1.0, 1.0))
            widening = np.arcsin(np.clip(table.radius / np.maximum(distance, 1e-9), 0.0, 1.0))
            wanted &= (angle <= half_angle + widening) | (distance <= table.radius)
        placed, instances, materials = [], [], []
        for index in np.flatnonzero(wanted):
            mesh = scenario.agents[index].model.mesh
            position = np.array([poses["x"][index, 0], poses["y"][index, 0], poses["z"][index, 0]])
            placed.append((mesh.vertices @ rotation_z(float(poses["yaw"][index, 0])).T + position, mesh.triangles))
            instances.append(np.full(len(mesh), table.instance[index], np.int32))
            materials.append(mesh.materials)
        offsets = np.concatenate([[0], np.cumsum([len(vertices) for vertices, _ in placed])])[:-1]
        vertices = np.concatenate([v for v, _ in placed]) if placed else np.zeros((0, 3))
        triangles = np.concatenate([t + o for (_, t), o in zip(placed, offsets)]) if placed else np.zeros((0, 3), np.int64)
        self.instances = np.concatenate(instances) if instances else np.zeros(0, np.int32)
        self.materials = np.concatenate(materials) if materials else np.zeros(0, np.uint8)
        self._scene = _scene(vertices, triangles)

    def cast(self, origins: np.ndarray, directions: np.ndarray, max_distance: float = np.inf) -> Hits:
        hits = Hits.empty(len(origins))
        if not len(self.instances):
            return hits
        distance, primitive, normal = _cast(self._scene, origins, directions)
        hit = np.isfinite(distance) & (distance <= max_distance)
        hits.distance[hit] = distance[hit]
        hits.material[hit] = self.materials[primitive[hit]]
        hits.normal[hit] = _facing(normal[hit], directions[hit])
        hits.instance[hit] = self.instances[primitive[hit]]
        return hits

    def occludes(self, origins: np.ndarray, directions: np.ndarray, max_distance: np.ndarray) -> np.ndarray:
        if not len(self.instances):
            return np.zeros(len(origins), dtype=bool)
        distance, _, _ = _cast(self._scene, origins, directions)
        return distance < max_distance


def surface_materials(scenario: Scenario, points: np.ndarray, hits: Hits, rows: np.ndarray) -> None:
    """Paint road markings on asphalt hits and windows on facade hits, for hits `rows` at
    world points (len(rows), 3). Changes hits.material in place."""
    if not len(rows):
        return
    materials = hits.material[rows]
    asphalt = materials == code("asphalt")
    if asphalt.any():
        local = scenario.map_from_world(points[asphalt])
        paint = scenario.town.markings(local[:, 0], local[:, 1])
        painted = np.where(paint == MARKING_WHITE, code("marking_white"), np.where(paint == MARKING_YELLOW, code("marking_yellow"), code("asphalt")))
        materials[asphalt] = painted
    facade = IS_FACADE[materials] & (np.abs(hits.normal[rows, 2]) < 0.3)
    if facade.any():
        normal = hits.normal[rows][facade]
        along = points[facade, 0] * -normal[:, 1] + points[facade, 1] * normal[:, 0]
        height = points[facade, 2]
        window = (np.mod(along, 3.4) > 0.9) & (np.mod(along, 3.4) < 2.5) & (np.mod(height, 3.2) > 1.1) & (np.mod(height, 3.2) < 2.5)
        materials[np.flatnonzero(facade)[window]] = code("window")
    hits.material[rows] = materials
