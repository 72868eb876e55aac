"""Export labels as a nuScenes dataroot (one log, one scene) plus a detection results JSON.

Layout written under `out_dir`:

    <version>/{log,scene,sample,sample_data,ego_pose,calibrated_sensor,sensor,
               sample_annotation,instance,category,attribute,visibility,map}.json
    samples/<CHANNEL>/...   key frames         sweeps/<CHANNEL>/...   the other frames
    maps/<token>.png        a blank semantic-prior mask (the devkit requires a map file)
    results.json            the labels in the detection submission format

Mapping (avlabel -> nuScenes):

- scene: the log (name = log name); samples: the label frames (one per frame, at the frame
  time); the global frame is avlabel's world frame, unchanged.
- channels: the main LiDAR is LIDAR_TOP (the devkit's evaluation looks it up by that
  name); every other sensor keeps its avlabel name. Each sensor is one calibrated_sensor.
- sample_data: every LiDAR sweep (.pcd.bin rows x, y, z, intensity, ring, de-skewed to the
  sweep time with the log's poses: nuScenes has no per-point time), every radar scan (binary
  PCD, below) and every camera image (JPEG; the stored bytes when they are JPEG from a
  distortion-free camera, else re-encoded at quality 95, resampled distortion-free first
  when the camera has a lens model, as nuScenes' images are). Timestamps are on the log
  clock; each has its own ego_pose, interpolated from the log's poses. Per channel, the
  sample_data nearest a sample is its key frame (at most one per sample); every
  sample_data points to its nearest sample.
- radar: x, y, z and rcs as stored; vx, vy = the horizontal velocity along the bearing that
  has the stored Doppler (`avlabel.io.formats.nuscenes.velocity_components`; a radar that
  measures only radial velocity knows no more; `radial_velocity` inverts it); vx_comp,
  vy_comp the same after adding the sensor's own velocity along the line of sight (from
  the poses, rotation ignored); dyn_prop 0 (moving) when |compensated radial| > 0.5 m/s else 1
  (stationary); invalid_state 0, ambig_state 3, so the devkit's default filters keep all.
- annotations: one sample_annotation per cuboid (translation = centre, size = (w, l, h),
  rotation = yaw about z), one instance per track, category from the cuboid's
  `nuscenes_category` when it fits its class, else vehicle.car / vehicle.truck /
  human.pedestrian.adult / vehicle.bicycle / movable_object.debris; at most one attribute
  (the cuboid's own `nuscenes_attributes` when valid, else from its speed); visibility
  from `visibility` else "4". Ignore regions have no nuScenes form and are skipped.
- results.json: meta + results keyed by every sample token (empty lists allowed):
  translation, size (w, l, h), rotation (w, x, y, z), velocity (vx, vy; 0, 0 when unknown),
  detection_name (cuboids whose category has no detection class are left out),
  detection_score = cuboid score, attribute_name.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from avlabel.geometry.transforms import invert_rigid, quaternion_from_matrix, rotation_about_z
from avlabel.io._poses import PoseTable, points_at_time
from avlabel.io.atomic import atomic_path, write_text
from avlabel.io.exporters._common import ExportResult, check_frames, encode_image, exported_image, is_ignore, log_times
from avlabel.io.formats import nuscenes as formats
from avlabel.io.logstore import DriveLog
from avlabel.structs import Cuboid, Labels

logger = logging.getLogger(__name__)

MAIN_LIDAR_CHANNEL = "LIDAR_TOP"
DEFAULT_VERSION = "v1.0-mini"
_MODALITY = {"lidar": "lidar", "radar": "radar", "camera": "camera"}


def export_nuscenes(labels: Labels, log: DriveLog, out_dir: str | os.PathLike[str], *, version: str = DEFAULT_VERSION) -> ExportResult:
    """Write `labels` over `log` as the nuScenes dataroot `out_dir` (tables under
    `out_dir/version`) and `out_dir/results.json`. Loads with
    `NuScenes(version=version, dataroot=out_dir)`."""
    out_dir = Path(out_dir)
    lidar, _, _ = check_frames(labels, log, "nuScenes")
    scene_name = log.name
    poses = PoseTable(log.poses())
    channels = {sensor: (MAIN_LIDAR_CHANNEL if sensor == lidar else sensor) for kind in _MODALITY for sensor in log.sensors(kind)}
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in (
        "log", "scene", "sample", "sample_data", "ego_pose", "calibrated_sensor", "sensor",
        "sample_annotation", "instance", "category", "attribute", "visibility", "map",
    )}

    # Log, map, scene and samples.
    log_token = formats.token(scene_name, "log")
    map_token = formats.token(scene_name, "map")
    first_time = int(labels.timestamps_us[0])
    date = datetime.fromtimestamp(first_time / 1e6, tz=timezone.utc).strftime("%Y-%m-%d") if first_time > 946_684_800_000_000 else "1970-01-01"
    tables["log"].append({"token": log_token, "logfile": scene_name, "vehicle": "avlabel", "date_captured": date, "location": "avlabel"})
    map_file = f"maps/{map_token}.png"
    _write_blank_map(out_dir / map_file)
    tables["map"].append({"token": map_token, "log_tokens": [log_token], "category": "semantic_prior", "filename": map_file})
    sample_times = labels.timestamps_us
    sample_tokens = [formats.token(scene_name, "sample", index) for index in range(len(labels))]
    for index, (sample_token, stamp) in enumerate(zip(sample_tokens, sample_times)):
        tables["sample"].append({
            "token": sample_token, "timestamp": int(stamp), "scene_token": formats.token(scene_name, "scene"),
            "prev": sample_tokens[index - 1] if index else "", "next": sample_tokens[index + 1] if index + 1 < len(sample_tokens) else "",
        })
    tables["scene"].append({
        "token": formats.token(scene_name, "scene"), "log_token": log_token, "nbr_samples": len(sample_tokens),
        "first_sample_token": sample_tokens[0], "last_sample_token": sample_tokens[-1], "name": scene_name,
        "description": f"exported by avlabel from {log.path.name}" + (f": {log.description}" if log.description else ""),
    })

    # Sensors and their data.
    for sensor, channel in channels.items():
        calibration = log.calibrations[sensor]
        sensor_token = formats.token(scene_name, "sensor", channel)
        calibrated_token = formats.token(scene_name, "calibrated_sensor", channel)
        tables["sensor"].append({"token": sensor_token, "channel": channel, "modality": _MODALITY[calibration.kind]})
        tables["calibrated_sensor"].append({
            "token": calibrated_token, "sensor_token": sensor_token,
            "translation": calibration.ego_from_sensor[:3, 3].tolist(),
            "rotation": quaternion_from_matrix(calibration.ego_from_sensor).tolist(),
            "camera_intrinsic": calibration.intrinsics.tolist() if calibration.kind == "camera" else [],
        })
        records = _sensor_data(log, sensor, channel, scene_name, poses, sample_times, sample_tokens, calibrated_token, out_dir, tables["ego_pose"])
        tables["sample_data"].extend(records)

    # Annotations.
    written, skipped = _annotations(labels, scene_name, sample_tokens, tables)
    _vocabulary(tables)

    for name, rows in tables.items():
        write_text(out_dir / version / f"{name}.json", json.dumps(rows, indent=1))
    results_skipped = _write_results(labels, sample_tokens, out_dir / "results.json")
    notes = (f"main LiDAR {lidar} is channel {MAIN_LIDAR_CHANNEL}", f"results.json leaves out {results_skipped} cuboid(s) with no detection class")
    return ExportResult(out_dir, len(labels), written, skipped, notes)


# --------------------------------------------------------------------------- sensor data


def _sensor_data(
    log: DriveLog, sensor: str, channel: str, scene_name: str, poses: PoseTable, sample_times: np.ndarray,
    sample_tokens: list[str], calibrated_token: str, out_dir: Path, ego_poses: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    calibration = log.calibrations[sensor]
    times = log_times(log, sensor)
    if not len(times):
        return []
    # Nearest sample of every sample_data; per sample, the nearest sample_data is its key frame.
    nearest_sample = np.abs(times[:, None] - sample_times[None, :]).argmin(axis=1)
    key_frames = {int(np.abs(times - stamp).argmin()) for stamp in sample_times}
    key_frames = {index for index in key_frames if int(np.abs(times[index] - sample_times).argmin()) == nearest_sample[index]}
    tokens = [formats.token(scene_name, "sample_data", channel, index) for index in range(len(times))]
    extension = {"lidar": "pcd.bin", "radar": "pcd", "camera": "jpg"}[calibration.kind]
    records = []
    for index, stamp in enumerate(times):
        stamp = int(stamp)
        key = index in key_frames
        filename = f"{'samples' if key else 'sweeps'}/{channel}/{scene_name}__{channel}__{stamp}.{extension}"
        path = out_dir / filename
        height = width = 0
        if calibration.kind == "lidar":
            sweep = log.sweep(index, sensor)
            xyz = points_at_time(sweep.points, stamp, stamp, poses, calibration.ego_from_sensor)
            formats.write_lidar_bin(path, np.column_stack([xyz, sweep.points[:, 3], sweep.points[:, 5]]))
        elif calibration.kind == "radar":
            formats.write_radar_pcd(path, _radar_rows(log.radar_scan(index, sensor).detections, calibration.ego_from_sensor, poses, stamp))
        else:
            width, height = calibration.image_size
            with atomic_path(path) as temporary:
                temporary.write_bytes(exported_image(log, sensor, index, "jpeg"))
        ego_token = formats.token(scene_name, "ego_pose", channel, index)
        world_from_ego = poses.at(stamp)
        ego_poses.append({
            "token": ego_token, "timestamp": stamp, "translation": world_from_ego[:3, 3].tolist(),
            "rotation": quaternion_from_matrix(world_from_ego).tolist(),
        })
        records.append({
            "token": tokens[index], "sample_token": sample_tokens[int(nearest_sample[index])], "ego_pose_token": ego_token,
            "calibrated_sensor_token": calibrated_token, "timestamp": stamp, "fileformat": extension.split(".")[0],
            "is_key_frame": key, "height": int(height), "width": int(width), "filename": filename,
            "prev": tokens[index - 1] if index else "", "next": tokens[index + 1] if index + 1 < len(times) else "",
        })
    return records


def _radar_rows(detections: np.ndarray, ego_from_sensor: np.ndarray, poses: PoseTable, stamp: int) -> np.ndarray:
    rows = np.zeros(len(detections), dtype=formats.RADAR_DTYPE)
    positions = detections[:, :3].astype(np.float64)
    radial = detections[:, 3].astype(np.float64)
    world_from_sensor = poses.at(stamp) @ ego_from_sensor
    sensor_velocity = invert_rigid(world_from_sensor)[:3, :3] @ poses.velocity(stamp)
    distance = np.linalg.norm(positions, axis=1)
    line_of_sight = np.divide(positions, distance[:, None], out=np.zeros_like(positions), where=distance[:, None] > 1e-12)
    # A static target seen from a sensor moving with v has radial velocity -v . u.
    compensated = radial + line_of_sight @ sensor_velocity
    rows["x"], rows["y"], rows["z"] = positions.T
    rows["rcs"] = detections[:, 4]
    rows["vx"], rows["vy"] = formats.velocity_components(positions, radial).T
    rows["vx_comp"], rows["vy_comp"] = formats.velocity_components(positions, compensated).T
    rows["id"] = np.arange(len(detections))
    rows["dyn_prop"] = np.where(np.abs(compensated) > formats.MOVING_SPEED_M_S, 0, 1)
    rows["is_quality_valid"] = 1
    rows["ambig_state"] = 3
    rows["pdh0"] = 1
    return rows


def _write_blank_map(path: Path) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(encode_image(np.zeros((16, 16, 3), np.uint8), "png"))


# --------------------------------------------------------------------------- annotations


def _category(cuboid: Cuboid) -> str:
    original = cuboid.attributes.get("nuscenes_category")
    if isinstance(original, str) and formats.CATEGORY_TO_CLASS.get(original) == cuboid.label:
        return original
    return formats.CLASS_TO_CATEGORY.get(cuboid.label, "movable_object.debris")


def _attribute(cuboid: Cuboid, category: str) -> str:
    """At most one attribute: the cuboid's own when it suits the class, else from its speed."""
    detection = formats.CATEGORY_TO_DETECTION.get(category)
    moving, still = formats.DETECTION_ATTRIBUTES.get(detection or "", ("", ""))
    allowed = {moving, still} - {""}
    if detection in ("car", "truck", "bus", "trailer", "construction_vehicle"):
        allowed |= {"vehicle.parked", "vehicle.stopped"}
    if detection == "pedestrian":
        allowed |= {"pedestrian.sitting_lying_down"}
    own = cuboid.attributes.get("nuscenes_attributes")
    if isinstance(own, list):
        for name in own:
            if name in allowed:
                return name
    if not allowed:
        return ""
    if detection in ("bicycle", "motorcycle"):
        return "cycle.with_rider"
    speed = float(np.linalg.norm(cuboid.velocity)) if cuboid.velocity is not None else 0.0
    return moving if speed > formats.MOVING_SPEED_M_S else still


def _annotations(labels: Labels, scene_name: str, sample_tokens: list[str], tables: dict[str, list[dict[str, Any]]]) -> tuple[int, int]:
    by_track: dict[str, list[tuple[int, Cuboid]]] = defaultdict(list)
    skipped = 0
    for index, frame in enumerate(labels.frames):
        for cuboid in frame.cuboids:
            if is_ignore(cuboid):
                skipped += 1
                continue
            by_track[cuboid.track_id].append((index, cuboid))
    written = 0
    for track_id, entries in by_track.items():
        instance_token = formats.token(scene_name, "instance", track_id)
        tokens = [formats.token(scene_name, "sample_annotation", index, cuboid.id) for index, cuboid in entries]
        categories = [_category(cuboid) for _, cuboid in entries]
        category = max(set(categories), key=categories.count)
        tables["instance"].append({
            "token": instance_token, "category_token": formats.token("category", category), "nbr_annotations": len(entries),
            "first_annotation_token": tokens[0], "last_annotation_token": tokens[-1],
        })
        for position, ((index, cuboid), annotation_token) in enumerate(zip(entries, tokens)):
            attribute = _attribute(cuboid, category)
            visibility = str(cuboid.attributes.get("visibility", "4"))
            length, width, height = cuboid.size
            tables["sample_annotation"].append({
                "token": annotation_token, "sample_token": sample_tokens[index], "instance_token": instance_token,
                "visibility_token": visibility if visibility in formats.VISIBILITY_LEVELS else "4",
                "attribute_tokens": [formats.token("attribute", attribute)] if attribute else [],
                "translation": cuboid.center.tolist(), "size": [float(width), float(length), float(height)],
                "rotation": quaternion_from_matrix(rotation_about_z(cuboid.yaw)).tolist(),
                "prev": tokens[position - 1] if position else "", "next": tokens[position + 1] if position + 1 < len(tokens) else "",
                "num_lidar_pts": int(cuboid.num_points), "num_radar_pts": int(cuboid.attributes.get("num_radar_pts", 0)),
            })
            written += 1
    return written, skipped


def _vocabulary(tables: dict[str, list[dict[str, Any]]]) -> None:
    """Every category, attribute and visibility level, so any annotation's tokens resolve."""
    tables["category"].extend(
        {"token": formats.token("category", name), "name": name, "description": f"avlabel class {formats.CATEGORY_TO_CLASS[name]}"}
        for name in formats.CATEGORY_TO_CLASS
    )
    tables["attribute"].extend({"token": formats.token("attribute", name), "name": name, "description": ""} for name in formats.ATTRIBUTES)
    tables["visibility"].extend(
        {"token": token, "level": level, "description": f"visibility of the instance in the 6 images: {level[1:]} %"}
        for token, level in formats.VISIBILITY_LEVELS.items()
    )


# --------------------------------------------------------------------------- results


def _write_results(labels: Labels, sample_tokens: list[str], path: Path) -> int:
    results: dict[str, list[dict[str, Any]]] = {}
    skipped = 0
    for sample_token, frame in zip(sample_tokens, labels.frames):
        boxes = []
        for cuboid in frame.cuboids:
            category = _category(cuboid)
            detection = formats.CATEGORY_TO_DETECTION.get(category)
            if is_ignore(cuboid) or detection is None:
                skipped += 1
                continue
            length, width, height = cuboid.size
            velocity = cuboid.velocity if cuboid.velocity is not None else np.zeros(2)
            boxes.append({
                "sample_token": sample_token, "translation": cuboid.center.tolist(), "size": [float(width), float(length), float(height)],
                "rotation": quaternion_from_matrix(rotation_about_z(cuboid.yaw)).tolist(), "velocity": [float(v) for v in velocity],
                "detection_name": detection, "detection_score": float(cuboid.score), "attribute_name": _attribute(cuboid, category),
            })
        results[sample_token] = boxes
    meta = {"use_camera": False, "use_lidar": True, "use_radar": False, "use_map": False, "use_external": False}
    write_text(path, json.dumps({"meta": meta, "results": results}))
    return skipped
