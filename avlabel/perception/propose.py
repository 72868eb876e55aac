"""The proposal stage: one LiDAR sweep (ego frame) in, auto cuboids (world frame) out.

    ground removal -> DBSCAN of what stands on the ground -> bird's-eye rectangle fit
    -> class and score -> completion from the class size prior -> radar velocity
    -> world frame

`propose` is what the pipeline calls; `propose_log_frame` feeds it one sweep of a drive
log (a convenience driver; it borrows the sync stage's pose interpolation and de-skew).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from avlabel.io.logstore import DriveLog
from avlabel.perception import boxfit, classify, cluster, ground, kernels, walls, radar as radar_module
from avlabel.perception.settings import BoxFitConfig, ClassConfig, PerceptionConfig
from avlabel.structs import POINT_FIELDS, Cuboid, wrap_angle
from avlabel.structs import _checks

logger = logging.getLogger(__name__)

# Below this speed (m/s) a radar velocity does not decide the heading's direction.
_HEADING_FROM_VELOCITY = 1.0


@dataclass(frozen=True, slots=True, eq=False)
class EgoProposals:
    """Proposals of one sweep before the world transform, ego frame, K boxes.

    boxes (K, 7) [x, y, z, l, w, h, yaw]; labels (K,) class names; scores (K,);
    num_points (K,); velocity (K, 2) m/s in ego axes (NaN unknown); attributes (K,) dicts;
    point_cluster (N,) the proposal index of every input point (-1 none); point_height (N,)
    every input point's height above the local ground (NaN for dropped non-finite rows;
    ground points are those below config.ground.ground_threshold)."""

    boxes: np.ndarray
    labels: tuple[str, ...]
    scores: np.ndarray
    num_points: np.ndarray
    velocity: np.ndarray
    attributes: tuple[dict, ...]
    point_cluster: np.ndarray
    point_height: np.ndarray


def propose(
    points: np.ndarray,
    world_from_ego: np.ndarray,
    timestamp_us: int,
    config: PerceptionConfig,
    *,
    radar: list[tuple[np.ndarray, np.ndarray]] | None = None,
    ego_velocity: np.ndarray | None = None,
    sensor_origin: np.ndarray | None = None,
) -> tuple[Cuboid, ...]:
    """Cuboid proposals of one sweep.

    points: (N, 6) float32, POINT_FIELDS, ego frame at the sweep time.
    world_from_ego: (4, 4) ego pose at the sweep time. timestamp_us: the sweep's log time.
    radar: per scan (detections (D, 5), line_of_sight (D, 3)), ego frame (see radar.py).
    ego_velocity: (3,) m/s, world frame; needed to compensate Doppler.
    sensor_origin: (3,) the LiDAR's position in the ego frame (default the ego origin),
        the viewpoint from which partly seen objects are completed.
    Returns cuboids in the world frame, source "auto", ids and provisional track ids
    unique within the frame.
    """
    world_from_ego = _checks.rigid_transform("world_from_ego", world_from_ego)
    timestamp_us = _checks.integer("timestamp_us", timestamp_us)
    if ego_velocity is not None:
        ego_velocity = _checks.array("ego_velocity", ego_velocity, np.float64, (3,))
    ego_velocity_ego = world_from_ego[:3, :3].T @ ego_velocity if ego_velocity is not None else None
    proposals = propose_ego(points, config, radar=radar, ego_velocity_ego=ego_velocity_ego, sensor_origin=sensor_origin)
    return to_world(proposals, world_from_ego, timestamp_us)


def propose_ego(
    points: np.ndarray,
    config: PerceptionConfig,
    *,
    radar: list[tuple[np.ndarray, np.ndarray]] | None = None,
    ego_velocity_ego: np.ndarray | None = None,
    sensor_origin: np.ndarray | None = None,
    timings: dict[str, float] | None = None,
) -> EgoProposals:
    """The proposal step in the ego frame (see `propose`); ego_velocity_ego in ego axes.
    `timings`, when given, receives the seconds spent in each step."""
    clock = _Stopwatch(timings)
    total = np.shape(points)[0] if np.ndim(points) else 0
    points, finite = _checked_points(points)
    sensor = np.zeros(3) if sensor_origin is None else np.asarray(sensor_origin, dtype=np.float64).reshape(3)
    sensor_xy = sensor[:2]
    point_cluster = np.full(total, -1, np.int64)

    # Ground: height of every point above its local ground plane.
    ground_model, heights = ground.fit_ground(points, config.ground)
    point_height = np.full(total, np.nan)
    point_height[finite] = heights
    clock.lap("ground")

    # Candidates: standing on the ground, in range, not the ego itself.
    settings = config.clustering
    x, y = points[:, 0], points[:, 1]
    ranges = np.hypot(x - sensor_xy[0], y - sensor_xy[1])
    candidates = np.flatnonzero(
        (heights >= settings.min_height) & (heights <= settings.max_height) & (ranges <= settings.max_range)
        & ~((np.abs(x) <= settings.ego_half_length) & (np.abs(y) <= settings.ego_half_width))
    )
    xyz = kernels._take_rows(points[:, :3], candidates).astype(np.float64)
    roughness_scale = _roughness_scale(points, config.score.roughness_reference_step_degrees)

    # Clusters; those too large for any class (a pedestrian by a facade, a car against a
    # wall) lose their walls and are clustered again.
    if settings.eps_per_metre > 0:
        labels = cluster.range_adaptive_dbscan(
            xyz, settings.eps, settings.min_points, eps_per_metre=settings.eps_per_metre, band_width=settings.eps_band_width,
            origin=np.array([*sensor_xy, 0.0]),
        )
    else:
        labels = cluster.dbscan(xyz, settings.eps, settings.min_points)
    largest = _largest_extent(config)
    if settings.wall_rounds > 0:
        labels = walls.peel_walls(
            xyz, labels, largest=largest, eps=settings.eps, min_points=settings.min_points,
            tolerance=settings.wall_tolerance, min_length=settings.wall_min_length, rounds=settings.wall_rounds,
        )
    if settings.fragment_gap > 0:
        labels = _absorb_low_fragments(xyz, heights[candidates], labels, settings)
    # A cluster that fits no class but is too small to have walls peeled off (a car and
    # the hedge behind it, joined by the radius that grows with range) is clustered again
    # with tighter radii.
    for tighter in settings.split_eps:
        labels = _split_oversize(xyz, heights[candidates], labels, tighter, settings.min_points, settings.split_min_extent, config)
    # The sweep's points by bearing from the sensor, for the see-through searches (built
    # once, when first needed).
    bearing_index = functools.cache(lambda: kernels._bearing_index(points, sensor, np.radians(settings.piece_column_degrees)))
    if settings.piece_gap > 0 and "car" in config.classes:
        labels = _join_car_pieces(
            xyz, heights[candidates], labels, config.classes["car"], settings, config.box_fit,
            rows=points[candidates], min_triples=config.score.min_roughness_triples, points=points, candidates=candidates, sensor=sensor,
            roughness_scale=roughness_scale, bearing_index=bearing_index,
        )
    if settings.group_eps > 0:
        labels = _split_groups(xyz, heights[candidates], labels, settings)
    if settings.merge_range_gap > 0:
        labels = _merge_along_sight(xyz, labels, sensor_xy, settings.merge_max_extent, settings.merge_range_gap, settings.merge_bearing_overlap)
    order, offsets = boxfit.cluster_order(labels)
    sizes = np.diff(offsets)
    clock.lap("cluster")
    empty = _empty(point_cluster, point_height)
    if len(sizes) == 0:
        return empty

    # Rectangles, only for clusters that could become a proposal: enough points, and an
    # axis-aligned footprint no larger than the largest class allows.
    candidate_heights = heights[candidates]
    statistics = kernels._cluster_statistics(xyz, candidate_heights, points[candidates, 3], order, offsets)
    bottom, top, intensity = statistics[:, 4], statistics[:, 5], statistics[:, 6]
    fewest = min(settings.min_cluster_points, config.radar.far_min_lidar_points if radar else settings.min_cluster_points)
    worth_fitting = (sizes >= fewest) & (np.hypot(statistics[:, 1] - statistics[:, 0], statistics[:, 3] - statistics[:, 2]) <= largest)
    rectangles = boxfit.fit_rectangles(xyz, order, offsets, config.box_fit, worth_fitting)
    clock.lap("fit")

    # Class and score; the scan-line roughness (foliage) only where a class is plausible.
    bearing = np.arctan2(rectangles.centres[:, 1] - sensor_xy[1], rectangles.centres[:, 0] - sensor_xy[0])
    features = classify.ClusterFeatures(
        length=rectangles.length, width=rectangles.width, height=top, bottom=bottom, num_points=sizes,
        range=np.hypot(rectangles.centres[:, 0] - sensor_xy[0], rectangles.centres[:, 1] - sensor_xy[1]),
        edge_fraction=rectangles.edge_fraction, intensity=intensity, sight_alignment=np.abs(np.cos(rectangles.yaw - bearing)),
    )
    occlusion = config.occlusion
    foot = kernels._foot_hidden(
        points, heights, candidates[order], offsets, worth_fitting, sensor, np.radians(occlusion.column_degrees),
        np.radians(occlusion.margin_degrees), occlusion.gap, config.ground.ground_threshold,
    )
    hidden = (np.nan_to_num(foot) >= occlusion.hidden_share) & (top - bottom >= occlusion.min_visible_height)
    features = dataclasses.replace(features, foot_hidden=hidden)
    if radar:
        seen_by_radar = radar_module.associate(
            radar, rectangles.centres, rectangles.length, rectangles.width, rectangles.yaw,
            np.zeros(3) if ego_velocity_ego is None else ego_velocity_ego, config.radar.gate,
        )
        features = dataclasses.replace(features, min_speed=np.abs(seen_by_radar.radial_speed))
    plausible = worth_fitting & (classify.classify(features, config.classes, config.score).score >= config.min_score)
    features = dataclasses.replace(
        features,
        roughness=kernels._range_roughness(points[candidates], order, offsets, config.score.min_roughness_triples, plausible) / roughness_scale,
    )
    classes = classify.classify(features, config.classes, config.score)
    clock.lap("classify")

    # Boxes: swap axes where the class says so, then grow to at least the class's typical
    # size away from the sensor (what is seen of an object is rarely all of it).
    yaw = np.where(classes.swapped, rectangles.yaw + np.pi / 2, rectangles.yaw)
    length = np.where(classes.swapped, rectangles.width, rectangles.length)
    width = np.where(classes.swapped, rectangles.length, rectangles.width)
    target_length = np.maximum(length, classes.typical_size[:, 0])
    target_width = np.maximum(width, classes.typical_size[:, 1])
    # (Classes completed along the line of sight, people, grow that way instead.)
    sight_share = np.array([row.away_share if row.completion == "sight" else np.nan for row in map(config.classes.get, classes.names)])
    centres, length, width = boxfit.complete_to_size(
        rectangles.centres, length, width, yaw, target_length, target_width, sensor_xy, sight_share=sight_share[classes.label]
    )

    # Free space decides a partly seen length: grown the other way, would the box stand
    # where the sensor sees ground or another object? (Two cars side by side in a lot show
    # their ends; grown along the row, each box would run into its neighbour.)
    partial = worth_fitting & (np.where(classes.swapped, rectangles.width, rectangles.length) < classes.minimum_size[:, 0])
    partial &= classes.score >= config.min_score
    if config.box_fit.free_space_margin > 0 and partial.any():
        chosen = _free_space_orientation(
            points, heights, candidates, order, offsets, partial, rectangles, classes, centres, length, width, yaw, top, sensor,
            ground_model, bearing_index, config,
        )
        centres, length, width, yaw = chosen
    ground_height = ground_model.height_at(centres)
    height = np.maximum(top, 0.1)
    completed = (target_length > rectangles.length + 1e-6) | (target_width > rectangles.width + 1e-6)

    # Radar: velocity over ground, and the heading's direction where the object moves.
    velocity = np.full((len(sizes), 2), np.nan)
    evidence = None
    if radar:
        if ego_velocity_ego is None:
            logger.warning("radar given without ego_velocity: Doppler is not ego-motion compensated (assuming a standing ego)")
        evidence = radar_module.associate(
            radar, centres, length, width, yaw, np.zeros(3) if ego_velocity_ego is None else ego_velocity_ego, config.radar.gate
        )
        velocity = evidence.velocity
    yaw = _heading_direction(yaw, velocity)

    # Keep: enough points (or a far cluster that radar confirms) and enough score.
    keep = worth_fitting & (sizes >= settings.min_cluster_points) & (classes.score >= config.min_score)
    if evidence is not None:
        rescued = (
            worth_fitting & (sizes >= config.radar.far_min_lidar_points) & (features.range >= config.radar.far_range)
            & (evidence.detections >= 1) & (np.abs(np.nan_to_num(evidence.radial_speed)) >= config.radar.rescue_min_speed) & ~keep
        )
        keep |= rescued
    else:
        rescued = np.zeros(len(sizes), bool)
    kept = np.flatnonzero(keep)
    boxes = np.column_stack([centres, ground_height + height / 2, length, width, height, yaw])[kept]
    for new, old in enumerate(kept):
        point_cluster[finite[candidates[order[offsets[old]:offsets[old + 1]]]]] = new
    attributes = tuple(
        {
            "fit_quality": round(float(rectangles.edge_fraction[k]), 3),
            "roughness": None if np.isnan(features.roughness[k]) else round(float(features.roughness[k]), 3),
            "observed_size": [round(float(rectangles.length[k]), 2), round(float(rectangles.width[k]), 2), round(float(top[k]), 2)],
            "completed": bool(completed[k]),
            "range": round(float(features.range[k]), 1),
            "foot_hidden": bool(features.foot_hidden[k]),
            "radar_detections": int(evidence.detections[k]) if evidence is not None else 0,
            "radar_rescued": bool(rescued[k]),
            "class_scores": {name: round(float(classes.compatibility[k, c]), 3) for c, name in enumerate(classes.names)},
        }
        for k in kept
    )
    scores = classes.score[kept].copy()
    clock.lap("boxes")
    return EgoProposals(
        boxes=boxes,
        labels=tuple(classes.names[index] for index in classes.label[kept]),
        scores=np.clip(np.where(rescued[kept], np.maximum(scores, config.min_score), scores), 0.0, 1.0),
        num_points=sizes[kept],
        velocity=velocity[kept],
        attributes=attributes,
        point_cluster=point_cluster,
        point_height=point_height,
    )


def to_world(proposals: EgoProposals, world_from_ego: np.ndarray, timestamp_us: int) -> tuple[Cuboid, ...]:
    """Ego-frame proposals -> world-frame Cuboids (source "auto")."""
    rotation = world_from_ego[:3, :3]
    cuboids = []
    for index, box in enumerate(proposals.boxes):
        centre = rotation @ box[:3] + world_from_ego[:3, 3]
        heading = rotation @ np.array([np.cos(box[6]), np.sin(box[6]), 0.0])
        velocity = proposals.velocity[index]
        cuboids.append(
            Cuboid(
                id=f"auto-{timestamp_us}-{index}",
                track_id=f"proposal-{timestamp_us}-{index}",
                label=proposals.labels[index],
                center=centre,
                size=box[3:6],
                yaw=float(np.arctan2(heading[1], heading[0])),
                score=float(proposals.scores[index]),
                num_points=int(proposals.num_points[index]),
                source="auto",
                velocity=None if np.isnan(velocity).any() else (rotation[:2, :2] @ velocity),
                attributes=dict(proposals.attributes[index]),
            )
        )
    return tuple(cuboids)


@dataclass(frozen=True, slots=True, eq=False)
class FrameInput:
    """What `propose` takes for one sweep of a log: points (N, 6) float32 in the ego frame
    at the sweep time, world_from_ego (4, 4), the sweep's log time, radar pairs, the
    ego's world-frame velocity (3,) and the LiDAR's position in the ego frame (3,)."""

    points: np.ndarray
    world_from_ego: np.ndarray
    timestamp_us: int
    radar: list[tuple[np.ndarray, np.ndarray]]
    ego_velocity: np.ndarray
    sensor_origin: np.ndarray


def log_frame_input(log: DriveLog, index: int, *, lidar: str | None = None, poses: Any = None) -> FrameInput:
    """Sweep `index` of a log made ready for `propose`: de-skewed into the ego frame at the
    sweep time with the sync stage's pose interpolation (SLERP) when the log has poses
    (or GNSS and IMU), radar scans within 60 ms moved into that same ego frame.

    poses: an avlabel.sync PoseInterpolator to reuse across sweeps (built when None)."""
    from avlabel.sync.deskew import deskew_points  # the sync stage: imported only by this driver
    from avlabel.sync.frames import ego_poses

    sensor = lidar or log.lidar
    sweep = log.sweep(index, sensor)
    calibration = log.calibrations[sensor]
    timestamp_us = int(calibration.to_log_time(sweep.timestamp_us))
    ego_from_lidar = calibration.ego_from_sensor
    poses = poses if poses is not None else ego_poses(log)
    points = deskew_points(sweep.points, timestamp_us, ego_from_lidar, poses)
    world_from_ego = poses.at(timestamp_us)
    ego_from_world = np.linalg.inv(world_from_ego)
    radar = []
    for radar_sensor in log.sensors("radar"):
        radar_calibration = log.calibrations[radar_sensor]
        stamps = np.asarray(log.timestamps(radar_sensor)) - radar_calibration.clock_offset_us
        if len(stamps) == 0:
            continue
        nearest = int(np.argmin(np.abs(stamps - timestamp_us)))
        scan_time = int(stamps[nearest])
        if abs(scan_time - timestamp_us) > 60_000:
            continue
        # The radar where it was at its scan time, expressed in the ego frame of the sweep.
        moved = dataclasses.replace(radar_calibration, ego_from_sensor=ego_from_world @ poses.at(scan_time) @ radar_calibration.ego_from_sensor)
        radar.append(radar_module.radar_in_ego(log.radar_scan(nearest, radar_sensor), moved))
    return FrameInput(points, world_from_ego, timestamp_us, radar, np.asarray(poses.velocity(timestamp_us), dtype=np.float64), ego_from_lidar[:3, 3].copy())


def propose_log_frame(log: DriveLog, index: int, config: PerceptionConfig, *, lidar: str | None = None) -> tuple[Cuboid, ...]:
    """World-frame proposals of sweep `index` of a drive log (its first LiDAR unless
    named); see `log_frame_input` for how the sweep is prepared."""
    frame = log_frame_input(log, index, lidar=lidar)
    return propose(
        frame.points, frame.world_from_ego, frame.timestamp_us, config,
        radar=frame.radar or None, ego_velocity=frame.ego_velocity, sensor_origin=frame.sensor_origin,
    )


def interpolate_pose(stamps_us: np.ndarray, world_from_ego: np.ndarray, timestamp_us: int) -> tuple[np.ndarray, np.ndarray]:
    """Pose (4, 4) at timestamp_us from poses (P, 4, 4) at stamps (P,): translation and yaw
    interpolated linearly, the rest from the nearer pose; and the world-frame velocity (3,)
    from the bracketing poses (zeros with one pose)."""
    stamps_us = np.asarray(stamps_us, dtype=np.int64)
    if len(stamps_us) == 1:
        return world_from_ego[0].copy(), np.zeros(3)
    upper = int(np.clip(np.searchsorted(stamps_us, timestamp_us), 1, len(stamps_us) - 1))
    lower = upper - 1
    span = float(stamps_us[upper] - stamps_us[lower])
    fraction = float(np.clip((timestamp_us - stamps_us[lower]) / span, 0.0, 1.0))
    nearer = world_from_ego[lower if fraction < 0.5 else upper]
    pose = nearer.copy()
    pose[:3, 3] = (1 - fraction) * world_from_ego[lower, :3, 3] + fraction * world_from_ego[upper, :3, 3]
    yaws = [np.arctan2(matrix[1, 0], matrix[0, 0]) for matrix in (world_from_ego[lower], world_from_ego[upper])]
    yaw = yaws[0] + fraction * float(wrap_angle(yaws[1] - yaws[0]))
    turn = yaw - np.arctan2(nearer[1, 0], nearer[0, 0])
    cos, sin = np.cos(turn), np.sin(turn)
    pose[:3, :3] = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]]) @ nearer[:3, :3]
    velocity = (world_from_ego[upper, :3, 3] - world_from_ego[lower, :3, 3]) / (span * 1e-6)
    return pose, velocity


def _free_space_orientation(
    points: np.ndarray, heights: np.ndarray, candidates: np.ndarray, order: np.ndarray, offsets: np.ndarray, partial: np.ndarray,
    rectangles: boxfit.Rectangles, classes: classify.Classification, centres: np.ndarray, length: np.ndarray, width: np.ndarray,
    yaw: np.ndarray, top: np.ndarray, sensor: np.ndarray, ground_model: ground.GroundModel,
    bearing_index: Callable[[], tuple[np.ndarray, np.ndarray]], config: PerceptionConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the `partial` clusters, the completed box read the other way round (turned by
    90 degrees, grown away from the sensor); it replaces the first when clearly fewer
    points contradict it: points inside it (kernels._conflicts) and points beyond it whose
    beams crossed it low down (kernels._seen_through; a car's end read as its side would
    have hidden what the sensor saw past the end). `sensor` (3,) is the LiDAR's position;
    `bearing_index` gives `kernels._bearing_index(points, sensor, piece_column_degrees)`.
    Returns centres, length, width, yaw."""
    settings = config.box_fit
    sensor_xy = sensor[:2]
    which = np.flatnonzero(partial)
    swapped = ~classes.swapped[which]
    other_yaw = np.where(swapped, rectangles.yaw[which] + np.pi / 2, rectangles.yaw[which])
    other_length = np.where(swapped, rectangles.width[which], rectangles.length[which])
    other_width = np.where(swapped, rectangles.length[which], rectangles.width[which])
    other_centres, other_length, other_width = boxfit.complete_to_size(
        rectangles.centres[which], other_length, other_width, other_yaw,
        np.maximum(other_length, classes.typical_size[which, 0]), np.maximum(other_width, classes.typical_size[which, 1]), sensor_xy,
    )
    owner = np.full(len(points), -1, np.int64)
    owner[candidates[order]] = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    reach = config.clustering.max_range + 10.0
    grid_order, grid_offsets, side = kernels._bird_grid(points, settings.free_space_cell, reach)
    both = np.concatenate([which, which])
    boxes = np.concatenate([
        np.column_stack([centres[which], length[which], width[which], yaw[which], top[which]]),
        np.column_stack([other_centres, other_length, other_width, other_yaw, top[which]]),
    ])
    conflicts = kernels._conflicts(
        points, heights, owner, grid_order, grid_offsets, side, settings.free_space_cell, reach, boxes, both, settings.free_space_margin,
    )
    low, high = settings.free_space_band
    if high > low:
        column_width = np.radians(config.clustering.piece_column_degrees)
        shrink = 2 * settings.free_space_margin
        ground_height = np.tile(ground_model.height_at(rectangles.centres[which]), 2)
        crossed = np.column_stack([
            boxes[:, :2], np.maximum(boxes[:, 2] - shrink, 0.0), np.maximum(boxes[:, 3] - shrink, 0.0), boxes[:, 4],
            ground_height + low, ground_height + np.minimum(high, boxes[:, 5]),
        ])
        conflicts = conflicts + kernels._seen_through(
            points, owner, *bearing_index(), sensor, column_width, crossed,
            np.column_stack([both, both]).astype(np.int64), config.clustering.piece_see_through_depth,
        )
    current, alternative = conflicts[: len(which)], conflicts[len(which):]
    # Only a reading the class allows: the observed extents fit its envelope that way too.
    envelope = np.array([[row.max_length, row.max_width] for row in config.classes.values()])[classes.label[which]] + config.score.size_slack
    allowed = (np.where(swapped, rectangles.width[which], rectangles.length[which]) <= envelope[:, 0]) & (
        np.where(swapped, rectangles.length[which], rectangles.width[which]) <= envelope[:, 1]
    )
    better = allowed & clearly_fewer(alternative, current, settings.free_space_min_difference, settings.free_space_ratio)
    centres, length, width, yaw = centres.copy(), length.copy(), width.copy(), yaw.copy()
    flip = which[better]
    centres[flip], length[flip], width[flip], yaw[flip] = other_centres[better], other_length[better], other_width[better], other_yaw[better]
    return centres, length, width, yaw


def _roughness_scale(points: np.ndarray, reference_degrees: float) -> float:
    """How much rougher than on the reference scanner a smooth surface looks on this one:
    the square root of the angle between shots along a ring (360 degrees over the fullest
    ring's returns) over `reference_degrees`, at least 1. A coarser scanner samples a car's
    rounded body and its corners farther apart, and the roughness thresholds (set for the
    reference) would read it as foliage; foliage's own depth scatter does not grow with the
    spacing, hence the root (on the 720-shot sample log: car AP 0.62 unscaled, 0.71 with
    the root, more false boxes in proportion). 1 when rings are unknown."""
    rings = points[:, 5].astype(np.int64)
    rings = rings[rings >= 0]
    if len(rings) == 0:
        return 1.0
    step = 360.0 / float(np.bincount(rings).max())
    return max(1.0, np.sqrt(step / reference_degrees))


def clearly_fewer(few: np.ndarray, many: np.ndarray, difference: int, ratio: float) -> np.ndarray:
    """Whether counts `few` are clearly below `many` (arrays of point counts): by at least
    `difference`, or by a factor of at least `ratio` (with `many` at least `ratio`), so that
    a far, sparse object's 6 contradicting points against none decide as surely as a near
    one's 40 against 20."""
    few, many = np.asarray(few), np.asarray(many)
    return (few + difference <= many) | ((many >= ratio) & (few * ratio <= many))


def _split_oversize(
    xyz: np.ndarray, heights: np.ndarray, labels: np.ndarray, eps: float, min_points: int, min_extent: float, config: PerceptionConfig
) -> np.ndarray:
    """Re-cluster, with radius `eps`, the points of clusters that fit no class (see
    `_beyond_every_class`); pieces whose bird's-eye diagonal reaches `min_extent` become
    clusters of their own, the rest of each cluster stays one. heights (N,) above
    ground; returns contiguous labels (N,), -1 noise."""
    order, offsets = boxfit.cluster_order(labels)
    if len(offsets) < 2:
        return labels
    oversize = np.flatnonzero(_beyond_every_class(xyz, heights, order, offsets, config))
    if len(oversize) == 0:
        return labels
    marked = np.zeros(len(offsets) - 1, bool)
    marked[oversize] = True
    inside = np.flatnonzero(marked[np.maximum(labels, 0)] & (labels >= 0))
    subset = xyz[inside]
    parts = cluster.dbscan(subset, eps, min_points)
    # Only pieces a vehicle's size leave (a car by a hedge); the rest stays together, so
    # the hedge does not fall apart into person-sized bits.
    piece_order, piece_offsets = boxfit.cluster_order(parts)
    pieces = kernels._cluster_statistics(subset, subset[:, 2], subset[:, 2], piece_order, piece_offsets)
    freed = np.hypot(pieces[:, 1] - pieces[:, 0], pieces[:, 3] - pieces[:, 2]) >= min_extent
    if not freed.any():
        return labels
    leaving = (parts >= 0) & freed[np.maximum(parts, 0)]
    labels = labels.copy()
    labels[inside[leaving]] = parts[leaving] + int(labels.max()) + 1
    return _contiguous(labels)


def _largest_extent(config: PerceptionConfig) -> float:
    """The bird's-eye diagonal of the largest box any class allows, with the size slack:
    clusters beyond it lose their walls (`walls.peel_walls`)."""
    return max(np.hypot(row.max_length, row.max_width) for row in config.classes.values()) + config.score.size_slack


def _beyond_every_class(xyz: np.ndarray, heights: np.ndarray, order: np.ndarray, offsets: np.ndarray, config: PerceptionConfig) -> np.ndarray:
    """(K,) bool: clusters no class can hold, short of those larger than any class's box
    (`peel_walls` has had those): the smallest-area rectangle is wider than every class
    allows (a car and the hedge behind it, side by side), or longer or wider than a car
    while the top, `heights` (N,) above ground, stays below a truck's minimum height (a
    row of parked cars and a hedge)."""
    classes, slack = config.classes, config.score.size_slack
    starts = offsets[:-1]
    car, truck = classes.get("car"), classes.get("truck")
    if len(starts) == 0 or car is None:
        return np.zeros(len(starts), bool)
    statistics = kernels._cluster_statistics(xyz, heights, heights, order, offsets)  # x, y ranges, bottom, top, ...
    diagonal = np.hypot(statistics[:, 1] - statistics[:, 0], statistics[:, 3] - statistics[:, 2])
    largest = _largest_extent(config)
    widest = max(row.max_width for row in classes.values()) + slack
    examined = (diagonal > car.max_width + slack) & (diagonal <= largest) & (np.diff(offsets) >= 3)
    rectangles = boxfit.fit_rectangles(xyz, order, offsets, config.box_fit.model_copy(update={"criterion": "area", "max_fit_points": 64}), examined)
    beyond = rectangles.width > widest
    if truck is not None:
        beyond |= ((rectangles.length > car.max_length + slack) | (rectangles.width > car.max_width + slack)) & (statistics[:, 5] < truck.min_height)
    return examined & beyond


def _join_car_pieces(
    xyz: np.ndarray, heights: np.ndarray, labels: np.ndarray, car: ClassConfig, settings, box_fit: BoxFitConfig, *,
    rows: np.ndarray, min_triples: int, points: np.ndarray, candidates: np.ndarray, sensor: np.ndarray, roughness_scale: float = 1.0,
    bearing_index: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None,
) -> np.ndarray:
    """Join the pieces of one car that DBSCAN kept apart.

    Where a car returns nothing (glass, a dark wheel arch), its rear face and its side, or
    its bonnet and its roof, come apart. Two clusters whose bird's-eye bounding boxes lie
    within `piece_gap` of each other are joined when the rectangle fitted to both together
    still fits a car (the class's maximum length and width plus `piece_slack`, which may be negative) and each is
    of car height (top at most the car's maximum height) and no rougher than a car's
    surface (foliage: a hedge beside a parked car). Pieces a person could be (at most
    `piece_person_extent` across and taller than `piece_person_top`) never join: people
    walk beside cars. Nor do pieces the sensor saw through: more than
    `piece_max_seen_through` beams that crossed the joined footprint (shrunk by
    `piece_see_through_margin`) in the lower `piece_see_through_band` of the pieces'
    height span (doors, not windows, which beams do pass) and went on beyond it (the gap
    between two cars parked side by side; see kernels._seen_through). `rows` (N, 6)
    are the clustered points with their rings (roughness); `points` all points of the
    sweep, `candidates` (N,) the index of each clustered point among them, `sensor` (3,)
    the LiDAR's position; `roughness_scale` as from `_roughness_scale`; `bearing_index`
    gives `kernels._bearing_index(points, sensor, piece_column_degrees)` (built here if
    None). Nearest pairs are joined first, and a joined group grows only while it still
    fits a car. Returns contiguous labels (N,)."""
    order, offsets = boxfit.cluster_order(labels)
    clusters = len(offsets) - 1
    if clusters < 2:
        return labels
    statistics = kernels._cluster_statistics(xyz, heights, heights, order, offsets)
    low_x, high_x, low_y, high_y, top = statistics[:, 0], statistics[:, 1], statistics[:, 2], statistics[:, 3], statistics[:, 5]
    diagonal = np.hypot(high_x - low_x, high_y - low_y)
    longest, widest = car.max_length + settings.piece_slack, car.max_width + settings.piece_slack
    person = (diagonal <= settings.piece_person_extent) & (top >= settings.piece_person_top)
    eligible = np.flatnonzero((top <= car.max_height) & (diagonal <= np.hypot(longest, widest)) & ~person)
    if len(eligible) < 2:
        return labels
    gap = _box_gaps(statistics, eligible, eligible)
    first, second = np.nonzero(np.triu(gap <= settings.piece_gap, 1))
    if len(first) == 0:
        return labels
    by_gap = np.argsort(gap[first, second], kind="stable")
    first, second = eligible[first[by_gap]], eligible[second[by_gap]]
    # Foliage never joins; the roughness only of the clusters in some pair.
    in_pair = np.zeros(clusters, bool)
    in_pair[first] = in_pair[second] = True
    roughness = kernels._range_roughness(rows, order, offsets, min_triples, in_pair) / roughness_scale
    smooth = ~(roughness > car.max_roughness)
    first, second = first[smooth[first] & smooth[second]], second[smooth[first] & smooth[second]]
    if len(first) == 0:
        return labels
    # Every pair's union fitted at once; groups of three or more are refitted as they form.
    sizes = np.diff(offsets)
    pair_offsets = np.concatenate([[0], np.cumsum(sizes[first] + sizes[second])])
    pair_order = np.concatenate([np.concatenate([order[offsets[one]:offsets[one + 1]], order[offsets[other]:offsets[other + 1]]])
                                 for one, other in zip(first, second)])
    pairs = boxfit.fit_rectangles(xyz, pair_order, pair_offsets, box_fit)
    pair_fits = (pairs.length <= longest) & (pairs.width <= widest)
    owner = np.full(len(points), -1, np.int64)
    owner[candidates] = labels
    bearing_width = np.radians(settings.piece_column_degrees)
    if bearing_index is None:
        bearing_index = functools.cache(lambda: kernels._bearing_index(points, sensor, bearing_width))

    def seen_through(rectangles: boxfit.Rectangles, unions: list[np.ndarray], owners: np.ndarray, owner: np.ndarray) -> np.ndarray:
        # Only the lower part of the span: beams go through a car's windows, not its doors.
        spans = np.array([[xyz[union, 2].min(), xyz[union, 2].max()] for union in unions]).reshape(-1, 2)
        spans[:, 1] = spans[:, 0] + settings.piece_see_through_band * (spans[:, 1] - spans[:, 0])
        # Shrunk: beams grazing a body's tapered ends and sides pass the fitted rectangle's edge.
        shrink = 2 * settings.piece_see_through_margin
        boxes = np.column_stack([
            rectangles.centres, np.maximum(rectangles.length - shrink, 0.0), np.maximum(rectangles.width - shrink, 0.0), rectangles.yaw, spans,
        ])
        return kernels._seen_through(
            points, owner, *bearing_index(), sensor, bearing_width, boxes, owners.astype(np.int64), settings.piece_see_through_depth
        )

    if pair_fits.any():
        fitting = np.flatnonzero(pair_fits)
        through = seen_through(
            boxfit.Rectangles(pairs.centres[fitting], pairs.length[fitting], pairs.width[fitting], pairs.yaw[fitting], pairs.edge_fraction[fitting]),
            [pair_order[pair_offsets[k]:pair_offsets[k + 1]] for k in fitting], np.column_stack([first[fitting], second[fitting]]), owner,
        )
        pair_fits[fitting[through > settings.piece_max_seen_through]] = False
    parents = np.arange(clusters)
    group_size = np.ones(clusters, np.int64)
    members: dict[int, np.ndarray] = {}
    for index, (one, other) in enumerate(zip(first, second)):
        root, other_root = _root_of(parents, int(one)), _root_of(parents, int(other))
        if root == other_root:
            continue
        if group_size[root] == 1 and group_size[other_root] == 1:
            fits = bool(pair_fits[index])
            union = pair_order[pair_offsets[index]:pair_offsets[index + 1]]
        else:
            union = np.concatenate([members.get(root, order[offsets[root]:offsets[root + 1]]),
                                    members.get(other_root, order[offsets[other_root]:offsets[other_root + 1]])])
            rectangle = boxfit.fit_rectangles(xyz, union, np.array([0, len(union)]), box_fit)
            fits = bool(rectangle.length[0] <= longest and rectangle.width[0] <= widest)
            if fits:
                # Points owned by the two groups (by their roots) are the box's own.
                roots_now = np.array([_root_of(parents, cluster) for cluster in range(clusters)])
                group_owner = np.where(owner >= 0, roots_now[np.maximum(owner, 0)], -1)
                through = seen_through(rectangle, [union], np.array([[root, other_root]]), group_owner)
                fits = bool(through[0] <= settings.piece_max_seen_through)
        if not fits:
            continue
        keep, gone = min(root, other_root), max(root, other_root)
        parents[gone] = keep
        group_size[keep] += group_size[gone]
        members[keep] = union
    roots = np.array([_root_of(parents, cluster) for cluster in range(clusters)])
    merged = labels.copy()
    clustered = merged >= 0
    merged[clustered] = roots[merged[clustered]]
    return _contiguous(merged)


def _split_groups(xyz: np.ndarray, heights: np.ndarray, labels: np.ndarray, settings) -> np.ndarray:
    """Part people walking together: a cluster of pedestrian height whose torso slice
    (`group_band` above ground) falls apart, in bird's-eye DBSCAN with radius
    `group_eps`, into two or more person-sized pieces is split between them (each point
    to the nearest piece). Car roofs are one wide piece and stay whole. Returns
    contiguous labels (N,)."""
    order, offsets = boxfit.cluster_order(labels)
    clusters = len(offsets) - 1
    if clusters == 0:
        return labels
    statistics = kernels._cluster_statistics(xyz, heights, heights, order, offsets)
    diagonal = np.hypot(statistics[:, 1] - statistics[:, 0], statistics[:, 3] - statistics[:, 2])
    top = statistics[:, 5]
    suspects = np.flatnonzero((top >= settings.group_min_top) & (top <= settings.group_max_top) & (diagonal >= 0.8) & (diagonal <= settings.group_max_extent))
    if len(suspects) == 0:
        return labels
    # All suspects' torso slices in one bird's-eye DBSCAN, each lifted to its own height
    # (10 m apart) so that neighbouring suspects never join.
    low, high = settings.group_band
    members = order[np.concatenate([np.arange(offsets[index], offsets[index + 1]) for index in suspects])]
    owner = np.repeat(suspects, np.diff(offsets)[suspects])
    torso = (heights[members] >= low) & (heights[members] <= high)
    lifted = np.column_stack([xyz[members[torso], :2], 10.0 * owner[torso]])
    parts = cluster.dbscan(lifted, settings.group_eps, settings.min_points)
    labels = labels.copy()
    next_label = clusters
    for cluster_index in suspects:
        mine = owner[torso] == cluster_index
        pieces = parts[mine]
        found = np.unique(pieces[pieces >= 0])
        if len(found) < 2:
            continue
        flat = lifted[mine, :2]
        centroids = np.array([flat[pieces == piece].mean(axis=0) for piece in found])
        spans = np.array([np.hypot(*np.ptp(flat[pieces == piece], axis=0)) for piece in found])
        sizes = np.array([np.count_nonzero(pieces == piece) for piece in found])
        if (spans > settings.group_person_extent).any() or (sizes < settings.min_points).any():
            continue
        points = members[owner == cluster_index]
        nearest = np.argmin(((xyz[points, None, :2] - centroids[None, :, :]) ** 2).sum(axis=2), axis=1)
        labels[points] = np.where(nearest == 0, cluster_index, next_label + nearest - 1)
        next_label += len(found) - 1
    return _contiguous(labels)


def _absorb_low_fragments(xyz: np.ndarray, heights: np.ndarray, labels: np.ndarray, settings) -> np.ndarray:
    """Join low pieces (a bonnet or a boot cut off by glass that returns nothing) to the
    taller cluster beside them.

    A cluster whose top is at most `fragment_max_top` above ground joins the nearest
    taller cluster whose bird's-eye bounding box lies within `fragment_gap`, when the
    union's bounding-box diagonal stays within `fragment_max_extent` (a car's). Pedestrians
    and cyclists are taller than the limit, so they are never absorbed. Returns
    contiguous labels (N,)."""
    order, offsets = boxfit.cluster_order(labels)
    clusters = len(offsets) - 1
    if clusters < 2:
        return labels
    statistics = kernels._cluster_statistics(xyz, heights, heights, order, offsets)
    low_x, high_x, low_y, high_y, top = statistics[:, 0], statistics[:, 1], statistics[:, 2], statistics[:, 3], statistics[:, 5]
    pieces = np.flatnonzero(top <= settings.fragment_max_top)
    if len(pieces) == 0:
        return labels
    gap = _box_gaps(statistics, pieces, np.arange(clusters))
    union = np.hypot(np.maximum(high_x[pieces, None], high_x[None, :]) - np.minimum(low_x[pieces, None], low_x[None, :]),
                     np.maximum(high_y[pieces, None], high_y[None, :]) - np.minimum(low_y[pieces, None], low_y[None, :]))
    allowed = (gap <= settings.fragment_gap) & (union <= settings.fragment_max_extent) & (top[None, :] > top[pieces, None])
    allowed[np.arange(len(pieces)), pieces] = False
    target = np.where(allowed.any(axis=1), np.argmin(np.where(allowed, gap, np.inf), axis=1), -1)
    mapping = np.arange(clusters)
    moved = target >= 0
    mapping[pieces[moved]] = target[moved]
    # A piece joined to another piece follows it to its final cluster.
    for _ in range(3):
        mapping = mapping[mapping]
    merged = labels.copy()
    clustered = merged >= 0
    merged[clustered] = mapping[merged[clustered]]
    return _contiguous(merged)


def _merge_along_sight(
    xyz: np.ndarray, labels: np.ndarray, sensor_xy: np.ndarray, largest: float, range_gap: float, bearing_overlap: float
) -> np.ndarray:
    """Join clusters that are pieces of one object seen along the same line of sight.

    A car's rear face, its roof and its bonnet come apart where beams graze the roof, go
    through glass or are blocked, but the pieces lie at the same bearing from the sensor,
    one behind the other. Two clusters are joined when their bearing intervals overlap by
    at least `bearing_overlap` of the narrower one (widened by 0.1 m at their range),
    one lies behind the other (range intervals disjoint, up to 0.2 m of overlap) at most
    `range_gap` away, and the union's bird's-eye
    bounding box diagonal stays within `largest` (a car's, so that two cars one behind the
    other stay two). Nearest pairs are joined first. Returns contiguous labels (N,)."""
    order, offsets = boxfit.cluster_order(labels)
    clusters = len(offsets) - 1
    if clusters < 2:
        return labels
    polar = kernels._cluster_polar_extents(xyz, order, offsets, float(sensor_xy[0]), float(sensor_xy[1]))
    boxes = kernels._cluster_statistics(xyz, xyz[:, 2], xyz[:, 2], order, offsets)[:, :4]
    small = np.flatnonzero(np.hypot(boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]) <= largest)
    if len(small) < 2:
        return labels
    low, high, near, far = (polar[small, column] for column in range(4))
    pad = 0.1 / np.maximum(near, 1.0)
    # Bearings relative to each row's interval start, wrapped, so that +-pi does not matter.
    shift = np.mod(low[None, :] - low[:, None] + np.pi, 2 * np.pi) - np.pi
    other_low = low[:, None] + shift
    other_high = other_low + (high - low)[None, :]
    overlap = np.minimum(high[:, None] + pad[:, None], other_high + pad[None, :]) - np.maximum(low[:, None] - pad[:, None], other_low - pad[None, :])
    narrower = np.minimum((high - low + 2 * pad)[:, None], (high - low + 2 * pad)[None, :])
    gap = np.maximum(near[None, :] - far[:, None], near[:, None] - far[None, :])
    # One behind the other: range intervals disjoint (up to 0.2 m of overlap) and close.
    candidate = (overlap >= bearing_overlap * narrower) & (gap >= -0.2) & (gap <= range_gap) & np.triu(np.ones((len(small), len(small)), bool), 1)
    first, second = np.nonzero(candidate)
    if len(first) == 0:
        return labels
    parents = np.arange(clusters)
    extent = boxes.copy()  # x low, x high, y low, y high of each group, at its root
    for index in np.argsort(gap[first, second], kind="stable"):
        root, other = _root_of(parents, small[first[index]]), _root_of(parents, small[second[index]])
        if root == other:
            continue
        union = np.array([min(extent[root, 0], extent[other, 0]), max(extent[root, 1], extent[other, 1]),
                          min(extent[root, 2], extent[other, 2]), max(extent[root, 3], extent[other, 3])])
        if np.hypot(union[1] - union[0], union[3] - union[2]) > largest:
            continue
        parents[max(root, other)] = min(root, other)
        extent[min(root, other)] = union
    roots = np.array([_root_of(parents, cluster) for cluster in range(clusters)])
    merged = labels.copy()
    clustered = merged >= 0
    _, merged[clustered] = np.unique(roots[merged[clustered]], return_inverse=True)
    return merged


def _box_gaps(statistics: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Bird's-eye distance (R, C) between the bounding boxes of clusters `rows` and
    `columns` (0 where they overlap); statistics as from kernels._cluster_statistics."""
    low_x, high_x, low_y, high_y = (statistics[:, column] for column in range(4))
    gap_x = np.maximum(low_x[None, columns] - high_x[rows, None], low_x[rows, None] - high_x[None, columns])
    gap_y = np.maximum(low_y[None, columns] - high_y[rows, None], low_y[rows, None] - high_y[None, columns])
    return np.hypot(np.maximum(gap_x, 0.0), np.maximum(gap_y, 0.0))


def _contiguous(labels: np.ndarray) -> np.ndarray:
    """Labels >= 0 renumbered 0..K-1 in the order of their values (no sort: a lookup)."""
    labels = np.asarray(labels, dtype=np.int64)
    clustered = labels >= 0
    if not clustered.any():
        return labels
    present = np.zeros(int(labels.max()) + 1, bool)
    present[labels[clustered]] = True
    lookup = np.cumsum(present) - 1
    result = labels.copy()
    result[clustered] = lookup[labels[clustered]]
    return result


def _root_of(parents: np.ndarray, item: int) -> int:
    while parents[item] != item:
        parents[item] = parents[parents[item]]
        item = parents[item]
    return int(item)


def _heading_direction(yaw: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """Pick the heading's direction (yaw or yaw + pi): along the radar velocity when the
    object moves, else facing forward in the ego frame (|yaw| <= pi/2), the likelier
    for traffic around the ego; tracking settles the rest."""
    yaw = np.asarray(wrap_angle(yaw), dtype=np.float64).reshape(-1)
    forward = np.where(np.abs(yaw) > np.pi / 2, yaw + np.pi, yaw)
    speed = np.hypot(velocity[:, 0], velocity[:, 1])
    moving = np.isfinite(speed) & (speed >= _HEADING_FROM_VELOCITY)
    along = np.cos(forward) * np.nan_to_num(velocity[:, 0]) + np.sin(forward) * np.nan_to_num(velocity[:, 1])
    chosen = np.where(moving & (along < 0), forward + np.pi, forward)
    return np.asarray(wrap_angle(chosen), dtype=np.float64).reshape(-1)


class _Stopwatch:
    """Seconds per step into a dict (or nowhere)."""

    def __init__(self, sink: dict[str, float] | None) -> None:
        self.sink = sink
        self.last = time.perf_counter()

    def lap(self, step: str) -> None:
        if self.sink is not None:
            now = time.perf_counter()
            self.sink[step] = self.sink.get(step, 0.0) + now - self.last
            self.last = now


def _checked_points(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 6) float32 rows with finite x, y, z, intensity, and the input index of each."""
    array = np.asarray(points)
    if array.ndim != 2 or array.shape[1] != len(POINT_FIELDS):
        raise ValueError(f"points: expected shape (N, {len(POINT_FIELDS)}) with columns {POINT_FIELDS}, got {array.shape}")
    if array.dtype.kind != "f":
        raise ValueError(f"points: expected float32 rows, got dtype {array.dtype}")
    if np.isfinite(array).all():
        return np.ascontiguousarray(array, dtype=np.float32), np.arange(len(array))
    finite = np.isfinite(array[:, :4]).all(axis=1)
    if not finite.all():
        logger.warning("dropping %d point(s) with NaN or infinite values", int((~finite).sum()))
    return np.ascontiguousarray(array[finite], dtype=np.float32), np.flatnonzero(finite)


def _empty(point_cluster: np.ndarray, point_height: np.ndarray) -> EgoProposals:
    return EgoProposals(np.zeros((0, 7)), (), np.zeros(0), np.zeros(0, np.int64), np.zeros((0, 2)), (), point_cluster, point_height)
