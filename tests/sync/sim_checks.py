"""Measurements of the sync and projection stages against a simulated log's exact truth.

Shared by tests/sync/test_simulated.py (which asserts on them) and
scripts/measure_sync.py (which prints them for the docs).
"""

from __future__ import annotations

import cv2
import numpy as np

from avlabel.geometry.projection import project_cuboid_corners, project_cuboids, project_points
from avlabel.geometry.transforms import invert_rigid, transform_points
from avlabel.io.logstore import SEMANTIC_CODE, DriveLog
from avlabel.structs import box_corners
from avlabel.sync.frames import LogSync

SEED, SECONDS, PROFILE = 5, 20.0, "test"


# --------------------------------------------------------------------------- de-skew


def _local_vertical_wall(xy: np.ndarray, rng: np.random.Generator, *, threshold_m: float = 0.2, half_length_m: float = 12.0,
                         iterations: int = 1500) -> np.ndarray:
    """Inliers (bool, (N,)) of the best vertical plane through two points 2-10 m apart,
    counting only points within `half_length_m` of the pair along the wall (one facade)."""
    best = np.zeros(len(xy), dtype=bool)
    if len(xy) < 10:
        return best
    pairs = rng.integers(0, len(xy), (iterations, 2))
    for first, second in pairs:
        along = xy[second] - xy[first]
        length = float(np.hypot(*along))
        if not 2.0 <= length <= 10.0:
            continue
        direction = along / length
        normal = np.array([-direction[1], direction[0]])
        inliers = (np.abs((xy - xy[first]) @ normal) < threshold_m) & (np.abs((xy - (xy[first] + xy[second]) / 2) @ direction) < half_length_m)
        if inliers.sum() > best.sum():
            best = inliers
    return best


def _plane_rms(points: np.ndarray) -> float:
    """RMS distance (m) of (N, 3) points to their least-squares plane."""
    centred = points - points.mean(axis=0)
    normal = np.linalg.svd(centred, full_matrices=False)[2][2]
    return float(np.sqrt(np.mean((centred @ normal) ** 2)))


def wall_spread(log: DriveLog, sync: LogSync, index: int, *, seam_ms: float = 35.0, seed: int = 0) -> dict | None:
    """Flatness of the building wall behind the ego in sweep `index`, with and without de-skew.

    Building points (per-point truth) measured within 50 - `seam_ms` ms of the sweep's
    start or end (that is, behind the ego, where a spinning LiDAR's first and last points
    meet) are fitted with a local vertical wall, in the de-skewed points and in the raw
    ones (only the mount applied); the union of both inlier sets (the same measurements)
    is then fitted with a plane in each version. Returns the RMS distances (m) and the
    time the wall's points span, or None without such a wall.
    """
    frame = sync.frame(index)
    raw = log.sweep(index, sync.lidar).points
    truth = log.point_truth(index, sync.lidar)
    chosen = (truth.semantic == SEMANTIC_CODE["building"]) & (np.abs(raw[:, 4]) > seam_ms * 1e3)
    if chosen.sum() < 100:
        return None
    rng = np.random.default_rng(seed)
    deskewed = frame.points[chosen, :3].astype(np.float64)
    skewed = transform_points(log.calibrations[sync.lidar].ego_from_sensor, raw[chosen, :3].astype(np.float64))
    wall = _local_vertical_wall(deskewed[:, :2], rng)
    if wall.sum() < 50:
        return None
    centre = deskewed[wall, :2].mean(axis=0)
    normal = np.linalg.svd(deskewed[wall, :2] - centre)[2][1]
    near = (np.abs((deskewed[:, :2] - centre) @ normal) < 2.0) & (np.abs((skewed[:, :2] - centre) @ normal) < 2.0)
    skewed_wall = np.zeros_like(wall)
    skewed_wall[np.flatnonzero(near)[_local_vertical_wall(skewed[near, :2], rng)]] = True
    union = wall | skewed_wall
    times = raw[chosen, 4][union]
    return {
        "index": index,
        "yaw_rate": float(sync.poses.yaw_rate(frame.timestamp_us)),
        "points": int(union.sum()),
        "span_ms": float(np.ptp(times) / 1e3),
        "before_m": _plane_rms(skewed[union]),
        "after_m": _plane_rms(deskewed[union]),
    }


def turning_wall_spreads(log: DriveLog, sync: LogSync, *, min_yaw_rate: float = 0.3, min_span_ms: float = 80.0) -> list[dict]:
    """`wall_spread` of every sweep turning faster than `min_yaw_rate` rad/s whose wall
    crosses the sweep's seam (its points span more than `min_span_ms`)."""
    turning = np.flatnonzero(np.abs(sync.poses.yaw_rate(sync.sweep_us)) > min_yaw_rate)
    results = []
    for index in turning:
        measured = wall_spread(log, sync, int(index))
        if measured is not None and measured["span_ms"] > min_span_ms:
            results.append(measured)
    return results


# --------------------------------------------------------------------------- projection


def _exact_at(scenario, log_time_us: int):
    """The simulator's exact ego pose (4, 4) and truth boxes (M, 7) at a log time."""
    from avlabel.sim import LOG_START_US
    from avlabel.sim.navigation import ego_poses
    from avlabel.sim.truth import truth_frame

    seconds = (log_time_us - LOG_START_US) / 1e6
    world_from_ego = ego_poses(scenario, np.array([seconds]))[0]
    truth = truth_frame(scenario, seconds, log_time_us, 0, {})
    return world_from_ego, truth


def corner_projection_errors(log: DriveLog, sync: LogSync, scenario, sweeps: list[int]) -> dict[str, np.ndarray]:
    """Pixel errors of avlabel's projection of exact truth corners, against cv2.projectPoints
    with the simulator's exact ego pose, at each camera's capture time.

    "world": project_cuboid_corners with the interpolated pose at capture time.
    "lidar_chain": the same corners taken into the ego frame at the sweep's time, then
    project_points through world and the ego at capture time (the LiDAR path).
    Only corners at least 1 m in front of the camera and within one image size of it count.
    Returns {"world": (K,) px, "lidar_chain": (K,) px} of per-corner pixel distances.
    """
    errors: dict[str, list[np.ndarray]] = {"world": [], "lidar_chain": []}
    for index in sweeps:
        frame = sync.frame(index)
        for camera, match in frame.cameras.items():
            calibration = log.calibrations[camera]
            exact_world_from_ego, truth = _exact_at(scenario, match.timestamp_us)
            boxes = truth.boxes()
            if not len(boxes):
                continue
            corners = box_corners(boxes).reshape(-1, 3)
            camera_from_world = invert_rigid(exact_world_from_ego @ calibration.ego_from_sensor)
            corners_camera = transform_points(camera_from_world, corners)
            rotation_vector, _ = cv2.Rodrigues(camera_from_world[:3, :3])
            reference, _ = cv2.projectPoints(corners, rotation_vector, camera_from_world[:3, 3], calibration.intrinsics, calibration.distortion)
            reference = reference[:, 0]
            width, height = calibration.image_size
            near_image = (corners_camera[:, 2] > 1.0) & (np.abs(reference[:, 0] - width / 2) < width) & (np.abs(reference[:, 1] - height / 2) < height)
            world_from_ego_camera = sync.poses.at(match.timestamp_us)
            pixels, valid = project_cuboid_corners(boxes, calibration, world_from_ego_camera)
            keep = near_image & valid.ravel()
            errors["world"].append(np.hypot(*(pixels.reshape(-1, 2)[keep] - reference[keep]).T))
            corners_ego_lidar = transform_points(invert_rigid(frame.world_from_ego), corners)
            uv, _, kept = project_points(corners_ego_lidar, calibration, frame.world_from_ego, world_from_ego_camera)
            on = keep[kept]
            errors["lidar_chain"].append(np.hypot(*(uv[on] - reference[kept][on]).T))
    return {name: np.concatenate(values) if values else np.zeros(0) for name, values in errors.items()}


def rendered_object_checks(log: DriveLog, sync: LogSync, scenario, sweeps: list[int], *, min_pixels: int = 40) -> list[dict]:
    """Truth cuboids drawn by avlabel against the simulator's own rendering of each object.

    The image each sweep's camera took is rendered again with its instance buffer (no
    noise). For every object covering at least `min_pixels` pixels, away from the image
    border and wholly in front of the camera, its truth box at the capture time is projected
    with `project_cuboids` (pose interpolated at capture time). Returns per object: the
    fraction of its pixels inside the box's projected outline (grown by one pixel), the
    gaps (px) between the pixel extent of the object and of the outline on each side
    (left, right, top, bottom; negative = object pixels outside), and the outline's area
    over the object's.
    """
    from avlabel.sim import LOG_START_US
    from avlabel.sim.camera import pixel_rays, render
    from avlabel.sim.raycast import StaticScene

    static = StaticScene(scenario.static_mesh)
    rays: dict[str, np.ndarray] = {}
    results = []
    for index in sweeps:
        frame = sync.frame(index)
        for camera, match in frame.cameras.items():
            calibration = log.calibrations[camera]
            rays.setdefault(camera, pixel_rays(calibration))
            rendering = render(scenario, static, calibration, rays[camera], (match.timestamp_us - LOG_START_US) / 1e6, None, shadows=False)
            _, truth = _exact_at(scenario, match.timestamp_us)
            by_track = {cuboid.track_id: cuboid for cuboid in truth.cuboids}
            world_from_ego_camera = sync.poses.at(match.timestamp_us)
            camera_from_world = invert_rigid(world_from_ego_camera @ calibration.ego_from_sensor)
            height, width = rendering.instance.shape
            for instance in np.unique(rendering.instance[rendering.instance >= 0]):
                mask = rendering.instance == instance
                cuboid = by_track.get(str(instance))
                if cuboid is None or mask.sum() < min_pixels:
                    continue
                rows, columns = np.nonzero(mask)
                if rows.min() == 0 or columns.min() == 0 or rows.max() == height - 1 or columns.max() == width - 1:
                    continue
                if transform_points(camera_from_world, cuboid.corners())[:, 2].min() < 0.5:
                    continue
                outline = np.concatenate(project_cuboids(cuboid.box, calibration, world_from_ego_camera)[0])
                hull = np.zeros(mask.shape, np.uint8)
                cv2.fillConvexPoly(hull, np.rint(cv2.convexHull(outline.astype(np.float32))[:, 0] * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
                grown = cv2.dilate(hull, np.ones((3, 3), np.uint8)).astype(bool)
                results.append({
                    "camera": camera,
                    "sweep": index,
                    "track": str(instance),
                    "pixels": int(mask.sum()),
                    "inside": float((mask & grown).sum() / mask.sum()),
                    "gaps_px": (
                        float(columns.min() - outline[:, 0].min()), float(outline[:, 0].max() - columns.max()),
                        float(rows.min() - outline[:, 1].min()), float(outline[:, 1].max() - rows.max()),
                    ),
                    "area_ratio": float(hull.sum() / mask.sum()),
                })
    return results


def building_surface_distances(log: DriveLog, sync: LogSync, scenario, sweeps: list[int]) -> dict[str, np.ndarray]:
    """Distance (m) of every building point (per-point truth) to the simulator's true static
    surfaces, world frame, de-skewed ("deskewed") and raw with only the mount applied
    ("raw"), over the given sweeps."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(scenario.static_mesh.vertices.astype(np.float32)), o3d.core.Tensor(scenario.static_mesh.triangles.astype(np.uint32))
    )
    ego_from_lidar = log.calibrations[sync.lidar].ego_from_sensor
    distances: dict[str, list[np.ndarray]] = {"deskewed": [], "raw": []}
    for index in sweeps:
        frame = sync.frame(index)
        raw = log.sweep(index, sync.lidar).points
        building = log.point_truth(index, sync.lidar).semantic == SEMANTIC_CODE["building"]
        versions = {
            "deskewed": frame.points[building, :3].astype(np.float64),
            "raw": transform_points(ego_from_lidar, raw[building, :3].astype(np.float64)),
        }
        for name, points_ego in versions.items():
            points_world = transform_points(frame.world_from_ego, points_ego).astype(np.float32)
            distances[name].append(scene.compute_distance(o3d.core.Tensor(points_world)).numpy())
    return {name: np.concatenate(values) for name, values in distances.items()}
