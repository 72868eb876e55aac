"""A scenario: the static town, the ego vehicle's drive and every labelled object's motion.

Built in the town's map frame, then rotated into the world frame. The ego drives
anticlockwise around the central block: it follows a lead car, stops at the first stop
sign while a pedestrian crosses in front of it and cross traffic passes, turns left, slows
for a speed bump, and keeps circling for as long as the log lasts. Around it:

- parked cars and trucks along the curbs, cars nosed in against walls in parking lots
  beside hedges, people standing on sidewalks;
- a cyclist waiting at a stop line who later rides off, an oncoming truck;
- random traffic: cars, trucks and cyclists on lane routes that turn at intersections,
  pedestrians walking sidewalks and crossing at crosswalks, some present from the start,
  others entering at the town's edges (out of sensor range) later.

Every moving agent is simulated in turn with an intelligent-driver speed controller that
yields to everything simulated before it on its path; an agent that would still touch
another (or the ego) is dropped. Objects stay upright (yaw only) and stand on the ground.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from avlabel.sim import layout as streets
from avlabel.sim.actors import ObjectModel, build_model
from avlabel.sim.layout import Layout, make_layout
from avlabel.sim.mesh import Mesh
from avlabel.sim.motion import (
    COARSE_RATIO,
    PATH_STEP,
    TIME_STEP,
    Driver,
    Mover,
    Path,
    TimeGrid,
    Trajectory,
    drive,
    path_through,
)
from avlabel.sim.world import StaticWorld, build_world

log = logging.getLogger(__name__)

# The ego vehicle. Its frame's origin is on the ground under the middle of the rear axle.
EGO_LENGTH, EGO_WIDTH = 4.8, 1.95
EGO_REAR_OVERHANG = 1.0
EGO_WHEELBASE, EGO_TRACK = 2.85, 1.62
EGO_FRONT = EGO_LENGTH - EGO_REAR_OVERHANG  # rear axle to front bumper
_EGO_CENTRE = EGO_LENGTH / 2 - EGO_REAR_OVERHANG  # rear axle to footprint centre
# Body motion on the suspension: pitch (rad) per m/s^2 of braking, roll per m/s^2 sideways.
_PITCH_PER_ACCELERATION, _ROLL_PER_ACCELERATION = 0.006, 0.008


@dataclass(frozen=True, slots=True)
class Agent:
    """A labelled object: its shape and its trajectory (world frame, reference point = the
    object frame's origin on the ground under the footprint centre)."""

    instance: int
    model: ObjectModel
    trajectory: Trajectory
    parked: bool  # never moves during the log

    @property
    def label(self) -> str:
        return self.model.label


@dataclass(frozen=True, slots=True)
class AgentTable:
    """All agents' poses stacked on the common time grid, for vectorised look-ups:
    x, y, z, yaw, speed (A, T); present from step first[a] to last[a]; box_center (A, 3) and
    radius (A,) of their models; instance (A,)."""

    grid: TimeGrid
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    yaw: np.ndarray
    speed: np.ndarray
    first: np.ndarray
    last: np.ndarray
    box_center: np.ndarray
    radius: np.ndarray
    instance: np.ndarray

    @classmethod
    def of(cls, agents: tuple[Agent, ...], grid: TimeGrid) -> "AgentTable":
        def stack(name: str) -> np.ndarray:
            return np.stack([getattr(agent.trajectory, name) for agent in agents]) if agents else np.zeros((0, grid.count))

        return cls(grid, stack("x"), stack("y"), stack("z"), stack("yaw"), stack("speed"),
                   np.array([agent.trajectory.first for agent in agents], dtype=np.int64),
                   np.array([agent.trajectory.last for agent in agents], dtype=np.int64),
                   np.array([agent.model.box_center for agent in agents]).reshape(-1, 3),
                   np.array([agent.model.radius for agent in agents]), np.array([agent.instance for agent in agents], dtype=np.int64))

    def sample(self, times: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Poses of every agent at `times` (N,): dict of (A, N) arrays (x, y, z, yaw, speed,
        and the box centre cx, cy, cz), and present (A, N)."""
        times = np.atleast_1d(np.asarray(times, dtype=np.float64))
        position = (times[None, :] - self.grid.start) / TIME_STEP
        present = (position >= self.first[:, None] - 1e-6) & (position <= self.last[:, None] + 1e-6)
        position = np.clip(position, self.first[:, None], self.last[:, None])
        low = np.minimum(np.floor(position).astype(np.int64), np.maximum(self.last - 1, self.first)[:, None])
        high = np.minimum(low + 1, self.last[:, None])
        fraction = position - low
        rows = np.arange(len(self.first))[:, None]
        result = {name: getattr(self, name)[rows, low] * (1 - fraction) + getattr(self, name)[rows, high] * fraction
                  for name in ("x", "y", "z", "yaw", "speed")}
        cos, sin = np.cos(result["yaw"]), np.sin(result["yaw"])
        result["cx"] = result["x"] + cos * self.box_center[:, :1] - sin * self.box_center[:, 1:2]
        result["cy"] = result["y"] + sin * self.box_center[:, :1] + cos * self.box_center[:, 1:2]
        result["cz"] = result["z"] + self.box_center[:, 2:3]
        return result, present


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything the sensors see, in the world frame. Times are seconds from the log start."""

    town: Layout
    static_mesh: Mesh  # world frame
    world_from_map: np.ndarray  # (4, 4)
    ego: Trajectory  # world_from_ego: rear axle on the ground, x forward, y left, z up
    agents: tuple[Agent, ...]
    horizon: float  # seconds simulated (>= the log's duration)
    table: AgentTable = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", AgentTable.of(self.agents, self.ego.grid))

    def shifted(self, offset: np.ndarray) -> "Scenario":
        """The same scenario with the world origin moved: every position plus offset (3,)."""
        offset = np.asarray(offset, dtype=np.float64)
        matrix = self.world_from_map.copy()
        matrix[:3, 3] += offset
        return Scenario(
            self.town,
            self.static_mesh.translated(offset),
            matrix,
            self.ego.transformed(0.0, offset),
            tuple(replace(agent, trajectory=agent.trajectory.transformed(0.0, offset)) for agent in self.agents),
            self.horizon,
        )

    def map_from_world(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) into the town's map frame."""
        rotation, translation = self.world_from_map[:3, :3], self.world_from_map[:3, 3]
        return (np.asarray(points) - translation) @ rotation


# --------------------------------------------------------------------------- drivers

_DRIVERS = {
    # label: (cruise speed range m/s, max acceleration, comfortable deceleration, headway s,
    #         standstill gap m, lateral acceleration m/s^2)
    "ego": ((10.5, 11.5), 1.6, 2.2, 1.5, 3.0, 1.8),
    "car": ((8.0, 12.5), 1.8, 2.5, 1.3, 2.5, 2.2),
    "truck": ((7.0, 10.0), 1.0, 2.0, 1.8, 3.0, 1.5),
    "cyclist": ((3.5, 6.5), 1.0, 1.5, 1.0, 1.5, 1.8),
    "pedestrian": ((1.0, 1.6), 0.8, 1.0, 0.8, 0.8, 1.0),
}
_LANE_OFFSET = {"car": streets.LANE_OFFSET, "truck": streets.LANE_OFFSET, "cyclist": streets.BIKE_OFFSET}


def _driver(label: str, rng: np.random.Generator) -> Driver:
    speeds, acceleration, deceleration, headway, gap, lateral = _DRIVERS[label]
    return Driver(float(rng.uniform(*speeds)), acceleration * float(rng.uniform(0.85, 1.15)), deceleration, headway * float(rng.uniform(0.85, 1.2)),
                  gap, lateral, max_jerk=1.5 if label == "pedestrian" else 2.5)


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True, slots=True)
class _Route:
    path: Path
    stops: tuple[float, ...]  # arc positions of the stop lines ahead of intersections


def _right(direction: np.ndarray) -> np.ndarray:
    return np.array([direction[1], -direction[0]])


def _lane_route(town: Layout, position: np.ndarray, direction: np.ndarray, offset: float, rng: np.random.Generator,
                turn_weights: tuple[float, float, float] = (0.6, 0.2, 0.2), max_turns: int = 2,
                forced_turns: tuple[str, ...] = ()) -> _Route:
    """A lane route from `position` heading `direction` (a unit axis vector), turning at
    intersections (straight, left, right) until it leaves the town."""
    x_min, x_max, y_min, y_max = town.bounds
    corners, radii, stop_points = [np.asarray(position, dtype=np.float64)], [], []
    point, heading = np.asarray(position, dtype=np.float64), np.asarray(direction, dtype=np.float64)
    turns = list(forced_turns)
    turn_count = 0
    while True:
        axis = 0 if heading[0] != 0 else 1
        sign = heading[axis]
        right = _right(heading)
        crossings = town.street_xs if axis == 0 else town.street_ys
        ahead = sorted((c for c in crossings if (c - point[axis]) * sign > streets.STOP_LINE[1] + 0.5), key=lambda c: (c - point[axis]) * sign)
        if not ahead:
            end = point.copy()
            end[axis] = (x_max if sign > 0 else x_min) if axis == 0 else (y_max if sign > 0 else y_min)
            corners.append(end)
            break
        centre = point - right * offset
        centre[axis] = ahead[0]
        stop_points.append(centre - heading * streets.STOP_LINE_DISTANCE + right * offset)
        if turns:
            turn = turns.pop(0)
        elif turn_count >= max_turns:
            turn = "straight"
        else:
            turn = ("straight", "left", "right")[int(rng.choice(3, p=np.asarray(turn_weights) / sum(turn_weights)))]
        if turn == "straight":
            point = centre + heading * (streets.HALF_WIDTH + 1.0) + right * offset
            continue
        turn_count += 1
        new_heading = np.array([-heading[1], heading[0]]) if turn == "left" else np.array([heading[1], -heading[0]])
        corner = centre + right * offset + _right(new_heading) * offset
        corners.append(corner)
        radii.append(streets.HALF_WIDTH + offset - 0.2 if turn == "left" else streets.HALF_WIDTH - offset - 0.2)
        point, heading = corner + new_heading * (streets.HALF_WIDTH + 1.0), new_heading
    path = path_through(np.array(corners), np.array(radii))
    stops = tuple(float(path.project(np.array([stop]))[0][0]) for stop in stop_points)
    return _Route(path, stops)


def _sidewalk_route(town: Layout, position: np.ndarray, direction: np.ndarray, side: float, inset: float,
                    rng: np.random.Generator, length: float) -> Path:
    """A walk along sidewalk lines (inset metres from the curb) from `position` heading
    `direction`, on `side` (+1/-1) of the street it runs along. At each corner the walker
    crosses the side street, turns into it, or crosses its own street and walks back."""
    x_min, x_max, y_min, y_max = town.bounds
    reach = streets.HALF_WIDTH + inset
    corners = [np.asarray(position, dtype=np.float64)]
    point, heading = np.asarray(position, dtype=np.float64), np.asarray(direction, dtype=np.float64)
    walked = 0.0
    while True:
        if walked >= length:
            corners.append(point + heading * 10.0)
            break
        axis = 0 if heading[0] != 0 else 1
        sign = heading[axis]
        crossings = town.street_xs if axis == 0 else town.street_ys
        corner_coordinates = sorted((c - sign * reach for c in crossings if (c - sign * reach - point[axis]) * sign > 0.5),
                                    key=lambda c: (c - point[axis]) * sign)
        if not corner_coordinates:
            end = point.copy()
            end[axis] = (x_max if sign > 0 else x_min) if axis == 0 else (y_max if sign > 0 else y_min)
            corners.append(end)
            break
        corner = point.copy()
        corner[axis] = corner_coordinates[0]
        walked += abs(corner[axis] - point[axis])
        street_centre = point[1 - axis] - side * reach
        choice = int(rng.choice(3, p=[0.45, 0.3, 0.25]))
        if choice == 0:  # cross the side street and go on
            point = corner.copy()
            point[axis] += sign * (2 * reach + 0.5)
            walked += 2 * reach
            continue
        corners.append(corner)
        if choice == 1:  # turn into the side street, away from ours
            heading = np.zeros(2)
            heading[1 - axis] = side
            side = -sign
            point = corner
        else:  # cross our street, then walk back the way we came
            across = corner.copy()
            across[1 - axis] = street_centre - side * reach
            corners.append(across)
            walked += 2 * reach
            heading = -heading
            side = -side
            point = across
    radii = np.full(len(corners) - 2, 0.8)
    return path_through(np.array(corners), radii, smoothing=0.6)


# --------------------------------------------------------------------------- the builder


class _Traffic:
    """Simulates agents one at a time and keeps those that touch nothing."""

    def __init__(self, town: Layout, world: StaticWorld, grid: TimeGrid, rng: np.random.Generator) -> None:
        self.town = town
        self.world = world
        self.grid = grid
        self.rng = rng
        self.movers: list[Mover] = []
        self.accepted: list[tuple[int, ObjectModel, Trajectory, bool]] = []
        self.candidates = 0
        self.dropped = 0

    def new_model(self, label: str) -> tuple[int, ObjectModel]:
        self.candidates += 1
        return self.candidates, build_model(label, self.candidates, self.rng)

    # -- trajectories in the map frame

    def on_ground(self, x: np.ndarray, y: np.ndarray, yaw: np.ndarray, speed: np.ndarray, acceleration: np.ndarray, first: int, last: int) -> Trajectory:
        zeros = np.zeros(self.grid.count)
        return Trajectory(self.grid, x, y, self.town.surface_height(x, y), yaw, zeros, zeros, speed, acceleration, first, last)

    def standing(self, x: float, y: float, yaw: float) -> Trajectory:
        ones = np.ones(self.grid.count)
        return self.on_ground(ones * x, ones * y, ones * yaw, ones * 0.0, ones * 0.0, 0, self.grid.count - 1)

    def moving(self, label: str, model: ObjectModel, route: _Route, *, start_time: float = 0.0, start_speed: float | None = None,
               start_position: float = 0.0, hold: tuple[float, float] = (0.3, 1.5), release: float = 0.0,
               driver: Driver | None = None, skip_stops: bool = False, limits: tuple = ()) -> Trajectory:
        driver = driver or _driver(label, self.rng)
        front = float(model.box_center[0] + model.size[0] / 2)
        stops = [] if skip_stops else [
            (arc, float(self.rng.uniform(*hold)), release) for arc in route.stops if arc - front > start_position - 1.0
        ]
        arc, speed, acceleration, first, last = drive(
            route.path, self.grid, driver, start_time=start_time,
            start_speed=driver.cruise_speed * float(self.rng.uniform(0.7, 1.0)) if start_speed is None else start_speed,
            front_extent=front, movers=self.movers, own_width=float(model.size[1]), stops=stops, limits=limits,
            start_position=start_position,
        )
        x, y, heading = route.path.at(arc)
        return self.on_ground(x, y, heading, speed, acceleration, first, last)

    # -- acceptance

    def offer(self, instance: int, model: ObjectModel, trajectory: Trajectory, parked: bool) -> bool:
        """Keep the agent unless it touches an accepted one; True when kept."""
        mover = Mover(trajectory, float(model.size[0]) + 0.2, float(model.size[1]) + 0.2, float(model.box_center[0]))
        if any(mover.may_meet(other) and _touch(mover, other, self.grid) for other in self.movers):
            self.dropped += 1
            return False
        self.movers.append(mover)
        self.accepted.append((instance, model, trajectory, parked))
        return True


def _footprint(mover: Mover, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pose = mover.trajectory.sample(times)
    centre = np.column_stack([pose["x"] + mover.forward_offset * np.cos(pose["yaw"]), pose["y"] + mover.forward_offset * np.sin(pose["yaw"])])
    axis_along = np.column_stack([np.cos(pose["yaw"]), np.sin(pose["yaw"])])
    return centre, axis_along, np.column_stack([-axis_along[:, 1], axis_along[:, 0]])


def _touch(first: Mover, second: Mover, grid: TimeGrid) -> bool:
    """Whether two footprints (oriented rectangles) overlap at any coarse time step."""
    times = grid.times[::COARSE_RATIO]
    both = first.trajectory.present(times) & second.trajectory.present(times)
    if not both.any():
        return False
    times = times[both]
    centre_a, along_a, across_a = _footprint(first, times)
    centre_b, along_b, across_b = _footprint(second, times)
    separation = centre_b - centre_a
    radius = np.hypot(first.length, first.width) / 2 + np.hypot(second.length, second.width) / 2
    close = np.einsum("ij,ij->i", separation, separation) < radius**2
    if not close.any():
        return False
    separation = separation[close]
    halves_a = (first.length / 2, first.width / 2)
    halves_b = (second.length / 2, second.width / 2)
    axes_a = (along_a[close], across_a[close])
    axes_b = (along_b[close], across_b[close])
    overlap = np.ones(len(separation), dtype=bool)
    for axis in (*axes_a, *axes_b):
        projection_a = sum(half * np.abs(np.einsum("ij,ij->i", own, axis)) for half, own in zip(halves_a, axes_a))
        projection_b = sum(half * np.abs(np.einsum("ij,ij->i", own, axis)) for half, own in zip(halves_b, axes_b))
        overlap &= np.abs(np.einsum("ij,ij->i", separation, axis)) < projection_a + projection_b
    return bool(overlap.any())


def build_scenario(seed: int, horizon: float, *, tree_detail: int = 2, traffic_density: float = 1.0) -> Scenario:
    """The scenario of `seed`, simulated for `horizon` seconds (world frame centred on the
    ego's start; the simulator moves the origin to the first GNSS fix)."""
    streams = [np.random.default_rng(child) for child in np.random.SeedSequence([seed, 1]).spawn(3)]
    layout_rng, world_rng, traffic_rng = streams
    town = make_layout(layout_rng)
    rotation = float(layout_rng.uniform(-np.pi, np.pi))
    world = build_world(town, world_rng, tree_detail=tree_detail)
    grid = TimeGrid(0.0, int(round(horizon / TIME_STEP)) + 1)
    traffic = _Traffic(town, world, grid, traffic_rng)
    block_x, block_y = town.street_xs[1], town.street_ys[1]

    # ---- parked and standing objects
    _parked_along_curbs(traffic)
    _parked_in_lots(traffic)
    _standing_people(traffic)

    # ---- the ego's route: anticlockwise around the central block
    offset = streets.LANE_OFFSET
    laps = int(np.ceil(horizon * 12.0 / (2 * (block_x + block_y)))) + 1
    loop = [(block_x + offset, -offset), (block_x + offset, block_y + offset), (-offset, block_y + offset), (-offset, -offset)]
    start_x = block_x - streets.STOP_LINE_DISTANCE - EGO_FRONT - float(traffic_rng.uniform(55.0, 65.0))
    corners = np.array([(start_x, -offset)] + loop * laps)
    ego_path = path_through(corners, np.full(len(corners) - 2, streets.HALF_WIDTH + offset - 0.2))
    intersections = [(block_x, 0.0), (block_x, block_y), (0.0, block_y), (0.0, 0.0)]
    headings = [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)]
    stop_points = [np.array(centre) - np.array(heading) * streets.STOP_LINE_DISTANCE + _right(np.array(heading)) * offset
                   for centre, heading in zip(intersections * laps, headings * laps)]
    arcs = _arcs_along(ego_path, stop_points)
    ego_stops = [(arc, 3.0 if index == 0 else 1.0, 0.0) for index, arc in enumerate(arcs)]
    bump = _arcs_along(ego_path, [np.array([block_x + offset, block_y * 0.55])])[0]
    ego_limits = [(bump - 6.0, bump + 6.0, 3.5)]
    ego_driver = _driver("ego", traffic_rng)

    def simulate_ego() -> Trajectory:
        arc, speed, acceleration, _, _ = drive(
            ego_path, grid, ego_driver, start_time=0.0, start_speed=8.5, front_extent=EGO_FRONT, movers=traffic.movers,
            own_width=EGO_WIDTH, stops=ego_stops, limits=ego_limits,
        )
        return _ego_trajectory(town, grid, ego_path, arc, speed, acceleration)

    # ---- a lead car ahead of the ego, straight through the first intersection
    instance, model = traffic.new_model("car")
    lead_route = _lane_route(town, np.array([start_x + EGO_FRONT + 22.0 + model.size[0] / 2, -offset]), np.array([1.0, 0.0]), offset,
                             traffic_rng, forced_turns=("straight", "straight"))
    traffic.offer(instance, model, traffic.moving("car", model, lead_route, start_speed=8.5, skip_stops=True), parked=False)

    # ---- when would the ego stand at the first stop sign?
    draft = simulate_ego()
    standing = np.flatnonzero((draft.speed < 0.1) & (grid.times > 1.0))
    stop_time = float(grid.times[standing[0]]) if len(standing) else 8.0

    # ---- a cyclist waiting at the opposite stop line, and an oncoming truck
    instance, model = traffic.new_model("cyclist")
    west = np.array([-1.0, 0.0])
    start = np.array([block_x + streets.STOP_LINE_DISTANCE + model.size[0] / 2 + 0.3, streets.BIKE_OFFSET])
    route = _lane_route(town, start, west, streets.BIKE_OFFSET, traffic_rng, forced_turns=("straight", "straight"))
    traffic.offer(instance, model, traffic.moving("cyclist", model, route, start_speed=0.0, hold=(1.0, 1.0), release=stop_time + 0.5), parked=False)
    instance, model = traffic.new_model("truck")
    route = _lane_route(town, np.array([start_x + 70.0, offset]), west, offset, traffic_rng, forced_turns=("straight",))
    traffic.offer(instance, model, traffic.moving("truck", model, route, start_speed=7.5), parked=False)

    # ---- a pedestrian crossing in front of the stopped ego, from the south corner
    reach = streets.HALF_WIDTH + 2.0
    instance, model = traffic.new_model("pedestrian")
    walk = path_through(np.array([(block_x - reach - 14.0, -reach), (block_x - reach, -reach), (block_x - reach, reach), (block_x - reach - 40.0, reach)]),
                        np.array([0.8, 0.8]), smoothing=0.6)
    walker = _driver("pedestrian", traffic_rng)
    to_lane = 14.0 + reach - offset
    traffic.offer(instance, model, traffic.moving("pedestrian", model, _Route(walk, ()), start_time=max(0.0, stop_time + 0.8 - to_lane / walker.cruise_speed),
                                                  start_speed=walker.cruise_speed, driver=walker), parked=False)

    # ---- cross traffic through the first intersection while the ego waits
    for heading, arrival in (((0.0, -1.0), stop_time + 0.5), ((0.0, 1.0), stop_time + 2.2)):
        heading = np.array(heading)
        instance, model = traffic.new_model("car")
        driver = _driver("car", traffic_rng)
        start = np.array([block_x, 0.0]) - heading * 70.0 + _right(heading) * offset
        route = _lane_route(town, start, heading, offset, traffic_rng, forced_turns=("straight",))
        start_time = max(0.0, arrival - 70.0 / driver.cruise_speed)
        traffic.offer(instance, model, traffic.moving("car", model, route, start_time=start_time, start_speed=driver.cruise_speed,
                                                      driver=driver, skip_stops=True), parked=False)

    # ---- the ego, yielding to all of the above
    ego = simulate_ego()
    traffic.movers.append(Mover(ego, EGO_LENGTH + 0.3, EGO_WIDTH + 0.3, _EGO_CENTRE))

    # ---- random traffic
    _random_walkers(traffic, int(round(22 * traffic_density)))
    _random_riders(traffic, int(round(8 * traffic_density)), horizon)
    _random_vehicles(traffic, int(round(30 * traffic_density)), horizon)
    log.debug("scenario: %d agents kept, %d dropped for touching others", len(traffic.accepted), traffic.dropped)

    # ---- into the world frame: rotate the map, origin under the ego's start
    world_from_map = np.eye(4)
    cos, sin = np.cos(rotation), np.sin(rotation)
    world_from_map[:2, :2] = [[cos, -sin], [sin, cos]]
    start_ground = np.array([ego.x[0], ego.y[0], ego.z[0]])
    world_from_map[:3, 3] = -world_from_map[:3, :3] @ start_ground
    translation = world_from_map[:3, 3]
    agents = tuple(
        Agent(instance, model, trajectory.transformed(rotation, translation), parked)
        for instance, model, trajectory, parked in traffic.accepted
    )
    return Scenario(town, world.mesh.transformed(world_from_map), world_from_map, ego.transformed(rotation, translation), agents, horizon)


def _arcs_along(path: Path, points: list[np.ndarray]) -> list[float]:
    """Arc positions on `path` of points that lie on it, taken in order of travel (a looped
    path passes the same point again one lap later); stops at the first point not found."""
    arcs, previous = [], -1.0
    for point in points:
        distance = np.linalg.norm(path.xy - point, axis=1)
        near = (distance < 1.0) & (np.arange(len(path.xy)) * PATH_STEP > previous + 1.0)
        if not near.any():
            break
        first = int(np.argmax(near))
        run = first + int(np.argmin(near[first:])) if not near[first:].all() else len(near)
        best = first + int(np.argmin(distance[first:run]))
        previous = best * PATH_STEP
        arcs.append(previous)
    return arcs


def _ego_trajectory(town: Layout, grid: TimeGrid, path: Path, arc: np.ndarray, speed: np.ndarray, acceleration: np.ndarray) -> Trajectory:
    """Ego poses: position from the path, height from the road under the rear axle, pitch and
    roll from the road under the four wheels plus the body's lean on its suspension."""
    x, y, yaw = path.at(arc)
    curvature = np.interp(arc, np.arange(len(path.xy)) * PATH_STEP, path.curvature)
    cos, sin = np.cos(yaw), np.sin(yaw)
    half_track = EGO_TRACK / 2

    def ground(forward: float, left: float) -> np.ndarray:
        return town.road_height(x + forward * cos - left * sin, y + forward * sin + left * cos)

    rear_left, rear_right = ground(0.0, half_track), ground(0.0, -half_track)
    front_left, front_right = ground(EGO_WHEELBASE, half_track), ground(EGO_WHEELBASE, -half_track)
    pitch = -np.arctan2((front_left + front_right - rear_left - rear_right) / 2, EGO_WHEELBASE)
    roll = np.arctan2((rear_left + front_left - rear_right - front_right) / 2, EGO_TRACK)
    lateral = speed**2 * curvature
    pitch = pitch - _PITCH_PER_ACCELERATION * acceleration
    roll = roll + _ROLL_PER_ACCELERATION * lateral
    z = (rear_left + rear_right) / 2
    return Trajectory(grid, x, y, z, yaw, pitch, roll, speed, acceleration, 0, grid.count - 1)


# --------------------------------------------------------------------------- populations


def _street_spans(town: Layout) -> list[tuple[int, float, float, float]]:
    """Street segments between intersections: (axis, centre, start, stop) along the axis,
    without the intersection approaches."""
    x_min, x_max, y_min, y_max = town.bounds
    spans = []
    clear = streets.STOP_LINE[1] + 2.5
    for axis, centres, crossings, (low, high) in ((0, town.street_ys, town.street_xs, (x_min, x_max)), (1, town.street_xs, town.street_ys, (y_min, y_max))):
        cuts = [low - clear] + sorted(crossings) + [high + clear]
        for centre in centres:
            for start, stop in zip(cuts[:-1], cuts[1:]):
                spans.append((axis, centre, start + clear, stop - clear))
    return spans


def _to_point(axis: int, along: float, across: float) -> np.ndarray:
    return np.array([along, across]) if axis == 0 else np.array([across, along])


def _near_route(town: Layout, point: np.ndarray, margin: float = 70.0) -> bool:
    """Whether a map point can matter to the sensors (near the central block)."""
    return bool(-margin < point[0] < town.street_xs[1] + margin and -margin < point[1] < town.street_ys[1] + margin)


def _parked_along_curbs(traffic: _Traffic) -> None:
    rng = traffic.rng
    for axis, centre, start, stop in _street_spans(traffic.town):
        for side in (1.0, -1.0):
            along = start + float(rng.uniform(0.0, 10.0))
            while along < stop:
                if rng.random() < 0.4:  # an empty stretch
                    along += float(rng.uniform(8.0, 30.0))
                    continue
                label = "truck" if rng.random() < 0.04 else "car"
                instance, model = traffic.new_model(label)
                length, width = float(model.size[0]), float(model.size[1])
                if along + length > stop:
                    break
                # parked with traffic: heading along +axis on the side where traffic goes that way
                heading_sign = -side if axis == 0 else side
                yaw = (0.0 if heading_sign > 0 else np.pi) + (np.pi / 2 if axis == 1 else 0.0) + float(rng.normal(0.0, 0.02))
                lateral = streets.HALF_WIDTH - width / 2 - float(rng.uniform(0.12, 0.35))
                point = _to_point(axis, along + length / 2, centre + side * lateral)
                point -= model.box_center[0] * np.array([np.cos(yaw), np.sin(yaw)])
                if _near_route(traffic.town, point):
                    traffic.offer(instance, model, traffic.standing(float(point[0]), float(point[1]), yaw), parked=True)
                along += length + float(rng.uniform(0.6, 3.5))


def _parked_in_lots(traffic: _Traffic) -> None:
    rng = traffic.rng
    for stall in traffic.world.stalls:
        if rng.random() < 0.3 or not _near_route(traffic.town, np.array([stall.x, stall.y])):
            continue
        instance, model = traffic.new_model("car")
        heading = np.array([np.cos(stall.yaw), np.sin(stall.yaw)])
        front = model.box_center[0] + model.size[0] / 2
        point = np.array([stall.x, stall.y]) - heading * (stall.front_gap + front)
        yaw = stall.yaw + float(rng.normal(0.0, 0.03))
        traffic.offer(instance, model, traffic.standing(float(point[0]), float(point[1]), yaw), parked=True)


def _sidewalk_point(traffic: _Traffic, inset: float) -> tuple[np.ndarray, int, float, float] | None:
    """A random point on a sidewalk line near the route: (point, axis, side, along)."""
    rng = traffic.rng
    spans = [span for span in _street_spans(traffic.town) if _near_route(traffic.town, _to_point(span[0], (span[2] + span[3]) / 2, span[1]), 60.0)]
    axis, centre, start, stop = spans[int(rng.integers(len(spans)))]
    side = float(rng.choice([-1.0, 1.0]))
    along = float(rng.uniform(start, stop))
    point = _to_point(axis, along, centre + side * (streets.HALF_WIDTH + inset))
    obstacles = traffic.world.sidewalk_obstacles
    if len(obstacles) and (np.hypot(*(obstacles[:, :2] - point).T) < obstacles[:, 2] + 0.7).any():
        return None
    return point, axis, side, along


def _standing_people(traffic: _Traffic) -> None:
    rng = traffic.rng
    for _ in range(14):
        found = _sidewalk_point(traffic, float(rng.uniform(0.9, 3.0)))
        if found is None:
            continue
        point, _, _, _ = found
        group = 1 if rng.random() < 0.6 else int(rng.integers(2, 4))
        for member in range(group):
            instance, model = traffic.new_model("pedestrian")
            spot = point + (rng.normal(0.0, 0.6, 2) if member else 0.0)
            traffic.offer(instance, model, traffic.standing(float(spot[0]), float(spot[1]), float(rng.uniform(-np.pi, np.pi))), parked=True)


def _random_walkers(traffic: _Traffic, count: int) -> None:
    rng = traffic.rng
    for _ in range(count):
        inset = float(rng.uniform(1.8, 2.6))
        found = _sidewalk_point(traffic, inset)
        if found is None:
            continue
        point, axis, side, _ = found
        direction = np.zeros(2)
        direction[axis] = float(rng.choice([-1.0, 1.0]))
        path = _sidewalk_route(traffic.town, point, direction, side, inset, rng, length=1.7 * traffic.grid.count * TIME_STEP + 20.0)
        instance, model = traffic.new_model("pedestrian")
        traffic.offer(instance, model, traffic.moving("pedestrian", model, _Route(path, ())), parked=False)


def _route_start(traffic: _Traffic, offset: float, horizon: float, entering: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """Start point, heading and start time of a random lane route: somewhere near the
    central block at the log's start, or at the town's edge later on."""
    rng = traffic.rng
    town = traffic.town
    axis = int(rng.integers(2))
    centres = town.street_ys if axis == 0 else town.street_xs
    centre = float(centres[int(rng.integers(len(centres)))])
    heading = np.zeros(2)
    heading[axis] = float(rng.choice([-1.0, 1.0]))
    x_min, x_max, y_min, y_max = town.bounds
    low, high = (x_min, x_max) if axis == 0 else (y_min, y_max)
    if entering:
        along = low + 1.0 if heading[axis] > 0 else high - 1.0
        start_time = float(rng.uniform(0.0, max(horizon - 10.0, 1.0)))
    else:
        spans = [span for span in _street_spans(town) if span[0] == axis and span[1] == centre]
        _, _, start, stop = spans[int(rng.integers(len(spans)))]
        along = float(rng.uniform(start, stop))
        start_time = 0.0
    point = _to_point(axis, along, centre) + _right(heading) * offset
    return point, heading, start_time


def _random_riders(traffic: _Traffic, count: int, horizon: float) -> None:
    rng = traffic.rng
    for index in range(count):
        point, heading, start_time = _route_start(traffic, streets.BIKE_OFFSET, horizon, entering=index % 3 == 2)
        route = _lane_route(traffic.town, point, heading, streets.BIKE_OFFSET, rng, turn_weights=(0.75, 0.05, 0.2))
        instance, model = traffic.new_model("cyclist")
        traffic.offer(instance, model, traffic.moving("cyclist", model, route, start_time=start_time), parked=False)


def _random_vehicles(traffic: _Traffic, count: int, horizon: float) -> None:
    rng = traffic.rng
    for index in range(count):
        label = "truck" if rng.random() < 0.12 else "car"
        point, heading, start_time = _route_start(traffic, streets.LANE_OFFSET, horizon, entering=index % 2 == 1)
        route = _lane_route(traffic.town, point, heading, streets.LANE_OFFSET, rng)
        instance, model = traffic.new_model(label)
        traffic.offer(instance, model, traffic.moving(label, model, route, start_time=start_time), parked=False)
