"""How things move: lane paths with rounded corners, speed control, and trajectories.

A Path is a curve in the map plane sampled every `PATH_STEP` metres of arc length, built
from corner points joined by straight lines and circular arcs, then smoothed so curvature
(and so yaw rate) changes continuously. A Trajectory is a pose table on the simulation's
time grid (`TIME_STEP` seconds), for the ego vehicle and every object; poses in between are
interpolated linearly, and outside [first_time, last_time] an object is absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial import cKDTree

from avlabel.sim.kernels import drive_longitudinal

PATH_STEP = 0.1  # metres between path samples
TIME_STEP = 0.01  # seconds between trajectory samples
COARSE_RATIO = 10  # obstacle look-ups every COARSE_RATIO time steps


@dataclass(frozen=True, slots=True)
class Path:
    """A smooth planar curve: xy (n, 2) every PATH_STEP metres, heading (n,) unwrapped radians,
    curvature (n,) 1/m (positive turning left)."""

    xy: np.ndarray
    heading: np.ndarray
    curvature: np.ndarray

    @property
    def length(self) -> float:
        return (len(self.xy) - 1) * PATH_STEP

    def at(self, arc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, heading) at arc lengths `arc` (clamped to the path)."""
        grid = np.arange(len(self.xy)) * PATH_STEP
        return np.interp(arc, grid, self.xy[:, 0]), np.interp(arc, grid, self.xy[:, 1]), np.interp(arc, grid, self.heading)

    def project(self, points: np.ndarray, tree: cKDTree | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arc length, unsigned distance and path heading of the nearest path sample to each
        of points (N, 2). Pass `tree` (a cKDTree of xy) when projecting many batches."""
        distance, index = (tree or cKDTree(self.xy)).query(points)
        return index * PATH_STEP, distance, self.heading[index]


def path_through(corners: np.ndarray, radii: np.ndarray, smoothing: float = 1.5) -> Path:
    """A path from corners (P, 2) with an arc of radius radii[i] at every inner corner i+1
    (radii (P-2,)), smoothed with a Gaussian of `smoothing` metres."""
    corners = np.asarray(corners, dtype=np.float64)
    if len(corners) < 2 or len(radii) != len(corners) - 2:
        raise ValueError(f"path: need P >= 2 corners and P-2 radii, got {len(corners)} corners and {len(radii)} radii")
    pieces = [corners[:1]]
    for index in range(1, len(corners) - 1):
        incoming = corners[index] - corners[index - 1]
        outgoing = corners[index + 1] - corners[index]
        incoming /= np.linalg.norm(incoming)
        outgoing /= np.linalg.norm(outgoing)
        turn = np.arctan2(incoming[0] * outgoing[1] - incoming[1] * outgoing[0], incoming @ outgoing)
        if abs(turn) < 1e-6:
            pieces.append(corners[index : index + 1])
            continue
        radius = float(radii[index - 1])
        tangent = radius * np.tan(abs(turn) / 2)
        start = corners[index] - incoming * tangent
        left = np.array([-incoming[1], incoming[0]]) * np.sign(turn)
        centre = start + left * radius
        first_angle = np.arctan2(start[1] - centre[1], start[0] - centre[0])
        angles = first_angle + np.linspace(0.0, turn, max(3, int(abs(turn) * radius / PATH_STEP)))
        pieces.append(centre + radius * np.column_stack([np.cos(angles), np.sin(angles)]))
    pieces.append(corners[-1:])
    dense = _resample(np.concatenate(pieces), PATH_STEP)
    # smooth, padding both ends with straight extensions so the ends stay put
    pad = int(4 * smoothing / PATH_STEP) + 1
    head = dense[0] + (dense[0] - dense[1]) * np.arange(pad, 0, -1)[:, None]
    tail = dense[-1] + (dense[-1] - dense[-2]) * np.arange(1, pad + 1)[:, None]
    padded = np.concatenate([head, dense, tail])
    smoothed = gaussian_filter1d(padded, smoothing / PATH_STEP, axis=0, mode="nearest")[pad:-pad]
    xy = _resample(smoothed, PATH_STEP)
    direction = np.gradient(xy, axis=0)
    heading = np.unwrap(np.arctan2(direction[:, 1], direction[:, 0]))
    curvature = gaussian_filter1d(np.gradient(heading) / PATH_STEP, 2.0)
    return Path(xy, heading, curvature)


def _resample(points: np.ndarray, step: float) -> np.ndarray:
    lengths = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    keep = np.concatenate([[True], np.diff(lengths) > 1e-9])
    points, lengths = points[keep], lengths[keep]
    grid = np.arange(0.0, lengths[-1] + 1e-9, step)
    return np.column_stack([np.interp(grid, lengths, points[:, 0]), np.interp(grid, lengths, points[:, 1])])


@dataclass(frozen=True, slots=True)
class TimeGrid:
    """The simulation clock: `count` samples every TIME_STEP seconds from `start` (seconds,
    relative to the log's first instant; negative before the log starts)."""

    start: float
    count: int

    @property
    def times(self) -> np.ndarray:
        return self.start + np.arange(self.count) * TIME_STEP

    def index(self, time: float) -> int:
        return int(round((time - self.start) / TIME_STEP))


@dataclass(frozen=True, slots=True)
class Trajectory:
    """Poses on a TimeGrid: x, y, z, yaw (unwrapped), pitch, roll, speed, acceleration (count,),
    frame-agnostic (map or world). Present only for grid steps first..last inclusive."""

    grid: TimeGrid
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    speed: np.ndarray
    acceleration: np.ndarray
    first: int
    last: int

    @property
    def first_time(self) -> float:
        return self.grid.start + self.first * TIME_STEP

    @property
    def last_time(self) -> float:
        return self.grid.start + self.last * TIME_STEP

    def present(self, times: np.ndarray | float) -> np.ndarray:
        times = np.asarray(times, dtype=np.float64)
        return (times >= self.first_time - 1e-9) & (times <= self.last_time + 1e-9)

    def sample(self, times: np.ndarray | float) -> dict[str, np.ndarray]:
        """Poses at `times` (seconds), linearly interpolated, clamped to the present range."""
        times = np.asarray(times, dtype=np.float64)
        position = np.clip((times - self.grid.start) / TIME_STEP, self.first, self.last)
        low = np.minimum(np.floor(position).astype(np.int64), max(self.last - 1, self.first))
        high = np.minimum(low + 1, self.last)
        fraction = position - low
        result = {}
        for name in ("x", "y", "z", "yaw", "pitch", "roll", "speed", "acceleration"):
            values = getattr(self, name)
            result[name] = values[low] * (1.0 - fraction) + values[high] * fraction
        return result

    def transformed(self, yaw: float, offset: np.ndarray) -> "Trajectory":
        """The trajectory in another frame: rotate by `yaw` around z, then shift by offset (3,)."""
        cos, sin = np.cos(yaw), np.sin(yaw)
        return Trajectory(
            self.grid,
            cos * self.x - sin * self.y + offset[0],
            sin * self.x + cos * self.y + offset[1],
            self.z + offset[2],
            self.yaw + yaw,
            self.pitch,
            self.roll,
            self.speed,
            self.acceleration,
            self.first,
            self.last,
        )


@dataclass(frozen=True, slots=True)
class Driver:
    """Speed-control parameters of one agent (intelligent driver model)."""

    cruise_speed: float  # m/s on a straight
    max_acceleration: float
    comfortable_deceleration: float
    headway: float  # seconds
    standstill_gap: float  # metres
    lateral_acceleration: float  # m/s^2 allowed in curves
    max_jerk: float = 2.5


def allowed_speeds(path: Path, driver: Driver, limits: list[tuple[float, float, float]] = ()) -> np.ndarray:
    """Speed allowed at every path sample: cruise, curve and zone limits (start, stop, speed),
    lowered ahead of each so the agent can brake in time."""
    allowed = np.full(len(path.xy), driver.cruise_speed)
    allowed = np.minimum(allowed, np.sqrt(driver.lateral_acceleration / np.maximum(np.abs(path.curvature), 1e-6)))
    arc = np.arange(len(path.xy)) * PATH_STEP
    for start, stop, speed in limits:
        allowed[(arc >= start) & (arc <= stop)] = np.minimum(allowed[(arc >= start) & (arc <= stop)], speed)
    # backward pass: reachable with comfortable braking
    braking = 2.0 * driver.comfortable_deceleration * 0.6 * PATH_STEP
    for index in range(len(allowed) - 2, -1, -1):
        allowed[index] = min(allowed[index], np.sqrt(allowed[index + 1] ** 2 + braking))
    return allowed


@dataclass(frozen=True, slots=True)
class Mover:
    """Something already simulated that others must not run into: its trajectory in the
    map frame and its footprint (length, width)."""

    trajectory: Trajectory
    length: float
    width: float
    forward_offset: float = 0.0  # footprint centre ahead of the trajectory's reference point
    bounds: np.ndarray = field(init=False)  # (4,) x_min, x_max, y_min, y_max ever covered

    def __post_init__(self) -> None:
        steps = slice(self.trajectory.first, self.trajectory.last + 1)
        reach = np.hypot(self.length, self.width) / 2 + abs(self.forward_offset)
        x, y = self.trajectory.x[steps], self.trajectory.y[steps]
        object.__setattr__(self, "bounds", np.array([x.min() - reach, x.max() + reach, y.min() - reach, y.max() + reach]))

    def may_meet(self, other: "Mover") -> bool:
        """False when the two never come near each other (their covered boxes are apart)."""
        return bool(self.bounds[0] < other.bounds[1] and other.bounds[0] < self.bounds[1]
                    and self.bounds[2] < other.bounds[3] and other.bounds[2] < self.bounds[3])


def obstacles_on_path(path: Path, grid: TimeGrid, movers: list[Mover], own_width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project movers onto `path` at coarse time steps. Returns arc position, speed along the
    path and backward reach (C, K); NaN position where a mover is not in the path's corridor."""
    coarse = np.arange(0, grid.count, COARSE_RATIO)
    if not movers:
        empty = np.full((len(coarse), 0), np.nan)
        return empty, empty, empty
    times = grid.times[coarse]
    positions = np.full((len(coarse), len(movers)), np.nan)
    speeds = np.zeros((len(coarse), len(movers)))
    reaches = np.zeros((len(coarse), len(movers)))
    low, high = path.xy.min(axis=0) - 12.0, path.xy.max(axis=0) + 12.0
    tree = cKDTree(path.xy)
    for column, mover in enumerate(movers):
        if mover.bounds[1] < low[0] or mover.bounds[0] > high[0] or mover.bounds[3] < low[1] or mover.bounds[2] > high[1]:
            continue
        trajectory = mover.trajectory
        present = trajectory.present(times)
        if not present.any():
            continue
        pose = trajectory.sample(times[present])
        pose["x"] = pose["x"] + mover.forward_offset * np.cos(pose["yaw"])
        pose["y"] = pose["y"] + mover.forward_offset * np.sin(pose["yaw"])
        inside = (pose["x"] > low[0]) & (pose["x"] < high[0]) & (pose["y"] > low[1]) & (pose["y"] < high[1])
        if not inside.any():
            continue
        rows = np.flatnonzero(present)[inside]
        points = np.column_stack([pose["x"][inside], pose["y"][inside]])
        arc, distance, heading = path.project(points, tree)
        relative = pose["yaw"][inside] - heading
        lateral_reach = np.abs(0.5 * mover.length * np.sin(relative)) + np.abs(0.5 * mover.width * np.cos(relative))
        along_reach = np.abs(0.5 * mover.length * np.cos(relative)) + np.abs(0.5 * mover.width * np.sin(relative))
        in_corridor = (distance < own_width / 2 + lateral_reach + 0.35) & (arc > 0.0) & (arc < path.length)
        positions[rows[in_corridor], column] = arc[in_corridor]
        speeds[rows[in_corridor], column] = (pose["speed"][inside] * np.cos(relative))[in_corridor]
        reaches[rows[in_corridor], column] = along_reach[in_corridor]
    return positions, speeds, reaches


def drive(
    path: Path,
    grid: TimeGrid,
    driver: Driver,
    *,
    start_time: float,
    start_speed: float,
    front_extent: float,
    movers: list[Mover],
    own_width: float,
    stops: list[tuple[float, float, float]] = (),
    limits: list[tuple[float, float, float]] = (),
    start_position: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Arc length, speed and acceleration on the grid (count,) of an agent entering `path` at
    `start_time`, and the first and last grid steps it is present. stops: (arc position of
    the stop line, seconds to stand, earliest release time)."""
    first = max(0, grid.index(start_time))
    allowed = allowed_speeds(path, driver, list(limits))
    positions, speeds, reaches = obstacles_on_path(path, grid, movers, own_width)
    stop_array = np.array(stops, dtype=np.float64).reshape(-1, 3)
    # the kernel runs from the first step; obstacle rows are aligned to the global grid
    offset_rows = first // COARSE_RATIO
    arc, speed, acceleration, finished = drive_longitudinal(
        grid.count - first, TIME_STEP, grid.start + first * TIME_STEP, start_position, start_speed, path.length,
        allowed, PATH_STEP, np.ascontiguousarray(positions[offset_rows:]), np.ascontiguousarray(speeds[offset_rows:]),
        np.ascontiguousarray(reaches[offset_rows:]), COARSE_RATIO, stop_array[:, 0].copy(), stop_array[:, 1].copy(),
        stop_array[:, 2].copy(), driver.max_acceleration, driver.comfortable_deceleration, driver.headway,
        driver.standstill_gap, front_extent, driver.max_jerk,
    )
    full_arc = np.full(grid.count, start_position)
    full_speed = np.zeros(grid.count)
    full_acceleration = np.zeros(grid.count)
    full_arc[first:], full_speed[first:], full_acceleration[first:] = arc, speed, acceleration
    return full_arc, full_speed, full_acceleration, first, first + finished - 1
