"""Import a KITTI object-detection folder (velodyne/, calib/, image_2/, label_2/) into a drive log.

KITTI object frames are unrelated snapshots (drawn from many drives), so the log is written
with `sequential=False`: nothing tracks across frames. Each frame gets its own world:

- ego frame: on the ground 1.73 m below the Velodyne (KITTI's mounting height), axes
  parallel to the Velodyne's (x forward, y left, z up); `ego_from_velodyne` is that shift.
- world frame of frame i: its ego frame (the pose is the identity), at a synthetic time
  i * 1 s on the log clock. Sweep, image and truth of frame i all carry that time.
- points: the scan as stored (x, y, z, reflectance), t_offset 0 (KITTI gives no per-point
  time) and ring -1 (unknown).

Cameras: image_2 (and image_3 when present) are rectified, distortion-free pinhole cameras
with K from P2 (P3). KITTI's frames come from several recording days with their own
calibrations, while a drive log holds one calibration per sensor; frames are therefore
grouped by calibration, and group k >= 1 gets its own camera `image_2_calib<k>` (group 0
keeps `image_2`). The camera of a frame is the one with an image at the frame's time.

Truth: labels are converted from rectified camera 0 to the world frame (see
`avlabel.io.formats.kitti` for KITTI's conventions) and keep their KITTI fields as
attributes (kitti_type, truncated, occluded, alpha, box_2d). Lines with a 16th field (a
score: KITTI's result files) become machine labels (source "auto") with that score. A DontCare line is a 2D region
of image_2 with no 3D box; it becomes an *ignore region*: a truth cuboid with label
"ignore" and attributes {"ignore": true, "box_2d", "camera", "depth_range_m"} whose box
encloses the region's viewing frustum between the nearest and farthest LiDAR returns seen
through it (2 to 80 m when fewer than 5 returns are). Evaluation treats truth labelled
"ignore" (or with ignore=true) as don't-care.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from avlabel.geometry.transforms import invert_rigid, make_transform, transform_points
from avlabel.io.errors import InputError
from avlabel.io.formats import kitti
from avlabel.io.importers._common import count_points_in_boxes, image_size, lidar_points, nearest_rigid, progress_bar
from avlabel.io.logstore import DriveLogWriter
from avlabel.structs import Calibration, Cuboid, LabelFrame, Labels, LidarSweep, PoseSeries

logger = logging.getLogger(__name__)

LIDAR = "velodyne"
VELODYNE_HEIGHT_M = 1.73
FRAME_PERIOD_US = 1_000_000
IGNORE_DEPTH_RANGE_M = (2.0, 80.0)
IGNORE_MIN_RETURNS = 5
_CAMERAS = (("image_2", 2), ("image_3", 3))


def ego_from_velodyne() -> np.ndarray:
    """(4, 4) the Velodyne 1.73 m above the ego origin, axes aligned."""
    return make_transform(np.eye(3), (0.0, 0.0, VELODYNE_HEIGHT_M))


@dataclass(frozen=True, slots=True)
class _Frame:
    name: str
    calibration: kitti.ObjectCalibration
    labels: list[kitti.ObjectLabel] | None
    images: dict[str, Path]


def import_kitti_object(directory: str | os.PathLike[str], out_h5: str | os.PathLike[str], *, progress: bool = False) -> Path:
    """Write the KITTI object folder `directory` as the drive log `out_h5`; returns its path.

    Every calib and label file is read and checked before anything is written; a bad one is
    an InputError naming the file, line and field. label_2/ is optional (testing split).
    """
    directory, out_h5 = Path(directory), Path(out_h5)
    frames = _read_frames(directory)
    cameras = _camera_groups(directory, frames)
    has_truth = any(frame.labels is not None for frame in frames)
    description = (
        f"KITTI object frames from {directory}; unrelated snapshots 1 s apart, each in its own world; "
        f"ego on the ground {VELODYNE_HEIGHT_M} m below the Velodyne"
    )
    stamps = np.arange(len(frames), dtype=np.int64) * FRAME_PERIOD_US
    truth_frames = []
    with DriveLogWriter(out_h5, name=directory.resolve().name, description=description, sequential=False) as log:
        log.add_calibration(Calibration(LIDAR, "lidar", ego_from_velodyne()))
        for calibration in cameras.calibrations.values():
            log.add_calibration(calibration)
        for index, frame in enumerate(progress_bar(frames, enabled=progress, description="KITTI object frames")):
            stamp = int(stamps[index])
            scan = kitti.read_velodyne(directory / "velodyne" / f"{frame.name}.bin")
            log.add_lidar_sweep(LidarSweep(LIDAR, stamp, lidar_points(scan)))
            for folder, path in frame.images.items():
                log.add_encoded_image(cameras.of_frame[(frame.name, folder)], stamp, path.read_bytes(), encoding="png")
            if frame.labels is not None:
                camera = cameras.calibrations[cameras.of_frame[(frame.name, "image_2")]] if (frame.name, "image_2") in cameras.of_frame else None
                cuboids = _cuboids(directory, frame, scan, camera)
                truth_frames.append(LabelFrame(stamp, tuple(cuboids), {"kitti_frame": frame.name}))
        log.set_poses(PoseSeries(stamps, np.tile(np.eye(4), (len(frames), 1, 1))))
        if has_truth:
            log.set_truth(Labels(tuple(truth_frames), {"dataset": "kitti_object", "source": str(directory)}))
    logger.info("imported %d KITTI object frames from %s into %s", len(frames), directory, out_h5)
    return out_h5


# --------------------------------------------------------------------------- reading and checking


def _read_frames(directory: Path) -> list[_Frame]:
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory (expected a KITTI object folder with velodyne/ and calib/)")
    scans = sorted((directory / "velodyne").glob("*.bin"))
    if not scans:
        raise InputError(f"{directory / 'velodyne'}: no *.bin scans (expected a KITTI object folder with velodyne/ and calib/)")
    has_labels = (directory / "label_2").is_dir()
    frames = []
    for scan in scans:
        name = scan.stem
        calibration = kitti.read_object_calibration(directory / "calib" / f"{name}.txt")
        labels = None
        if has_labels:
            label_path = directory / "label_2" / f"{name}.txt"
            if not label_path.is_file():
                raise InputError(f"{label_path}: no such file (label_2/ exists, so every frame needs a label file)")
            labels = kitti.read_object_labels(label_path)
            for label in labels:
                if not label.is_dont_care and min(label.dimensions) <= 0:
                    raise InputError(f"{label_path}: line {label.line}: height, width and length must be > 0 for a {label.type}, got {label.dimensions}")
        images = {}
        for folder, _ in _CAMERAS:
            if (directory / folder).is_dir():
                image = directory / folder / f"{name}.png"
                if not image.is_file():
                    raise InputError(f"{image}: no such file ({folder}/ exists, so every frame needs an image)")
                images[folder] = image
        frames.append(_Frame(name, calibration, labels, images))
    return frames


@dataclass(frozen=True, slots=True)
class _Cameras:
    calibrations: dict[str, Calibration]  # sensor name -> calibration
    of_frame: dict[tuple[str, str], str]  # (frame, folder) -> sensor name


def _camera_groups(directory: Path, frames: list[_Frame]) -> _Cameras:
    """One camera sensor per distinct (projection, extrinsics, image size) of each folder."""
    calibrations: dict[str, Calibration] = {}
    of_frame: dict[tuple[str, str], str] = {}
    for folder, projection_index in _CAMERAS:
        groups: dict[tuple, str] = {}
        for frame in frames:
            if folder not in frame.images:
                continue
            path = frame.images[folder]
            with open(path, "rb") as handle:
                header = handle.read(64)
            size = image_size(header if header[:8] == b"\x89PNG\r\n\x1a\n" else path.read_bytes(), str(path))
            calibration = frame.calibration
            projection = calibration.projections[projection_index]
            key = (tuple(np.round(projection.ravel(), 9)), tuple(np.round(calibration.rect0_from_velodyne().ravel(), 9)), size)
            if key not in groups:
                name = folder if not groups else f"{folder}_calib{len(groups)}"
                groups[key] = name
                calibrations[name] = _camera_calibration(directory, frame, projection_index, name, size)
            of_frame[(frame.name, folder)] = groups[key]
    return _Cameras(calibrations, of_frame)


def _camera_calibration(directory: Path, frame: _Frame, projection_index: int, name: str, size: tuple[int, int]) -> Calibration:
    where = f"{directory / 'calib' / (frame.name + '.txt')}: R0_rect and Tr_velo_to_cam"
    intrinsics, camera_from_rect0 = kitti.camera_from_projection(frame.calibration.projections[projection_index])
    rect0_from_velodyne = nearest_rigid(frame.calibration.rect0_from_velodyne(), where)
    camera_from_ego = camera_from_rect0 @ rect0_from_velodyne @ invert_rigid(ego_from_velodyne())
    try:
        return Calibration(name, "camera", invert_rigid(camera_from_ego), intrinsics=intrinsics, image_size=size)
    except ValueError as error:
        raise InputError(f"{directory / 'calib' / (frame.name + '.txt')}: P{projection_index}: {error}") from None


# --------------------------------------------------------------------------- labels


def _cuboids(directory: Path, frame: _Frame, scan: np.ndarray, camera: Calibration | None) -> list[Cuboid]:
    label_path = directory / "label_2" / f"{frame.name}.txt"
    where = f"{directory / 'calib' / (frame.name + '.txt')}: R0_rect and Tr_velo_to_cam"
    ego_from_rect0 = ego_from_velodyne() @ invert_rigid(nearest_rigid(frame.calibration.rect0_from_velodyne(), where))
    points_ego = transform_points(ego_from_velodyne(), scan[:, :3])
    cuboids, boxes = [], []
    for index, label in enumerate(frame.labels or ()):
        identifier = f"{frame.name}-{index}"
        if label.is_dont_care:
            if camera is None:
                logger.warning("%s: line %d: DontCare region skipped (no image_2 camera to place it)", label_path, label.line)
                continue
            box, depth_range = _ignore_box(label, camera, points_ego)
            attributes = {"ignore": True, "kitti_type": label.type, "box_2d": list(label.box_2d), "camera": camera.sensor, "depth_range_m": list(depth_range)}
            cuboids.append(Cuboid.from_box(box, id=identifier, track_id=identifier, label="ignore", source="truth", attributes=attributes))
            boxes.append(box)
            continue
        height, width, length = label.dimensions
        bottom = np.asarray(label.location, dtype=np.float64)
        center_rect0 = bottom - np.array([0.0, height / 2.0, 0.0])
        center = transform_points(ego_from_rect0, center_rect0[None])[0]
        box = np.array([*center, length, width, height, kitti.yaw_from_rotation_y(label.rotation_y, ego_from_rect0)])
        attributes = {
            "kitti_type": label.type,
            "truncated": label.truncated,
            "occluded": label.occluded,
            "alpha": label.alpha,
            "box_2d": list(label.box_2d),
        }
        cuboids.append(
            Cuboid.from_box(
                box, id=identifier, track_id=identifier, label=kitti.TYPE_TO_CLASS.get(label.type, "other"),
                source="truth" if label.score is None else "auto",
                score=1.0 if label.score is None else float(np.clip(label.score, 0.0, 1.0)), attributes=attributes,
            )
        )
        boxes.append(box)
    if cuboids:
        counts = count_points_in_boxes(points_ego, np.stack(boxes))
        cuboids = [replace(cuboid, num_points=int(count)) for cuboid, count in zip(cuboids, counts)]
    return cuboids


def _ignore_box(label: kitti.ObjectLabel, camera: Calibration, points_ego: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Ego-frame box (7,) enclosing the frustum of a 2D region between the depths of the LiDAR
    returns seen through it, and that depth range (metres along the optical axis)."""
    left, top, right, bottom = label.box_2d
    camera_from_ego = invert_rigid(camera.ego_from_sensor)
    points_camera = transform_points(camera_from_ego, points_ego)
    in_front = points_camera[:, 2] > 0.5
    pixels = points_camera[in_front] @ camera.intrinsics.T
    u, v = pixels[:, 0] / pixels[:, 2], pixels[:, 1] / pixels[:, 2]
    inside = (u >= left) & (u <= right) & (v >= top) & (v <= bottom)
    depths = points_camera[in_front][inside, 2]
    if len(depths) >= IGNORE_MIN_RETURNS:
        near, far = float(np.percentile(depths, 5)) - 1.0, float(np.percentile(depths, 95)) + 1.0
        near, far = max(near, 1.0), min(max(far, near + 1.0), IGNORE_DEPTH_RANGE_M[1])
    else:
        near, far = IGNORE_DEPTH_RANGE_M
    corners_pixels = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], dtype=np.float64)
    rays = np.column_stack([corners_pixels, np.ones(4)]) @ np.linalg.inv(camera.intrinsics).T  # z = 1
    frustum_camera = np.concatenate([rays * near, rays * far])
    frustum_ego = transform_points(camera.ego_from_sensor, frustum_camera)
    center_ray = transform_points(camera.ego_from_sensor, (rays.mean(axis=0) * far)[None])[0] - camera.ego_from_sensor[:3, 3]
    yaw = float(np.arctan2(center_ray[1], center_ray[0]))
    cos, sin = np.cos(yaw), np.sin(yaw)
    local = np.column_stack([cos * frustum_ego[:, 0] + sin * frustum_ego[:, 1], -sin * frustum_ego[:, 0] + cos * frustum_ego[:, 1], frustum_ego[:, 2]])
    low, high = local.min(axis=0), local.max(axis=0)
    middle = (low + high) / 2
    center = np.array([cos * middle[0] - sin * middle[1], sin * middle[0] + cos * middle[1], middle[2]])
    size = np.maximum(high - low, 0.1)
    return np.array([*center, *size, yaw]), (near, far)
