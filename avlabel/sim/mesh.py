"""Triangle meshes with a material per triangle, and the primitives the world is built from.

A Mesh holds vertices (V, 3) float64, triangles (T, 3) int64 (counter-clockwise seen from
outside, so face normals point out) and materials (T,) uint8 (codes of
`avlabel.sim.materials.MATERIALS`). Primitives are built in a local frame and placed with
`transformed`; `concatenate` merges many meshes into one for a raycasting scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True, slots=True)
class Mesh:
    vertices: np.ndarray  # (V, 3) float64
    triangles: np.ndarray  # (T, 3) int64
    materials: np.ndarray  # (T,) uint8

    def __post_init__(self) -> None:
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise ValueError(f"mesh vertices: expected shape (V, 3), got {self.vertices.shape}")
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3 or len(self.materials) != len(self.triangles):
            raise ValueError("mesh triangles: expected (T, 3) triangles and (T,) materials")

    def __len__(self) -> int:
        return len(self.triangles)

    def transformed(self, matrix: np.ndarray) -> "Mesh":
        """The mesh moved by a 4x4 rigid transform (new_from_local)."""
        vertices = self.vertices @ matrix[:3, :3].T + matrix[:3, 3]
        return Mesh(vertices, self.triangles, self.materials)

    def translated(self, offset: np.ndarray | tuple[float, float, float]) -> "Mesh":
        return Mesh(self.vertices + np.asarray(offset, dtype=np.float64), self.triangles, self.materials)

    def with_material(self, material: int) -> "Mesh":
        return Mesh(self.vertices, self.triangles, np.full(len(self.triangles), material, dtype=np.uint8))

    def face_normals(self) -> np.ndarray:
        """(T, 3) unit outward normals."""
        corners = self.vertices[self.triangles]
        normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


EMPTY = Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.uint8))


def concatenate(meshes: list[Mesh]) -> Mesh:
    meshes = [mesh for mesh in meshes if len(mesh)]
    if not meshes:
        return EMPTY
    offsets = np.cumsum([0] + [len(mesh.vertices) for mesh in meshes[:-1]])
    return Mesh(
        np.concatenate([mesh.vertices for mesh in meshes]),
        np.concatenate([mesh.triangles + offset for mesh, offset in zip(meshes, offsets)]),
        np.concatenate([mesh.materials for mesh in meshes]),
    )


def rotation_z(angle: float) -> np.ndarray:
    """3x3 rotation by `angle` radians around +z."""
    cos, sin = np.cos(angle), np.sin(angle)
    return np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])


def pose_matrix(x: float, y: float, z: float, yaw: float = 0.0) -> np.ndarray:
    """4x4 transform of a frame at (x, y, z) turned by `yaw` around +z."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation_z(yaw)
    matrix[:3, 3] = (x, y, z)
    return matrix


# --------------------------------------------------------------------------- primitives

_BOX_FACES = np.array(
    # corners indexed by bits (x, y, z): index = 4*x + 2*y + z with 0 = min, 1 = max
    [[0, 1, 3], [0, 3, 2],  # -x
     [4, 6, 7], [4, 7, 5],  # +x
     [0, 4, 5], [0, 5, 1],  # -y
     [2, 3, 7], [2, 7, 6],  # +y
     [0, 2, 6], [0, 6, 4],  # -z
     [1, 5, 7], [1, 7, 3]],  # +z
    dtype=np.int64,
)


def hexahedron(corners: np.ndarray, material: int) -> Mesh:
    """A convex hexahedron from its 8 corners (8, 3), indexed 4*x + 2*y + z (0 = min side)."""
    return Mesh(np.asarray(corners, dtype=np.float64), _BOX_FACES.copy(), np.full(12, material, dtype=np.uint8))


def box(minimum: tuple[float, float, float], maximum: tuple[float, float, float], material: int) -> Mesh:
    """Axis-aligned box between two corners."""
    low, high = np.asarray(minimum, dtype=np.float64), np.asarray(maximum, dtype=np.float64)
    bits = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], dtype=np.float64)
    return hexahedron(low + bits * (high - low), material)


def tapered_box(
    bottom: tuple[float, float, float, float],
    top: tuple[float, float, float, float],
    z_bottom: float,
    z_top: float,
    material: int,
) -> Mesh:
    """A hexahedron whose bottom and top are axis-aligned rectangles (x0, x1, y0, y1):
    car cabins (narrower, shorter top), bumpers, truck cabs."""
    corners = np.empty((8, 3))
    for index in range(8):
        x_bit, y_bit, z_bit = index >> 2 & 1, index >> 1 & 1, index & 1
        rectangle = top if z_bit else bottom
        corners[index] = (rectangle[x_bit], rectangle[2 + y_bit], z_top if z_bit else z_bottom)
    return hexahedron(corners, material)


def cylinder(radius: float, z0: float, z1: float, material: int, segments: int = 10, cap: bool = True) -> Mesh:
    """Vertical cylinder around the z axis from z0 to z1."""
    angles = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    ring = np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)
    vertices = np.concatenate([np.column_stack([ring, np.full(segments, z0)]), np.column_stack([ring, np.full(segments, z1)])])
    following = (np.arange(segments) + 1) % segments
    lower, upper = np.arange(segments), np.arange(segments) + segments
    sides = np.concatenate([np.stack([lower, following, following + segments], 1), np.stack([lower, following + segments, upper], 1)])
    triangles = [sides]
    if cap:
        vertices = np.concatenate([vertices, [[0.0, 0.0, z0], [0.0, 0.0, z1]]])
        bottom_center, top_center = 2 * segments, 2 * segments + 1
        triangles.append(np.stack([np.full(segments, bottom_center), following, lower], 1))
        triangles.append(np.stack([np.full(segments, top_center), upper, following + segments], 1))
    triangles_array = np.concatenate(triangles)
    return Mesh(vertices, triangles_array, np.full(len(triangles_array), material, dtype=np.uint8))


def wheel(radius: float, width: float, material: int, segments: int = 12) -> Mesh:
    """A wheel: cylinder with its axis along y, centred at the origin."""
    mesh = cylinder(radius, -width / 2, width / 2, material, segments)
    to_y_axis = np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0], [0, -1.0, 0, 0], [0, 0, 0, 1.0]])
    return mesh.transformed(to_y_axis)


@lru_cache(maxsize=4)
def _icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    golden = (1.0 + 5.0**0.5) / 2.0
    vertices = [(-1, golden, 0), (1, golden, 0), (-1, -golden, 0), (1, -golden, 0), (0, -1, golden), (0, 1, golden),
                (0, -1, -golden), (0, 1, -golden), (golden, 0, -1), (golden, 0, 1), (-golden, 0, -1), (-golden, 0, 1)]
    faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2), (10, 7, 6),
             (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10),
             (8, 6, 7), (9, 8, 1)]
    points = [np.asarray(vertex, dtype=np.float64) / np.linalg.norm(vertex) for vertex in vertices]
    for _ in range(subdivisions):
        midpoints: dict[tuple[int, int], int] = {}

        def midpoint(first: int, second: int) -> int:
            key = (min(first, second), max(first, second))
            if key not in midpoints:
                middle = points[first] + points[second]
                points.append(middle / np.linalg.norm(middle))
                midpoints[key] = len(points) - 1
            return midpoints[key]

        refined = []
        for first, second, third in faces:
            a, b, c = midpoint(first, second), midpoint(second, third), midpoint(third, first)
            refined += [(first, a, c), (second, b, a), (third, c, b), (a, b, c)]
        faces = refined
    return np.array(points), np.array(faces, dtype=np.int64)


def ellipsoid(radii: tuple[float, float, float], material: int, subdivisions: int = 1) -> Mesh:
    unit, faces = _icosphere(subdivisions)
    return Mesh(unit * np.asarray(radii, dtype=np.float64), faces.copy(), np.full(len(faces), material, dtype=np.uint8))


def blob(radii: tuple[float, float, float], material: int, rng: np.random.Generator, roughness: float = 0.25, subdivisions: int = 2) -> Mesh:
    """An irregular lump (bush, tree crown): an ellipsoid whose surface is pushed in and out
    by smooth random bumps of relative amplitude `roughness` plus fine per-vertex jitter."""
    unit, faces = _icosphere(subdivisions)
    bumps = np.zeros(len(unit))
    for _ in range(5):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        bumps += rng.uniform(-1.0, 1.0) * np.exp(-(1.0 - unit @ direction) * rng.uniform(2.0, 6.0))
    scale = 1.0 + roughness * (bumps / max(np.abs(bumps).max(), 1e-9) + 0.5 * rng.uniform(-1.0, 1.0, len(unit)))
    return Mesh(unit * scale[:, None] * np.asarray(radii, dtype=np.float64), faces.copy(), np.full(len(faces), material, dtype=np.uint8))


def grid_surface(x_edges: np.ndarray, y_edges: np.ndarray, heights: np.ndarray, materials: np.ndarray) -> Mesh:
    """A height field over a rectilinear grid: heights (len(y_edges), len(x_edges)) at the
    grid nodes, materials (len(y_edges)-1, len(x_edges)-1) per cell; normals point up."""
    grid_x, grid_y = np.meshgrid(x_edges, y_edges)
    vertices = np.column_stack([grid_x.ravel(), grid_y.ravel(), heights.ravel()])
    index = np.arange(grid_x.size).reshape(grid_x.shape)
    lower_left, lower_right = index[:-1, :-1].ravel(), index[:-1, 1:].ravel()
    upper_left, upper_right = index[1:, :-1].ravel(), index[1:, 1:].ravel()
    triangles = np.concatenate([np.stack([lower_left, lower_right, upper_right], 1), np.stack([lower_left, upper_right, upper_left], 1)])
    cell_materials = np.asarray(materials, dtype=np.uint8).ravel()
    return Mesh(vertices, triangles, np.concatenate([cell_materials, cell_materials]))


def vertical_strip(points: np.ndarray, bottom: np.ndarray, top: np.ndarray, material: int) -> Mesh:
    """A vertical wall along a polyline (P, 2) from heights bottom (P,) to top (P,). The wall
    faces to the left of the polyline's direction."""
    count = len(points)
    vertices = np.concatenate([np.column_stack([points, bottom]), np.column_stack([points, top])])
    lower = np.arange(count - 1)
    triangles = np.concatenate([np.stack([lower, lower + count + 1, lower + 1], 1), np.stack([lower, lower + count, lower + count + 1], 1)])
    return Mesh(vertices, triangles, np.full(len(triangles), material, dtype=np.uint8))


def noisy_box(minimum: tuple[float, float, float], maximum: tuple[float, float, float], material: int, rng: np.random.Generator,
              cell: float = 0.5, jitter: float = 0.08) -> Mesh:
    """A box subdivided into cells of about `cell` metres whose vertices are jittered (hedges)."""
    low, high = np.asarray(minimum, dtype=np.float64), np.asarray(maximum, dtype=np.float64)
    faces = []
    for axis in range(3):
        for side in (0, 1):
            others = [other for other in range(3) if other != axis]
            first = np.linspace(low[others[0]], high[others[0]], max(2, int(np.ceil((high[others[0]] - low[others[0]]) / cell)) + 1))
            second = np.linspace(low[others[1]], high[others[1]], max(2, int(np.ceil((high[others[1]] - low[others[1]]) / cell)) + 1))
            grid_a, grid_b = np.meshgrid(first, second)
            vertices = np.empty((grid_a.size, 3))
            vertices[:, axis] = high[axis] if side else low[axis]
            vertices[:, others[0]] = grid_a.ravel()
            vertices[:, others[1]] = grid_b.ravel()
            outward = np.zeros(3)
            outward[axis] = 1.0 if side else -1.0
            on_bottom = vertices[:, 2] <= low[2] + 1e-9
            # push vertices in and out along the face normal, keep the footprint bottom flat
            vertices += np.where(on_bottom[:, None], 0.0, outward * rng.uniform(-jitter, jitter, (len(vertices), 1)))
            vertices[:, :2] += np.where(on_bottom[:, None], 0.0, rng.normal(0.0, jitter / 3, (len(vertices), 2)))
            index = np.arange(grid_a.size).reshape(grid_a.shape)
            a, b, c, d = index[:-1, :-1].ravel(), index[:-1, 1:].ravel(), index[1:, :-1].ravel(), index[1:, 1:].ravel()
            triangles = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
            # orient every triangle outward
            corners = vertices[triangles]
            normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
            flip = normal @ outward < 0
            triangles[flip] = triangles[flip][:, ::-1]
            faces.append(Mesh(vertices, triangles, np.full(len(triangles), material, dtype=np.uint8)))
    return concatenate(faces)
