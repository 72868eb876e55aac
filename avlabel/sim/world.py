"""The static town, in the map frame: ground with curbs, lots, buildings, walls, hedges,
trees, bushes, poles, signs and traffic lights, plus a distant skyline for the cameras.

Each block side that faces a street is cut into lots of five kinds (see `_LOT_KINDS`):
buildings at the property line, houses behind front gardens and hedges, small parks,
parking lots with cars nosed in against a back wall beside a hedge, and gaps with a garden
wall. The parking stalls are returned so the scenario can fill them with parked cars.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from avlabel.sim import layout as streets
from avlabel.sim import mesh as meshes
from avlabel.sim.layout import Layout
from avlabel.sim.materials import FACADES, code
from avlabel.sim.mesh import Mesh


@dataclass(frozen=True, slots=True)
class ParkingStall:
    """A parking-lot stall, map frame: a car parks with its front `front_gap` metres short of
    the point (x, y) (the wall face), heading `yaw`."""

    x: float
    y: float
    yaw: float
    front_gap: float


@dataclass(frozen=True, slots=True)
class StaticWorld:
    """Everything that does not move, map frame."""

    mesh: Mesh
    stalls: tuple[ParkingStall, ...]
    # Obstacles on sidewalks (x, y, radius), map frame: trees, poles, hydrants.
    sidewalk_obstacles: np.ndarray


@dataclass(frozen=True, slots=True)
class _Side:
    """A block side that faces a street. Local frame: u along `direction` from `start`,
    v inward (to the left of `direction`), so the curb is v = 0 and the property line
    v = SIDEWALK_WIDTH."""

    start: tuple[float, float]
    direction: tuple[float, float]
    length: float
    lot_start: float
    lot_end: float
    depth: float

    @property
    def yaw(self) -> float:
        return float(np.arctan2(self.direction[1], self.direction[0]))

    def to_map(self, u: np.ndarray | float, v: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        direction = np.asarray(self.direction)
        normal = np.array([-direction[1], direction[0]])
        x = self.start[0] + np.asarray(u) * direction[0] + np.asarray(v) * normal[0]
        y = self.start[1] + np.asarray(u) * direction[1] + np.asarray(v) * normal[1]
        return x, y

    def rectangle(self, u0: float, u1: float, v0: float, v1: float) -> tuple[float, float, float, float]:
        """The map-frame axis-aligned rectangle (x0, x1, y0, y1) of a local rectangle."""
        xs, ys = self.to_map(np.array([u0, u1, u0, u1]), np.array([v0, v0, v1, v1]))
        return float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())


class _Builder:
    """Collects meshes, ground rectangles and stalls while the town is laid out."""

    def __init__(self, town: Layout, rng: np.random.Generator) -> None:
        self.town = town
        self.rng = rng
        self.meshes: list[Mesh] = []
        self.ground_rectangles: list[tuple[float, float, float, float, int]] = []
        self.stalls: list[ParkingStall] = []
        self.obstacles: list[tuple[float, float, float]] = []

    def ground(self, x: float, y: float) -> float:
        return float(self.town.surface_height(np.array(x), np.array(y)))

    def place(self, mesh: Mesh, side: _Side, u: float, v: float, yaw: float = 0.0, sink: float = 0.0) -> None:
        """Put a mesh built around its local origin (z = 0 at ground) at (u, v) of a side."""
        x, y = side.to_map(u, v)
        matrix = meshes.pose_matrix(float(x), float(y), self.ground(float(x), float(y)) - sink, side.yaw + yaw)
        self.meshes.append(mesh.transformed(matrix))

    def place_block(self, side: _Side, u0: float, u1: float, v0: float, v1: float, height: float, material: int,
                    roof: int | None = None, base: float | None = None) -> float:
        """A box over a local rectangle from the ground (or `base`) to `height` above the
        highest ground corner (or above `base`); returns the top's height."""
        xs, ys = side.to_map(np.array([u0, u1, u0, u1]), np.array([v0, v0, v1, v1]))
        heights = self.town.surface_height(xs, ys)
        bottom = float(heights.min()) - 0.4 if base is None else base
        top = (float(heights.max()) if base is None else base) + height
        body = meshes.box((min(u0, u1), min(v0, v1), bottom), (max(u0, u1), max(v0, v1), top), material)
        if roof is not None:
            top_faces = np.zeros(len(body), dtype=bool)
            top_faces[-2:] = True
            body = Mesh(body.vertices, body.triangles, np.where(top_faces, roof, body.materials).astype(np.uint8))
        matrix = meshes.pose_matrix(side.start[0], side.start[1], 0.0, side.yaw)
        self.meshes.append(body.transformed(matrix))
        return top


def build_world(town: Layout, rng: np.random.Generator, *, tree_detail: int = 2) -> StaticWorld:
    """Lay out the static town. `tree_detail` is the icosphere subdivision of crowns and bushes."""
    builder = _Builder(town, rng)
    builder.meshes += _roads(town)
    for block in town.blocks():
        sides = _block_sides(town, block, rng)
        for side in sides:
            _lots(builder, side, tree_detail)
            _sidewalk_furniture(builder, side, tree_detail)
        builder.meshes.append(_block_ground(town, block, sides, builder.ground_rectangles, rng))
        builder.meshes += _curbs(town, block, sides)
    builder.meshes += _traffic_control(builder)
    builder.meshes += _surroundings(town, rng)
    return StaticWorld(
        mesh=meshes.concatenate(builder.meshes),
        stalls=tuple(builder.stalls),
        sidewalk_obstacles=np.array(builder.obstacles, dtype=np.float64).reshape(-1, 3),
    )


# --------------------------------------------------------------------------- ground


_ACROSS = np.array([-streets.HALF_WIDTH, -5.0, -3.5, -1.75, 0.0, 1.75, 3.5, 5.0, streets.HALF_WIDTH])


def _spaced(start: float, stop: float, step: float) -> np.ndarray:
    count = max(1, int(np.ceil((stop - start) / step)))
    return np.linspace(start, stop, count + 1)


def _roads(town: Layout) -> list[Mesh]:
    """Crowned road surfaces: street segments between intersections, and the intersections."""
    x_min, x_max, y_min, y_max = town.bounds
    asphalt = code("asphalt")
    surfaces = []
    for axis, centres, crossings, (low, high) in (
        (0, town.street_ys, town.street_xs, (x_min, x_max)),
        (1, town.street_xs, town.street_ys, (y_min, y_max)),
    ):
        cuts = [low] + [c for crossing in crossings for c in (crossing - streets.HALF_WIDTH, crossing + streets.HALF_WIDTH)] + [high]
        for centre in centres:
            for start, stop in zip(cuts[0::2], cuts[1::2]):
                along = _spaced(start, stop, 2.0)
                across = centre + _ACROSS
                x_edges, y_edges = (along, across) if axis == 0 else (across, along)
                grid_x, grid_y = np.meshgrid(x_edges, y_edges)
                heights = town.road_height(grid_x, grid_y)
                cells = np.full((len(y_edges) - 1, len(x_edges) - 1), asphalt)
                surfaces.append(meshes.grid_surface(x_edges, y_edges, heights, cells))
    for x, y in town.intersections:
        x_edges, y_edges = x + _ACROSS, y + _ACROSS
        grid_x, grid_y = np.meshgrid(x_edges, y_edges)
        cells = np.full((len(y_edges) - 1, len(x_edges) - 1), asphalt)
        surfaces.append(meshes.grid_surface(x_edges, y_edges, town.road_height(grid_x, grid_y), cells))
    return surfaces


def _block_sides(town: Layout, block: tuple[float, float, float, float], rng: np.random.Generator) -> list[_Side]:
    """The sides of a block that face a street, with their lot ranges (corners go to the
    east-west sides) and a lot depth each."""
    x0, x1, y0, y1 = block
    x_min, x_max, y_min, y_max = town.bounds
    faces = {"south": y0 > y_min, "north": y1 < y_max, "west": x0 > x_min, "east": x1 < x_max}
    width, height = x1 - x0, y1 - y0
    inner = streets.SIDEWALK_WIDTH
    depth = {name: float(min(rng.uniform(18.0, 28.0), (height if name in ("south", "north") else width) / 2 - inner - 1.0)) for name in faces}
    corner_south = depth["south"] + inner if faces["south"] else 0.0
    corner_north = depth["north"] + inner if faces["north"] else 0.0
    west, east = (inner if faces["west"] else 0.0), (inner if faces["east"] else 0.0)
    sides = []
    if faces["south"]:
        sides.append(_Side((x0, y0), (1.0, 0.0), width, west, width - east, depth["south"]))
    if faces["north"]:
        sides.append(_Side((x1, y1), (-1.0, 0.0), width, east, width - west, depth["north"]))
    if faces["west"]:
        sides.append(_Side((x0, y1), (0.0, -1.0), height, corner_north, height - corner_south, depth["west"]))
    if faces["east"]:
        sides.append(_Side((x1, y0), (0.0, 1.0), height, corner_south, height - corner_north, depth["east"]))
    return sides


def _block_ground(town: Layout, block: tuple[float, float, float, float], sides: list[_Side],
                  rectangles: list[tuple[float, float, float, float, int]], rng: np.random.Generator) -> Mesh:
    """The raised ground of a block: sidewalks along street sides, lot surfaces, lawn elsewhere."""
    x0, x1, y0, y1 = block
    inside = [r for r in rectangles if r[0] < x1 and r[1] > x0 and r[2] < y1 and r[3] > y0]
    sidewalks = [side.rectangle(0.0, side.length, 0.0, streets.SIDEWALK_WIDTH) for side in sides]
    x_cuts = {x0, x1} | {r[0] for r in inside} | {r[1] for r in inside} | {s[0] for s in sidewalks} | {s[1] for s in sidewalks}
    y_cuts = {y0, y1} | {r[2] for r in inside} | {r[3] for r in inside} | {s[2] for s in sidewalks} | {s[3] for s in sidewalks}
    x_edges = _refine(sorted(c for c in x_cuts if x0 <= c <= x1), 3.0)
    y_edges = _refine(sorted(c for c in y_cuts if y0 <= c <= y1), 3.0)
    centre_x, centre_y = np.meshgrid((x_edges[:-1] + x_edges[1:]) / 2, (y_edges[:-1] + y_edges[1:]) / 2)
    cells = np.full(centre_x.shape, code("grass"), dtype=np.uint8)
    for sx0, sx1, sy0, sy1 in sidewalks:
        cells[(centre_x > sx0) & (centre_x < sx1) & (centre_y > sy0) & (centre_y < sy1)] = code("sidewalk")
    for rx0, rx1, ry0, ry1, material in inside:  # lots, and tree pits in the sidewalks
        cells[(centre_x > rx0) & (centre_x < rx1) & (centre_y > ry0) & (centre_y < ry1)] = material
    grid_x, grid_y = np.meshgrid(x_edges, y_edges)
    heights = town.surface_height(grid_x, grid_y)
    # lawns are bumpy: jitter the vertices whose four cells are all grass
    grass = np.pad(cells == code("grass"), 1, constant_values=False)
    all_grass = grass[:-1, :-1] & grass[:-1, 1:] & grass[1:, :-1] & grass[1:, 1:]
    heights = heights + np.where(all_grass, rng.normal(0.0, 0.03, heights.shape), 0.0)
    return meshes.grid_surface(x_edges, y_edges, heights, cells)


def _refine(cuts: list[float], step: float) -> np.ndarray:
    edges = [cuts[0]]
    for stop in cuts[1:]:
        if stop - edges[-1] < 1e-6:
            continue
        edges += list(_spaced(edges[-1], stop, step)[1:])
    return np.array(edges)


def _curbs(town: Layout, block: tuple[float, float, float, float], sides: list[_Side]) -> list[Mesh]:
    """Vertical curb faces from the gutter up to the sidewalk, along every street side."""
    curbs = []
    for side in sides:
        u = _spaced(0.0, side.length, 2.0)
        x, y = side.to_map(u, np.zeros_like(u))
        # evaluate heights a hair inside the road and inside the sidewalk
        road_x, road_y = side.to_map(u, np.full_like(u, -1e-3))
        walk_x, walk_y = side.to_map(u, np.full_like(u, 1e-3))
        bottom, top = town.surface_height(road_x, road_y), town.surface_height(walk_x, walk_y)
        curbs.append(meshes.vertical_strip(np.column_stack([x, y]), bottom, top, code("curb")))
    return curbs


# --------------------------------------------------------------------------- lots


def _lots(builder: _Builder, side: _Side, detail: int) -> None:
    """Cut a side into lots and build each."""
    rng = builder.rng
    u = side.lot_start
    while side.lot_end - u > 6.0:
        kind = _LOT_KINDS[int(rng.choice(len(_LOT_KINDS), p=_LOT_WEIGHTS))]
        width = float(rng.uniform(*kind.width))
        if side.lot_end - u - width < 8.0:
            width = side.lot_end - u
        kind.build(builder, side, u, u + width, detail)
        u += width


def _building_lot(builder: _Builder, side: _Side, u0: float, u1: float, detail: int) -> None:
    rng = builder.rng
    inner = streets.SIDEWALK_WIDTH
    setback = float(rng.choice([0.0, 0.0, rng.uniform(0.5, 2.5)]))
    depth = float(min(side.depth - setback, rng.uniform(10.0, 20.0)))
    facade = code(FACADES[int(rng.integers(len(FACADES)))])
    height = float(rng.choice([rng.uniform(5.0, 9.0), rng.uniform(9.0, 18.0), rng.uniform(18.0, 32.0)], p=[0.35, 0.45, 0.2]))
    margin = float(rng.uniform(0.0, 0.8))
    top = builder.place_block(side, u0 + margin, u1 - margin, inner + setback, inner + setback + depth, height, facade, roof=code("roof"))
    if height > 12.0 and u1 - u0 > 12.0 and rng.random() < 0.4:  # a set-back upper storey
        builder.place_block(side, u0 + margin + 2.0, u1 - margin - 2.0, inner + setback + 3.0, inner + setback + depth - 1.0,
                            float(rng.uniform(4.0, 12.0)), facade, roof=code("roof"), base=top - 0.2)
    if setback > 0.0:
        builder.ground_rectangles.append((*side.rectangle(u0, u1, inner, inner + setback), code("sidewalk")))


def _house_lot(builder: _Builder, side: _Side, u0: float, u1: float, detail: int) -> None:
    rng = builder.rng
    inner = streets.SIDEWALK_WIDTH
    setback = float(rng.uniform(4.0, 8.0))
    depth = float(min(side.depth - setback, rng.uniform(8.0, 12.0)))
    facade = code(FACADES[int(rng.integers(len(FACADES)))])
    builder.place_block(side, u0 + 1.5, u1 - 1.5, inner + setback, inner + setback + depth, float(rng.uniform(5.5, 8.5)), facade, roof=code("roof"))
    # front hedge along the property line with a gate gap
    gate = float(rng.uniform(u0 + 2.0, u1 - 3.5))
    hedge_height = float(rng.uniform(1.0, 1.7))
    for start, stop in ((u0 + 0.2, gate), (gate + 1.4, u1 - 0.2)):
        if stop - start > 0.8:
            _hedge(builder, side, start, stop, inner + 0.1, inner + 0.1 + float(rng.uniform(0.6, 0.9)), hedge_height)
    for _ in range(int(rng.integers(1, 4))):
        _bush(builder, side, float(rng.uniform(u0 + 1.5, u1 - 1.5)), inner + float(rng.uniform(1.5, setback - 1.0)), detail)
    builder.ground_rectangles.append((*side.rectangle(gate, gate + 1.4, inner, inner + setback), code("sidewalk")))


def _park_lot(builder: _Builder, side: _Side, u0: float, u1: float, detail: int) -> None:
    rng = builder.rng
    inner = streets.SIDEWALK_WIDTH
    for _ in range(int(rng.integers(2, 6))):
        _tree(builder, side, float(rng.uniform(u0 + 2.0, u1 - 2.0)), inner + float(rng.uniform(3.0, side.depth - 2.0)), detail)
    for _ in range(int(rng.integers(3, 10))):
        _bush(builder, side, float(rng.uniform(u0 + 1.0, u1 - 1.0)), inner + float(rng.uniform(1.0, side.depth - 1.0)), detail)
    if rng.random() < 0.6:  # a gravel path
        middle = float(rng.uniform(u0 + 3.0, u1 - 3.0))
        builder.ground_rectangles.append((*side.rectangle(middle - 1.0, middle + 1.0, inner, inner + side.depth), code("soil")))


def _parking_lot(builder: _Builder, side: _Side, u0: float, u1: float, detail: int) -> None:
    """Cars nose in towards a back wall (or building), with a hedge along one side."""
    rng = builder.rng
    inner = streets.SIDEWALK_WIDTH
    depth = float(min(side.depth, rng.uniform(12.0, 14.0)))
    back = inner + depth
    builder.ground_rectangles.append((*side.rectangle(u0, u1, inner, back), code("parking_pavement")))
    if rng.random() < 0.5:
        builder.place_block(side, u0, u1, back, back + 0.25, float(rng.uniform(1.8, 2.6)), code("concrete_wall"))
    else:
        facade = code(FACADES[int(rng.integers(len(FACADES)))])
        builder.place_block(side, u0, u1, back, min(back + 12.0, inner + side.depth), float(rng.uniform(6.0, 14.0)), facade, roof=code("roof"))
    hedge_on_left = bool(rng.random() < 0.5)
    hedge_width = float(rng.uniform(0.7, 1.0))
    if hedge_on_left:
        _hedge(builder, side, u0, u0 + hedge_width, inner + 0.5, back, float(rng.uniform(1.3, 2.0)))
        first, last = u0 + hedge_width + 1.35, u1 - 1.5
    else:
        _hedge(builder, side, u1 - hedge_width, u1, inner + 0.5, back, float(rng.uniform(1.3, 2.0)))
        first, last = u0 + 1.5, u1 - hedge_width - 1.35
    stall_width = 2.6
    count = int((last - first) // stall_width) + 1
    centres = (first + np.arange(count) * stall_width) if hedge_on_left else (last - np.arange(count) * stall_width)
    for u in centres:
        x, y = side.to_map(float(u), back)
        builder.stalls.append(ParkingStall(float(x), float(y), side.yaw + np.pi / 2, float(rng.uniform(0.3, 0.8))))


def _gap_lot(builder: _Builder, side: _Side, u0: float, u1: float, detail: int) -> None:
    """A passage between buildings closed by a garden wall or a hedge."""
    rng = builder.rng
    inner = streets.SIDEWALK_WIDTH
    if rng.random() < 0.5:
        builder.place_block(side, u0, u1, inner + 0.3, inner + 0.55, float(rng.uniform(1.4, 2.4)), code("concrete_wall"))
    else:
        _hedge(builder, side, u0, u1, inner + 0.2, inner + 1.0, float(rng.uniform(1.2, 2.2)))
    if rng.random() < 0.5:
        _tree(builder, side, (u0 + u1) / 2, inner + float(rng.uniform(3.0, 6.0)), detail)


@dataclass(frozen=True, slots=True)
class _LotKind:
    name: str
    width: tuple[float, float]
    weight: float
    build: Callable[[_Builder, _Side, float, float, int], None]


_LOT_KINDS = (
    _LotKind("building", (12.0, 30.0), 0.45, _building_lot),
    _LotKind("house", (14.0, 22.0), 0.17, _house_lot),
    _LotKind("park", (18.0, 32.0), 0.12, _park_lot),
    _LotKind("parking", (16.0, 28.0), 0.14, _parking_lot),
    _LotKind("gap", (3.0, 7.0), 0.12, _gap_lot),
)
_LOT_WEIGHTS = np.array([kind.weight for kind in _LOT_KINDS]) / sum(kind.weight for kind in _LOT_KINDS)


# --------------------------------------------------------------------------- vegetation


def _hedge(builder: _Builder, side: _Side, u0: float, u1: float, v0: float, v1: float, height: float) -> None:
    hedge = meshes.noisy_box((0.0, 0.0, -0.2), (u1 - u0, v1 - v0, height), code("hedge"), builder.rng, cell=0.45, jitter=0.09)
    builder.place(hedge, side, u0, v0)


def _bush(builder: _Builder, side: _Side, u: float, v: float, detail: int) -> None:
    rng = builder.rng
    radius = float(rng.uniform(0.4, 1.2))
    bush = meshes.blob((radius * rng.uniform(0.8, 1.3), radius * rng.uniform(0.8, 1.3), radius * rng.uniform(0.6, 0.9)),
                       code(str(rng.choice(["leaves", "leaves_light", "hedge"]))), rng, roughness=0.3, subdivisions=max(1, detail - 1))
    builder.place(bush.translated((0.0, 0.0, radius * 0.5)), side, u, v, float(rng.uniform(0, 2 * np.pi)))


def _tree(builder: _Builder, side: _Side, u: float, v: float, detail: int) -> None:
    """A trunk and a crown of a few irregular lumps."""
    rng = builder.rng
    trunk_radius = float(rng.uniform(0.1, 0.22))
    crown_base = float(rng.uniform(2.4, 3.6))
    crown_radius = float(rng.uniform(1.6, 3.2))
    parts = [meshes.cylinder(trunk_radius, -0.3, crown_base + crown_radius * 0.6, code("tree_trunk"), segments=8)]
    leaves = code(str(rng.choice(["leaves", "leaves_light"])))
    for _ in range(int(rng.integers(3, 6))):
        offset = rng.normal(0.0, crown_radius * 0.35, 3)
        radius = crown_radius * rng.uniform(0.55, 0.85)
        lump = meshes.blob((radius, radius * rng.uniform(0.8, 1.2), radius * rng.uniform(0.7, 1.0)), leaves, rng, roughness=0.35, subdivisions=detail)
        parts.append(lump.translated((offset[0], offset[1], crown_base + crown_radius + offset[2] * 0.6)))
    builder.place(meshes.concatenate(parts), side, u, v, float(rng.uniform(0, 2 * np.pi)))
    x, y = side.to_map(u, v)
    builder.obstacles.append((float(x), float(y), trunk_radius))


# --------------------------------------------------------------------------- street furniture


def _sidewalk_furniture(builder: _Builder, side: _Side, detail: int) -> None:
    """Street trees in pits and street lights along the curb; none near the corners."""
    rng = builder.rng
    margin = streets.STOP_LINE[1] + 2.0
    u = margin + float(rng.uniform(0.0, 8.0))
    while u < side.length - margin:
        if rng.random() < 0.7:
            _tree(builder, side, u, float(rng.uniform(0.9, 1.2)), detail)
            builder.ground_rectangles.append((*side.rectangle(u - 0.6, u + 0.6, 0.45, 1.65), code("soil")))
        u += float(rng.uniform(8.0, 16.0))
    u = margin + float(rng.uniform(2.0, 20.0))
    while u < side.length - margin:
        _street_light(builder, side, u)
        u += float(rng.uniform(24.0, 34.0))
    for _ in range(int(rng.integers(0, 3))):
        builder.place(meshes.cylinder(0.09, -0.2, 0.85, code("pole_metal"), segments=8), side, float(rng.uniform(margin, side.length - margin)), 0.35)


def _street_light(builder: _Builder, side: _Side, u: float) -> None:
    rng = builder.rng
    height = float(rng.uniform(7.0, 9.0))
    parts = [
        meshes.cylinder(0.1, -0.3, height, code("pole_metal"), segments=8),
        meshes.box((-0.05, -1.8, height - 0.1), (0.05, 0.0, height), code("pole_metal")),
        meshes.box((-0.2, -2.1, height - 0.25), (0.2, -1.5, height - 0.05), code("signal_housing")),
    ]
    builder.place(meshes.concatenate(parts), side, u, 0.5)
    x, y = side.to_map(u, 0.5)
    builder.obstacles.append((float(x), float(y), 0.1))


def _traffic_control(builder: _Builder) -> list[Mesh]:
    """A stop sign at the curb of every approach, and a signal pole on some corners."""
    town = builder.town
    rng = builder.rng
    parts = []
    for x, y in town.intersections:
        for direction in ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)):
            # traffic approaching in `direction`: its right curb, just before the stop line
            right = np.array([direction[1], -direction[0]])
            anchor = np.array([x, y]) - np.array(direction) * (streets.STOP_LINE[1] + 0.5) + right * (streets.HALF_WIDTH + 0.5)
            ground = builder.ground(float(anchor[0]), float(anchor[1]))
            yaw = float(np.arctan2(direction[1], direction[0]))
            sign = meshes.concatenate([
                meshes.cylinder(0.04, -0.3, 2.6, code("pole_metal"), segments=6),
                meshes.box((-0.03, -0.33, 2.15), (0.0, 0.33, 2.8), code("sign_plate")),
            ])
            parts.append(sign.transformed(meshes.pose_matrix(float(anchor[0]), float(anchor[1]), ground, yaw)))
            builder.obstacles.append((float(anchor[0]), float(anchor[1]), 0.05))
            if rng.random() < 0.5:
                corner = np.array([x, y]) + right * (streets.HALF_WIDTH + 0.7) - np.array(direction) * (streets.HALF_WIDTH + 0.7)
                ground = builder.ground(float(corner[0]), float(corner[1]))
                pole = meshes.concatenate([
                    meshes.cylinder(0.13, -0.3, 6.0, code("pole_metal"), segments=10),
                    meshes.box((-0.08, 0.0, 5.6), (0.08, 5.5, 5.8), code("pole_metal")),
                    meshes.box((-0.3, 3.2, 4.6), (0.05, 3.55, 5.6), code("signal_housing")),
                    meshes.box((-0.3, 0.3, 2.4), (0.05, 0.65, 3.4), code("signal_housing")),
                ])
                # the arm reaches over the approaching lanes (to the left of the pole)
                parts.append(pole.transformed(meshes.pose_matrix(float(corner[0]), float(corner[1]), ground, yaw)))
                builder.obstacles.append((float(corner[0]), float(corner[1]), 0.15))
    return parts


# --------------------------------------------------------------------------- surroundings


def _surroundings(town: Layout, rng: np.random.Generator) -> list[Mesh]:
    """Coarse land around the town and a distant skyline, so cameras see no void."""
    x_min, x_max, y_min, y_max = town.bounds
    reach = 900.0
    parts = []
    for x0, x1, y0, y1 in (
        (x_min - reach, x_max + reach, y_min - reach, y_min), (x_min - reach, x_max + reach, y_max, y_max + reach),
        (x_min - reach, x_min, y_min, y_max), (x_max, x_max + reach, y_min, y_max),
    ):
        x_edges, y_edges = _spaced(x0, x1, 40.0), _spaced(y0, y1, 40.0)
        grid_x, grid_y = np.meshgrid(x_edges, y_edges)
        heights = town.hills.height(grid_x, grid_y) + streets.RAISED_LEVEL - 0.02
        cells = np.full((len(y_edges) - 1, len(x_edges) - 1), code("grass"))
        parts.append(meshes.grid_surface(x_edges, y_edges, heights, cells))
    centre = np.array([(x_min + x_max) / 2, (y_min + y_max) / 2])
    for angle in np.linspace(0, 2 * np.pi, 70, endpoint=False) + rng.uniform(0, 0.05, 70):
        distance = float(rng.uniform(320.0, 600.0))
        position = centre + distance * np.array([np.cos(angle), np.sin(angle)])
        half = rng.uniform(10.0, 30.0, 2)
        ground = float(town.hills.height(position[0], position[1]))
        parts.append(meshes.box((position[0] - half[0], position[1] - half[1], ground - 2.0),
                                (position[0] + half[0], position[1] + half[1], ground + float(rng.uniform(15.0, 70.0))), code("skyline")))
    return parts
