"""Street scenes with exact truth, and a realistic detection simulator, for tracking work.

No LiDAR here: `street_scene` moves boxes through a town street (parked cars, traffic in
four lanes, an intersection with crossing and turning cars, pedestrians passing each other
on the sidewalks, cyclists, trucks, an ego that stops at the intersection) and counts the
LiDAR points each box would get from its range, aspect and occlusion by nearer boxes.
`simulate_detections` turns that truth into what a box-fitting proposal stage returns:

- centre noise growing with range and sparsity, part of it correlated over time;
- partial views: an extent whose far side the sensor does not see is under-estimated,
  and the box stays anchored to the faces that look towards the ego;
- size noise; yaw noise, with occasional pi flips (more when sparse);
- missed detections in runs, much more likely when there are few points;
- false positives: scattered clutter every sweep and persistent clutter (bushes, poles)
  detected again and again at low confidence;
- score noise, class confusions (car/truck, pedestrian/cyclist, anything/other);
- radar velocities [vx, vy] for some detections in front of the ego.

World frame ENU, z up; boxes [x, y, z, l, w, h, yaw]; the main road runs along +x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from avlabel.structs import Cuboid, LabelFrame, Labels, PoseSeries, wrap_angle

SIZES = {  # class: (mean [l, w, h], relative std)
    "car": ((4.5, 1.9, 1.6), 0.08),
    "truck": ((8.5, 2.6, 3.2), 0.12),
    "pedestrian": ((0.6, 0.6, 1.75), 0.1),
    "cyclist": ((1.8, 0.6, 1.7), 0.08),
    "other": ((0.8, 0.8, 1.0), 0.3),
}
POINT_DENSITY = 20_000.0  # LiDAR points per (m^2 of projected area / m^2 of range)
LABELLED_RANGE = 50.0  # m, truth keeps boxes this close to the ego (see _truth for occlusion)


# --------------------------------------------------------------------------- motion of boxes


@dataclass
class Path:
    """A polyline (P, 2) with cumulative arc length; position and heading at a distance."""

    points: np.ndarray
    arc: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        steps = np.linalg.norm(np.diff(self.points, axis=0), axis=1)
        self.arc = np.concatenate([[0.0], np.cumsum(steps)])

    def at(self, distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        distance = np.clip(distance, 0.0, self.arc[-1])
        x = np.interp(distance, self.arc, self.points[:, 0])
        y = np.interp(distance, self.arc, self.points[:, 1])
        segment = np.clip(np.searchsorted(self.arc, distance, side="right") - 1, 0, len(self.points) - 2)
        direction = self.points[segment + 1] - self.points[segment]
        return np.column_stack([x, y]), np.arctan2(direction[:, 1], direction[:, 0])


def straight(start: tuple[float, float], heading: float, length: float) -> Path:
    steps = np.linspace(0.0, length, max(2, int(length / 0.5)))
    return Path(np.column_stack([start[0] + steps * math.cos(heading), start[1] + steps * math.sin(heading)]))


def turning(start: tuple[float, float], heading: float, before: float, radius: float, turn: float, after: float) -> Path:
    """Straight for `before` m, an arc of `radius` turning by `turn` rad (+ left), straight `after` m."""
    first = straight(start, heading, before).points
    centre_side = math.copysign(1.0, turn)
    corner = first[-1]
    centre = corner + radius * np.array([-math.sin(heading), math.cos(heading)]) * centre_side
    angles = np.linspace(0.0, turn, max(4, int(abs(turn) * radius / 0.3)))
    start_angle = math.atan2(corner[1] - centre[1], corner[0] - centre[0])
    arc = centre + radius * np.column_stack([np.cos(start_angle + angles), np.sin(start_angle + angles)])
    end_heading = heading + turn
    last = straight((arc[-1, 0], arc[-1, 1]), end_heading, after).points
    return Path(np.vstack([first, arc[1:], last[1:]]))


def drive(
    times: np.ndarray, speed: float, stop_at: float | None = None, red: tuple[float, float] = (0.0, 0.0), leader: np.ndarray | None = None
) -> np.ndarray:
    """Arc length (T,) at `times` of a vehicle cruising at `speed` that stops with its centre at
    arc length `stop_at` while the light is red (`red` = (start, end) seconds), if it gets there
    in time, and drives on when it turns green. Brakes at what it takes (at least 2.5 m/s^2),
    pulls away at 2 m/s^2. `leader`: (T,) arc length of the vehicle ahead (same path
    coordinates); this one keeps its centre 8 m behind it."""
    distance, velocity = 0.0, speed
    result = np.empty(len(times))
    for step, time in enumerate(times):
        if step:
            dt = time - times[step - 1]
            remaining = None if stop_at is None else stop_at - distance
            red_now = red[0] <= time < red[1]
            if red_now and remaining is not None and remaining > -0.5 and velocity > 0 and velocity**2 / (2 * max(remaining, 1e-3)) >= 2.5:
                deceleration = velocity**2 / (2 * max(remaining, 1e-3))
                velocity = max(0.0, velocity - deceleration * dt)
            elif red_now and remaining is not None and -0.5 < remaining < 0.5 and velocity < 0.5:
                velocity = 0.0
            else:
                velocity = min(speed, velocity + 2.0 * dt)
            if leader is not None:  # brake at up to 3.5 m/s^2 to stay 8 m behind the leader's centre
                room = leader[step] - 8.0 - distance
                velocity = min(velocity, math.sqrt(2.0 * 3.5 * max(room, 0.0)) + max(0.0, (leader[step] - leader[step - 1]) / dt))
            distance += velocity * dt
        result[step] = distance
    return result


@dataclass
class Mover:
    label: str
    size: np.ndarray  # (3,)
    positions: np.ndarray  # (T, 2)
    headings: np.ndarray  # (T,)


@dataclass(frozen=True)
class Scene:
    truth: Labels
    poses: PoseSeries
    clutter: np.ndarray  # (C, 2) world positions of things detectors mistake for objects


def _size(rng: np.random.Generator, label: str) -> np.ndarray:
    mean, spread = SIZES[label]
    return np.array(mean) * np.exp(rng.normal(0.0, spread, 3))


def street_scene(seed: int, seconds: float = 20.0, rate_hz: float = 10.0) -> Scene:
    """A town street scene: truth Labels (one frame per sweep) and ego poses.

    The main road runs along +x (eastbound lanes at y = -1.75, -5.25, westbound at +1.75,
    +5.25, cyclists at +-6.5, parked cars at +-8.5, sidewalks at +-11); a cross street at
    x = 105 gets a green light while the main road waits at a red one.
    """
    rng = np.random.default_rng(seed)
    times = np.arange(0.0, seconds, 1.0 / rate_hz)
    count = len(times)
    intersection = 105.0
    red = (6.0, 6.0 + rng.uniform(5.0, 7.0))
    eastbound_stop, westbound_stop = intersection - 8.0, intersection + 8.0
    ego_speed = 10.0
    leader_gap = rng.uniform(14.0, 22.0)
    ego_distance = drive(times, ego_speed, eastbound_stop - 3.0 - 7.5, red)
    ego_xy = np.column_stack([ego_distance, np.full(count, -1.75)])
    far_x = float(ego_xy[-1, 0]) + 60.0
    movers: list[Mover] = []

    def add(label: str, path: Path, distance: np.ndarray) -> None:
        positions, headings = path.at(distance)
        movers.append(Mover(label, _size(rng, label), positions, headings))

    # Parked cars (and a parked truck) along both kerbs, facing the traffic of their side.
    for side, yaw in ((-8.5, 0.0), (8.5, math.pi)):
        x = -40.0 + rng.uniform(0, 6)
        while x < far_x:
            label = "truck" if rng.random() < 0.05 else "car"
            size = _size(rng, label)
            if rng.random() > 0.25 and abs(x - intersection) > 14:
                facing = yaw if rng.random() > 0.1 else yaw + math.pi
                movers.append(Mover(label, size, np.tile([x, side + rng.normal(0, 0.15)], (count, 1)), np.full(count, facing + rng.normal(0, 0.04))))
            x += size[0] + rng.uniform(1.0, 4.0)

    # Eastbound: a leader in the ego lane (queued first at the light), overtakers outside.
    add("car", straight((leader_gap, -1.75), 0.0, 600.0), drive(times, ego_speed, eastbound_stop - 3.0 - leader_gap, red))
    ahead = None  # the previous vehicle of the lane, in world x
    for index, start in enumerate(np.sort(rng.uniform(-80.0, 20.0, 3))[::-1]):
        distance = drive(times, rng.uniform(12.0, 15.0), eastbound_stop - 3.0 - 7.5 * index - start, red, None if ahead is None else ahead - start)
        add("car", straight((start, -5.25), 0.0, 600.0), distance)
        ahead = start + distance
    # Westbound in two lanes, a truck among them, queueing at the light.
    for lane in (1.75, 5.25):
        x = far_x + rng.uniform(0, 40)
        speed = rng.uniform(10.0, 13.0)
        ahead = None
        for index in range(4):
            label = "truck" if rng.random() < 0.15 else "car"
            distance = drive(times, speed, x - (westbound_stop + 3.0 + 10.0 * index), red, None if ahead is None else x - ahead)
            add(label, straight((x, lane), math.pi, 600.0), distance)
            ahead = x - distance
            x += rng.uniform(25.0, 45.0)
    # Cross traffic on green (while the main road waits); the last one turns right into the main road.
    for index in range(3):
        direction = 1 if index % 2 == 0 else -1
        lane_x = intersection + (-1.75 if direction > 0 else 1.75)
        start_y = -60.0 * direction
        speed = rng.uniform(8.0, 11.0)
        delay = red[0] + 1.5 + index * 1.2 - 60.0 / speed
        distance = (times - delay) * speed
        heading = math.pi / 2 * direction
        if index == 2:
            path = turning((lane_x, start_y), heading, 60.0 - 1.75 - 5.25, 5.25, -math.pi / 2 * direction, 200.0)
        else:
            path = straight((lane_x, start_y), heading, 200.0)
        positions, headings = path.at(np.maximum(distance, 0.0))
        positions[distance < 0] = [lane_x, start_y]  # waiting out of range before it drives in
        movers.append(Mover("car", _size(rng, "car"), positions, headings))
    # Pedestrians: pairs on the sidewalks walking towards each other, some standing, two on the crosswalk.
    for side in (-11.0, 11.0):
        for _ in range(5):
            meet_x = rng.uniform(0.0, far_x - 40.0)
            meet_t = rng.uniform(0.2, 0.8) * seconds
            for direction, offset in ((1.0, -0.35), (-1.0, 0.35)):
                speed = rng.uniform(1.1, 1.6)
                start = meet_x - direction * speed * meet_t
                add("pedestrian", straight((start, side + offset), 0.0 if direction > 0 else math.pi, 200.0), speed * times)
        for _ in range(3):
            x = rng.uniform(-10.0, far_x - 40.0)
            movers.append(Mover("pedestrian", _size(rng, "pedestrian"), np.tile([x, side + rng.normal(0, 0.5)], (count, 1)), np.full(count, rng.uniform(-math.pi, math.pi))))
    for index in range(2):
        direction = 1 if index == 0 else -1
        speed = rng.uniform(1.2, 1.5)
        add("pedestrian", straight((eastbound_stop + 2.5 + index, -14.0 * direction), math.pi / 2 * direction, 40.0), np.maximum(0.0, (times - red[0] - 0.5 * index) * speed))
    # Cyclists in the outer lanes; they wait at the light too.
    for lane, heading in ((-6.5, 0.0), (6.5, math.pi)):
        start = rng.uniform(-20.0, 60.0) if heading == 0.0 else rng.uniform(130.0, far_x + 20.0)
        stop = (eastbound_stop - start) if heading == 0.0 else (start - westbound_stop)
        add("cyclist", straight((start, lane), heading, 300.0), drive(times, rng.uniform(4.0, 6.0), stop, red))

    clutter = np.column_stack([rng.uniform(-20.0, far_x, 8), rng.choice([-13.0, 13.0], 8) + rng.normal(0, 0.5, 8)])
    truth = _truth(movers, times, ego_xy)
    world_from_ego = np.tile(np.eye(4), (count, 1, 1))
    world_from_ego[:, :2, 3] = ego_xy
    stamps = 1_000_000 + np.round(times * 1e6).astype(np.int64)
    truth = Labels(tuple(LabelFrame(int(stamp), frame.cuboids) for stamp, frame in zip(stamps, truth.frames)), {"generator": "tracking_scenes"})
    return Scene(truth, PoseSeries(stamps, world_from_ego), clutter)


def _projected_area(size: np.ndarray, heading: float, bearing: float) -> float:
    """Area (m^2) of a box's silhouette seen from direction `bearing` (world)."""
    relative = bearing - heading
    return float((abs(size[0] * math.sin(relative)) + abs(size[1] * math.cos(relative))) * size[2])


def _truth(movers: list[Mover], times: np.ndarray, ego_xy: np.ndarray) -> Labels:
    frames = []
    for step in range(len(times)):
        rows = []
        for index, mover in enumerate(movers):
            offset = mover.positions[step] - ego_xy[step]
            distance = float(np.hypot(*offset))
            if distance > LABELLED_RANGE or distance < 2.0:
                continue
            corners = _footprint(mover.positions[step], mover.size, mover.headings[step]) - ego_xy[step]
            azimuths = np.unwrap(np.arctan2(corners[:, 1], corners[:, 0]))
            rows.append((index, distance, azimuths.min(), azimuths.max(), math.atan2(offset[1], offset[0])))
        rows.sort(key=lambda row: row[1])
        cuboids = []
        for position, (index, distance, low, high, bearing) in enumerate(rows):
            covered = _covered_fraction(low, high, [(other[2], other[3]) for other in rows[:position]])
            mover = movers[index]
            points = int(POINT_DENSITY * _projected_area(mover.size, mover.headings[step], bearing) / distance**2 * (1.0 - covered))
            velocity = (mover.positions[min(step + 1, len(times) - 1)] - mover.positions[max(step - 1, 0)]) / max(
                times[min(step + 1, len(times) - 1)] - times[max(step - 1, 0)], 1e-9
            )
            centre = [mover.positions[step, 0], mover.positions[step, 1], mover.size[2] / 2]
            cuboids.append(
                Cuboid(
                    f"{index}@{step}", str(index), mover.label, centre, mover.size, float(wrap_angle(mover.headings[step])),
                    num_points=points, source="truth", velocity=velocity,
                )
            )
        frames.append(cuboids)
    # Like nuScenes: boxes without points are dropped, except inside a track's visible span
    # (occlusion does not end an object; the span is its first to last frame with points).
    visible: dict[str, list[int]] = {}
    for step, cuboids in enumerate(frames):
        for cuboid in cuboids:
            if cuboid.num_points > 0:
                visible.setdefault(cuboid.track_id, []).append(step)
    return Labels(tuple(
        LabelFrame(step, tuple(
            cuboid for cuboid in cuboids
            if cuboid.track_id in visible and visible[cuboid.track_id][0] <= step <= visible[cuboid.track_id][-1]
        ))
        for step, cuboids in enumerate(frames)
    ))


def _footprint(centre: np.ndarray, size: np.ndarray, heading: float) -> np.ndarray:
    cos, sin = math.cos(heading), math.sin(heading)
    local = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * size[:2] / 2
    return centre + local @ np.array([[cos, sin], [-sin, cos]])


def _covered_fraction(low: float, high: float, nearer: list[tuple[float, float]]) -> float:
    """Share of the azimuth interval [low, high] hidden by nearer intervals (no wrap-around handling
    beyond shifting each interval next to this one)."""
    width = max(high - low, 1e-9)
    pieces = []
    for other_low, other_high in nearer:
        shift = 2 * math.pi * round(((low + high) - (other_low + other_high)) / (4 * math.pi))
        start, stop = max(low, other_low + shift), min(high, other_high + shift)
        if stop > start:
            pieces.append((start, stop))
    pieces.sort()
    covered, reach = 0.0, low
    for start, stop in pieces:
        start = max(start, reach)
        if stop > start:
            covered += stop - start
            reach = stop
    return min(1.0, covered / width)


# --------------------------------------------------------------------------- detections


@dataclass(frozen=True)
class DetectorProfile:
    """How good the simulated proposal stage is."""

    centre_noise: float = 0.06  # m at the ego
    centre_noise_per_metre: float = 0.005  # m per m of range
    correlated_share: float = 0.5  # share of the centre variance that is AR(1) over time
    correlation: float = 0.7  # AR(1) coefficient per sweep
    size_noise: float = 0.04  # relative
    partial_shrink: float = 0.35  # extents lose up to this share when sparse and the far side is hidden
    yaw_noise: float = 0.04  # rad
    yaw_noise_per_metre: float = 0.002
    flip_probability: float = 0.05  # pi flips, grows when sparse
    miss_probability: float = 0.03  # floor; sparse objects miss far more
    miss_run: float = 0.5  # probability that a miss is followed by another
    clutter_per_sweep: float = 1.5
    persistent_clutter_probability: float = 0.4
    confusion_probability: float = 0.04
    radar_probability: float = 0.6
    radar_noise: float = 0.3  # m/s


CONFUSIONS = {"car": "truck", "truck": "car", "pedestrian": "cyclist", "cyclist": "pedestrian", "other": "pedestrian"}


def simulate_detections(scene: Scene, seed: int, profile: DetectorProfile = DetectorProfile()) -> Labels:
    """Per-sweep proposals (world frame, source "auto") that a box-fitting detector would give."""
    rng = np.random.default_rng(seed)
    ego = scene.poses.world_from_ego[:, :3, 3]
    correlated: dict[str, np.ndarray] = {}
    missed: dict[str, bool] = {}
    frames = []
    for step, frame in enumerate(scene.truth.frames):
        cuboids = []
        for cuboid in frame.cuboids:
            points = cuboid.num_points
            if points == 0:  # hidden: kept in the truth through occlusion, invisible to any detector
                missed[cuboid.track_id] = True
                continue
            sparse = math.exp(-points / 100.0)
            miss = min(0.95, profile.miss_probability + 0.6 * math.exp(-points / 12.0))
            if missed.get(cuboid.track_id):
                miss = max(miss, profile.miss_run)
            missed[cuboid.track_id] = bool(rng.random() < miss)
            if missed[cuboid.track_id]:
                continue
            offset = ego[step, :2] - cuboid.center[:2]
            distance = float(np.hypot(*offset))
            cos_yaw, sin_yaw = math.cos(cuboid.yaw), math.sin(cuboid.yaw)
            along = (cos_yaw * offset[0] + sin_yaw * offset[1], -sin_yaw * offset[0] + cos_yaw * offset[1])
            size = cuboid.size * np.exp(rng.normal(0.0, profile.size_noise, 3))
            shift = [0.0, 0.0]
            for axis in range(2):
                if abs(along[axis]) > 0.5 * size[axis]:  # this axis's near face looks at the ego; its far side is hidden
                    shrink = min(0.6, (0.05 + profile.partial_shrink * sparse) * rng.uniform(0.5, 1.5))
                    lost = shrink * size[axis]
                    size[axis] -= lost
                    shift[axis] = math.copysign(0.5 * lost, along[axis])
            sparsity = math.sqrt(max(1.0, 30.0 / max(points, 1)))
            sigma = (profile.centre_noise + profile.centre_noise_per_metre * distance) * sparsity
            state = correlated.get(cuboid.track_id, rng.normal(0, 1, 2))
            state = profile.correlation * state + math.sqrt(1 - profile.correlation**2) * rng.normal(0, 1, 2)
            correlated[cuboid.track_id] = state
            noise = sigma * (math.sqrt(profile.correlated_share) * state + math.sqrt(1 - profile.correlated_share) * rng.normal(0, 1, 2))
            centre = cuboid.center.copy()
            centre[0] += cos_yaw * shift[0] - sin_yaw * shift[1] + noise[0]
            centre[1] += sin_yaw * shift[0] + cos_yaw * shift[1] + noise[1]
            centre[2] += rng.normal(0, 0.05 + 0.3 * sigma)
            yaw_sigma = {"pedestrian": 0.4, "cyclist": 0.15}.get(cuboid.label, (profile.yaw_noise + profile.yaw_noise_per_metre * distance) * sparsity)
            yaw = cuboid.yaw + rng.normal(0.0, yaw_sigma)
            if rng.random() < profile.flip_probability + 0.2 * math.exp(-points / 40.0):
                yaw += math.pi
            label = cuboid.label
            if rng.random() < profile.confusion_probability:
                label = CONFUSIONS[label]
            score = float(np.clip(0.5 + 0.45 * (1 - math.exp(-points / 40.0)) + rng.normal(0, 0.08), 0.05, 0.99))
            bearing = math.atan2(-offset[1], -offset[0])
            radar = cuboid.velocity is not None and abs(bearing) < math.radians(60) and distance < 70 and rng.random() < profile.radar_probability
            velocity = cuboid.velocity + rng.normal(0, profile.radar_noise, 2) if radar else None
            cuboids.append(
                Cuboid(
                    f"d{len(cuboids)}", f"d{len(cuboids)}", label, centre, np.maximum(size, 0.1), float(yaw), score=score,
                    num_points=max(1, int(points * rng.uniform(0.8, 1.0))), velocity=velocity,
                    attributes={"truth_track": cuboid.track_id},
                )
            )
        cuboids.extend(_clutter(rng, scene, step, ego[step], len(cuboids), profile))
        frames.append(LabelFrame(frame.timestamp_us, tuple(cuboids)))
    return Labels(tuple(frames), {"generator": "tracking_scenes.simulate_detections"})


def _clutter(rng: np.random.Generator, scene: Scene, step: int, ego: np.ndarray, first: int, profile: DetectorProfile) -> list[Cuboid]:
    boxes = []
    for _ in range(rng.poisson(profile.clutter_per_sweep)):
        radius, angle = rng.uniform(5.0, LABELLED_RANGE), rng.uniform(-math.pi, math.pi)
        label = rng.choice(["pedestrian", "car", "other", "cyclist"], p=[0.4, 0.3, 0.2, 0.1])
        boxes.append((ego[:2] + radius * np.array([math.cos(angle), math.sin(angle)]), label, rng.uniform(0.05, 0.45)))
    for position in scene.clutter:
        if np.hypot(*(position - ego[:2])) < 30.0 and rng.random() < profile.persistent_clutter_probability:
            boxes.append((position + rng.normal(0, 0.15, 2), "pedestrian", float(np.clip(rng.normal(0.3, 0.1), 0.05, 0.6))))
    cuboids = []
    for index, (position, label, score) in enumerate(boxes):
        size = _size(rng, str(label)) * rng.uniform(0.7, 1.1)
        number = first + index
        cuboids.append(
            Cuboid(f"d{number}", f"d{number}", str(label), [position[0], position[1], size[2] / 2], size, float(rng.uniform(-math.pi, math.pi)),
                   score=float(score), num_points=int(rng.integers(5, 30)))
        )
    return cuboids
