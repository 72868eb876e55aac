"""Export labels as a KITTI object folder: velodyne/, calib/, image_2/, label_2/.

One KITTI frame per label frame. The folder imports back with
`avlabel.io.importers.import_kitti_object`.

- velodyne/<frame>.bin: the frame's sweep of the main LiDAR (KITTI's velodyne frame is that
  LiDAR's frame), de-skewed to the frame time with the log's poses, since KITTI has no
  per-point time: x, y, z, intensity as stored (not rescaled).
- image_2/<frame>.png: the front camera's image nearest the frame time (the camera looking
  most nearly along ego +x), resampled to a distortion-free pinhole camera with the same K
  when the camera has a lens model (KITTI's images are rectified).
- calib/<frame>.txt: P0..P3 = [K | 0] (rectified camera 0 *is* the front camera),
  R0_rect = I, Tr_velo_to_cam = camera_from_lidar from the calibration (static, as KITTI's:
  the few milliseconds between the camera and the LiDAR time are not compensated),
  Tr_imu_to_velo = lidar_from_ego.
- label_2/<frame>.txt: each cuboid in the camera frame: location the bottom centre
  (centre + h/2 along camera +y, KITTI's boxes being upright in the camera frame),
  rotation_y = atan2(-d_z, d_x) of the heading direction d in the camera frame,
  alpha = rotation_y - atan2(x, z) wrapped to [-pi, pi), the 2D box from the projected
  corners clipped to the image. truncated/occluded: the cuboid's own KITTI values when it
  has them (imported from KITTI), else estimated: truncation = the share of the projected
  box outside the image, occlusion from the share covered by nearer objects' boxes
  (< 5 %: 0, < 50 %: 1, else 2). Type: the cuboid's `kitti_type` when it fits its class,
  else Car / Truck / Pedestrian / Cyclist / Misc. A score is written (16th field) for
  machine labels (source "auto"), not for truth or human labels. Ignore regions become
  DontCare lines (their `box_2d` when they have one). Objects whose centre is behind the
  camera or whose box misses the image are not written (counted in `skipped`); KITTI labels
  only what image_2 sees. Numbers have 6 decimals so boxes survive a round trip.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from avlabel.geometry.transforms import invert_rigid, transform_points
from avlabel.io._poses import PoseTable, points_at_time
from avlabel.io.atomic import atomic_path
from avlabel.io.errors import InputError
from avlabel.io.exporters._common import ExportResult, check_frames, exported_image, frame_names, front_camera, is_ignore, log_times, nearest_index
from avlabel.io.formats import kitti
from avlabel.io.logstore import DriveLog
from avlabel.structs import Calibration, Cuboid, Labels, box_corners, wrap_angle

logger = logging.getLogger(__name__)

DECIMALS = 6


def export_kitti(labels: Labels, log: DriveLog, out_dir: str | os.PathLike[str]) -> ExportResult:
    """Write `labels` (world frame) over `log` as a KITTI object folder in `out_dir`."""
    out_dir = Path(out_dir)
    lidar, _, sweep_indices = check_frames(labels, log, "KITTI")
    camera = front_camera(log)
    if camera is None:
        raise InputError(f"{log.path}: camera: KITTI labels live in a camera frame, and the log has no camera")
    camera_calibration = log.calibrations[camera]
    lidar_calibration = log.calibrations[lidar]
    camera_stamps = log_times(log, camera)
    poses = PoseTable(log.poses())
    camera_from_lidar = invert_rigid(camera_calibration.ego_from_sensor) @ lidar_calibration.ego_from_sensor
    intrinsics = camera_calibration.intrinsics
    projection = np.column_stack([intrinsics, np.zeros(3)])
    calibration = kitti.ObjectCalibration(
        projections=(projection, projection, projection, projection),
        rectification=np.eye(3),
        camera0_from_velodyne=camera_from_lidar,
        velodyne_from_imu=invert_rigid(lidar_calibration.ego_from_sensor),
    )
    names = frame_names(labels, "kitti_frame")
    written = skipped = 0
    for frame, name, sweep_index in zip(labels.frames, names, sweep_indices):
        frame_time = frame.timestamp_us
        # Points, de-skewed to the frame time.
        sweep = log.sweep(int(sweep_index), lidar)
        sweep_time = int(lidar_calibration.to_log_time(sweep.timestamp_us))
        xyz = points_at_time(sweep.points, sweep_time, frame_time, poses, lidar_calibration.ego_from_sensor)
        kitti.write_velodyne(out_dir / "velodyne" / f"{name}.bin", np.column_stack([xyz, sweep.points[:, 3]]))
        image_index = nearest_index(camera_stamps, frame_time)
        with atomic_path(out_dir / "image_2" / f"{name}.png") as temporary:
            temporary.write_bytes(exported_image(log, camera, image_index, "png"))
        kitti.write_object_calibration(out_dir / "calib" / f"{name}.txt", calibration)
        # Labels, in the camera frame.
        camera_from_world = camera_from_lidar @ invert_rigid(poses.at(frame_time) @ lidar_calibration.ego_from_sensor)
        lines, frame_skipped = _frame_labels(list(frame.cuboids), camera_from_world, camera_calibration)
        kitti.write_object_labels(out_dir / "label_2" / f"{name}.txt", lines, decimals=DECIMALS)
        written += len(lines)
        skipped += frame_skipped
    if skipped:
        logger.info("KITTI export: %d cuboid(s) behind %s or outside its image were not written", skipped, camera)
    return ExportResult(out_dir, len(labels), written, skipped, (f"image_2 is {camera}",))


def _frame_labels(cuboids: list[Cuboid], camera_from_world: np.ndarray, camera: Calibration) -> tuple[list[kitti.ObjectLabel], int]:
    width, height = camera.image_size
    boxes = np.array([cuboid.box for cuboid in cuboids]).reshape(-1, 7)
    centers = transform_points(camera_from_world, boxes[:, :3]) if len(boxes) else np.zeros((0, 3))
    boxes_2d, clipped_2d = [], []
    for box in boxes:
        corners = transform_points(camera_from_world, box_corners(box))
        full, clipped = _box_2d(corners, camera.intrinsics, width, height)
        boxes_2d.append(full)
        clipped_2d.append(clipped)
    labels, skipped = [], 0
    for index, cuboid in enumerate(cuboids):
        center, clipped = centers[index], clipped_2d[index]
        if is_ignore(cuboid):
            region = cuboid.attributes.get("box_2d")
            if not (isinstance(region, list) and len(region) == 4):
                if clipped is None:
                    skipped += 1
                    continue
                region = list(clipped)
            labels.append(kitti.ObjectLabel("DontCare", -1.0, -1, -10.0, tuple(float(v) for v in region), (-1.0, -1.0, -1.0), (-1000.0, -1000.0, -1000.0), -10.0))  # type: ignore[arg-type]
            continue
        if center[2] <= 0.1 or clipped is None:
            skipped += 1
            continue
        length, width_m, height_m = cuboid.size
        rotation_y = float(wrap_angle(kitti.rotation_y_from_yaw(cuboid.yaw, camera_from_world)))
        location = center + np.array([0.0, height_m / 2.0, 0.0])
        alpha = float(wrap_angle(rotation_y - np.arctan2(location[0], location[2])))
        truncated, occluded = _truncation_and_occlusion(cuboid, index, boxes_2d, clipped_2d, centers)
        labels.append(
            kitti.ObjectLabel(
                type=_kitti_type(cuboid),
                truncated=truncated,
                occluded=occluded,
                alpha=alpha,
                box_2d=clipped,  # type: ignore[arg-type]
                dimensions=(float(height_m), float(width_m), float(length)),
                location=tuple(float(v) for v in location),  # type: ignore[arg-type]
                rotation_y=rotation_y,
                score=cuboid.score if cuboid.source == "auto" else None,
            )
        )
    return labels, skipped


def _box_2d(corners_camera: np.ndarray, intrinsics: np.ndarray, width: int, height: int) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """The 2D box of projected corners (unclipped) and clipped to the image; None when no
    corner is in front of the camera or the box misses the image."""
    in_front = corners_camera[corners_camera[:, 2] > 0.1]
    if not len(in_front):
        return None, None
    pixels = in_front @ intrinsics.T
    u, v = pixels[:, 0] / pixels[:, 2], pixels[:, 1] / pixels[:, 2]
    full = (float(u.min()), float(v.min()), float(u.max()), float(v.max()))
    clipped = (max(full[0], 0.0), max(full[1], 0.0), min(full[2], width - 1.0), min(full[3], height - 1.0))
    if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
        return full, None
    return full, clipped


def _truncation_and_occlusion(cuboid: Cuboid, index: int, boxes_2d: list, clipped_2d: list, centers: np.ndarray) -> tuple[float, int]:
    attributes = cuboid.attributes
    if "kitti_type" in attributes and "truncated" in attributes and "occluded" in attributes:
        return float(attributes["truncated"]), int(attributes["occluded"])
    full, clipped = boxes_2d[index], clipped_2d[index]
    full_area = max((full[2] - full[0]) * (full[3] - full[1]), 1e-9)
    clipped_area = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1])
    truncated = float(np.clip(1.0 - clipped_area / full_area, 0.0, 1.0))
    covered = 0.0
    depth = np.linalg.norm(centers[index])
    for other, other_box in enumerate(clipped_2d):
        if other == index or other_box is None or np.linalg.norm(centers[other]) >= depth or centers[other][2] <= 0.1:
            continue
        overlap_width = min(clipped[2], other_box[2]) - max(clipped[0], other_box[0])
        overlap_height = min(clipped[3], other_box[3]) - max(clipped[1], other_box[1])
        if overlap_width > 0 and overlap_height > 0:
            covered = max(covered, overlap_width * overlap_height / max(clipped_area, 1e-9))
    occluded = 0 if covered < 0.05 else 1 if covered < 0.5 else 2
    return truncated, occluded


def _kitti_type(cuboid: Cuboid) -> str:
    original = cuboid.attributes.get("kitti_type")
    if isinstance(original, str) and kitti.TYPE_TO_CLASS.get(original) == cuboid.label:
        return original
    return kitti.CLASS_TO_TYPE.get(cuboid.label, "Misc")
