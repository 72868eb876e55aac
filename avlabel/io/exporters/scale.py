"""Export labels as Scale AI sensor-fusion frames and cuboid annotations.

Written under `out_dir`:

    frames/<frame>.json        one Scale LiDAR frame per label frame (the attachments)
    images/<camera>/<frame>.<jpg|png>   the camera images the frames point to
    annotations.json           per frame {"cuboids": [...]}, in Scale's response form
    task.json                  {"attachment_type": "json", "attachments": [...], "labels": [...]}

Frames (Scale's "Data Types and the Frame Objects"): everything in avlabel's world frame
(z up, as Scale requires). `points`: the frame's sweep of the main LiDAR, every point moved to
the world with the pose at its own measurement time (so no de-skew is needed), with
i = intensity (divided by 255 when the sweep's intensities exceed 1: Scale wants [0, 1]),
t = its time in nanoseconds (log clock) and d = 0. `device_position` / `device_heading`:
the LiDAR's pose in the world at the frame time, heading as a quaternion {x, y, z, w}.
`images`: per camera the image nearest the frame time, with `position` / `heading` the
camera's world pose at its capture time (camera frame OpenCV's: z the optical axis, x right,
y down), fx, fy, cx, cy, skew from K, and the lens: camera_model "brown_conrady" with
k1, k2, p1, p2, k3 or "fisheye" with k1..k4 (zeros for a distortion-free camera); the
images are the stored bytes, not undistorted. `image_url` is the image's path relative to
`out_dir`: rewrite it to wherever the files are hosted. Timestamps are nanoseconds.

Cuboids follow Scale's convention, which differs from avlabel's in two ways (Scale's LiDAR
callback format: "0 yaw is along the vector <0, 1, 0> and rotates counter-clockwise", and
its `dimensions.y` runs along the heading): scale_yaw = avlabel_yaw - pi/2, wrapped to
[-pi, pi); dimensions = {x: width, y: length, z: height}. position = the centre (world),
uuid = the track id (Scale keeps a uuid across frames for one object), label = the class,
numberOfPoints, stationary (speed below 0.5 m/s, when the velocity is known), attributes
(string values of the cuboid's scalar attributes, plus score and source). Ignore regions
are not written (Scale has no don't-care cuboid).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from avlabel.geometry.transforms import quaternion_from_matrix
from avlabel.io._poses import PoseTable, points_in_world
from avlabel.io.atomic import atomic_path, write_text
from avlabel.io.exporters._common import ExportResult, check_frames, frame_names, is_ignore, log_times, nearest_index
from avlabel.io.logstore import DriveLog
from avlabel.structs import Cuboid, Labels, wrap_angle

STATIONARY_SPEED_M_S = 0.5


def scale_yaw(avlabel_yaw: float) -> float:
    """avlabel yaw (0 along +x, CCW) -> Scale yaw (0 along +y, CCW): subtract a quarter turn."""
    return float(wrap_angle(avlabel_yaw - math.pi / 2))


def avlabel_yaw(scale_yaw_radians: float) -> float:
    """The inverse of `scale_yaw`."""
    return float(wrap_angle(scale_yaw_radians + math.pi / 2))


def export_scale(labels: Labels, log: DriveLog, out_dir: str | os.PathLike[str]) -> ExportResult:
    """Write `labels` over `log` as Scale sensor-fusion frames and annotations in `out_dir`."""
    out_dir = Path(out_dir)
    lidar, _, sweep_indices = check_frames(labels, log, "Scale")
    lidar_calibration = log.calibrations[lidar]
    poses = PoseTable(log.poses())
    cameras = {camera: log_times(log, camera) for camera in log.sensors("camera")}
    names = frame_names(labels, "kitti_frame")
    attachments, annotations = [], []
    written = skipped = 0
    for frame, name, sweep_index in zip(labels.frames, names, sweep_indices):
        sweep = log.sweep(int(sweep_index), lidar)
        point_times = lidar_calibration.to_log_time(sweep.point_times_us())
        world = points_in_world(sweep.points, int(lidar_calibration.to_log_time(sweep.timestamp_us)), poses, lidar_calibration.ego_from_sensor)
        intensity = sweep.points[:, 3].astype(np.float64)
        if len(intensity) and intensity.max() > 1.0:
            intensity = intensity / 255.0
        intensity = np.clip(intensity, 0.0, 1.0)
        world_from_lidar = poses.at(frame.timestamp_us) @ lidar_calibration.ego_from_sensor
        images = [_image(log, camera, stamps, frame.timestamp_us, name, poses, out_dir) for camera, stamps in cameras.items()]
        document = {
            "timestamp": int(frame.timestamp_us) * 1000,
            "device_position": _vector(world_from_lidar[:3, 3]),
            "device_heading": _quaternion(world_from_lidar),
            "points": [
                {"x": round(float(x), 4), "y": round(float(y), 4), "z": round(float(z), 4), "i": round(float(i), 4), "t": int(t) * 1000, "d": 0}
                for (x, y, z), i, t in zip(world, intensity, point_times)
            ],
            "images": images,
        }
        attachment = f"frames/{name}.json"
        write_text(out_dir / attachment, json.dumps(document, separators=(",", ":")))
        attachments.append(attachment)
        cuboids = []
        for cuboid in frame.cuboids:
            if is_ignore(cuboid):
                skipped += 1
                continue
            cuboids.append(_cuboid(cuboid))
        written += len(cuboids)
        annotations.append({"cuboids": cuboids})
    write_text(out_dir / "annotations.json", json.dumps(annotations, indent=1))
    classes = sorted({cuboid.label for frame in labels.frames for cuboid in frame.cuboids if not is_ignore(cuboid)})
    write_text(out_dir / "task.json", json.dumps({"attachment_type": "json", "attachments": attachments, "labels": classes}, indent=1))
    return ExportResult(out_dir, len(labels), written, skipped, ("image_url values are relative to the output folder",))


def _image(log: DriveLog, camera: str, stamps: np.ndarray, frame_time: int, name: str, poses: PoseTable, out_dir: Path) -> dict[str, Any]:
    calibration = log.calibrations[camera]
    index = nearest_index(stamps, frame_time)
    data, encoding = log.encoded_image(index, camera)
    url = f"images/{camera}/{name}.{'jpg' if encoding == 'jpeg' else 'png'}"
    with atomic_path(out_dir / url) as temporary:
        temporary.write_bytes(data)
    capture_time = int(stamps[index])
    world_from_camera = poses.at(capture_time) @ calibration.ego_from_sensor
    intrinsics = calibration.intrinsics
    record: dict[str, Any] = {
        "image_url": url,
        "timestamp": capture_time * 1000,
        "position": _vector(world_from_camera[:3, 3]),
        "heading": _quaternion(world_from_camera),
        "fx": float(intrinsics[0, 0]), "fy": float(intrinsics[1, 1]), "cx": float(intrinsics[0, 2]), "cy": float(intrinsics[1, 2]),
        "skew": float(intrinsics[0, 1]), "scale_factor": 1,
    }
    if calibration.distortion_model == "fisheye":
        record["camera_model"] = "fisheye"
        record.update(zip(("k1", "k2", "k3", "k4"), (float(v) for v in calibration.distortion)))
    else:
        coefficients = calibration.distortion if calibration.distortion_model == "brown_conrady" else np.zeros(5)
        record["camera_model"] = "brown_conrady"
        record.update(zip(("k1", "k2", "p1", "p2", "k3"), (float(v) for v in coefficients)))
    return record


def _cuboid(cuboid: Cuboid) -> dict[str, Any]:
    length, width, height = cuboid.size
    attributes = {key: str(value) for key, value in cuboid.attributes.items() if isinstance(value, (str, int, float, bool))}
    attributes.update(score=str(cuboid.score), source=cuboid.source)
    record: dict[str, Any] = {
        "uuid": cuboid.track_id,
        "label": cuboid.label,
        "position": _vector(cuboid.center),
        "dimensions": {"x": float(width), "y": float(length), "z": float(height)},
        "yaw": scale_yaw(cuboid.yaw),
        "numberOfPoints": int(cuboid.num_points),
        "attributes": attributes,
    }
    if cuboid.velocity is not None:
        record["stationary"] = bool(np.linalg.norm(cuboid.velocity) < STATIONARY_SPEED_M_S)
    return record


def _vector(values: np.ndarray) -> dict[str, float]:
    return {"x": float(values[0]), "y": float(values[1]), "z": float(values[2])}


def _quaternion(transform: np.ndarray) -> dict[str, float]:
    w, x, y, z = quaternion_from_matrix(transform)
    return {"x": float(x), "y": float(y), "z": float(z), "w": float(w)}
