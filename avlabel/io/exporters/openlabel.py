"""Export labels as one ASAM OpenLABEL 1.0.0 JSON file, and read such a file back.

    {"openlabel": {
       "metadata": {"schema_version": "1.0.0", "name", "annotator", "comment"},
       "coordinate_systems": {
           "world": {"type": "scene_cs", "parent": "", "children": ["ego"]},
           "ego":   {"type": "local_cs", "parent": "world", "children": [sensors]},
           "<sensor>": {"type": "sensor_cs", "parent": "ego", "children": [],
                        "pose_wrt_parent": {"matrix4x4": ego_from_sensor, row-major, 16}}},
       "streams": {"<sensor>": {"type": "lidar" | "radar" | "camera" | "gps_imu", "uri": "", "description",
                   cameras: "stream_properties": {"intrinsics_pinhole": {"camera_matrix_3x4": [K | 0] row-major 12,
                            "distortion_coeffs_1xN": OpenCV's order, "width_px", "height_px"}}}},
       "objects": {"<uid>": {"name": track id, "type": class, "frame_intervals": [...],
                             "object_data_pointers": {"box3d": {"type": "cuboid", "frame_intervals": [...]}}}},
       "frames": {"<index>": {
           "frame_properties": {"timestamp": seconds (log clock, float),
               "transforms": {"ego_to_world": {"src": "ego", "dst": "world",
                              "transform_src_to_dst": {"matrix4x4": world_from_ego at the frame time}}},
               "streams": {"<sensor>": {"stream_properties": {"sync": {"frame_stream": index of the
                           sensor's sample nearest the frame, "timestamp": its time, seconds}}}}},
           "objects": {"<uid>": {"object_data": {"cuboid": [{"name": "box3d", "coordinate_system": "world",
               "val": [x, y, z, qx, qy, qz, qw, sx, sy, sz], "attributes": {...}}]}}}}},
       "frame_intervals": [{"frame_start": 0, "frame_end": N - 1}]}}

The cuboid uses the standard's quaternion form: centre, rotation quaternion (x, y, z, w:
yaw about world z), and size along the box's own axes (sx = length, sy = width,
sz = height). Cuboid attributes go into typed lists: num (score, num_points, numeric
attributes), text (id, source, string attributes), boolean, vec (velocity [vx, vy] and
numeric lists); anything else is text holding its JSON, its name suffixed "@json". Ignore regions are objects of type
"ignore". Object uids are "0", "1", ... in order of first appearance of the track.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

import avlabel
from avlabel.geometry.transforms import matrix_from_quaternion, quaternion_from_matrix, rotation_about_z, yaw_of
from avlabel.io._poses import PoseTable
from avlabel.io.atomic import write_text
from avlabel.io.errors import InputError
from avlabel.io.exporters._common import ExportResult, check_frames, log_times, nearest_index
from avlabel.io.logstore import DriveLog
from avlabel.structs import Cuboid, LabelFrame, Labels

SCHEMA_VERSION = "1.0.0"
_STREAM_TYPES = {"lidar": "lidar", "radar": "radar", "camera": "camera", "gnss": "gps_imu", "imu": "gps_imu"}
_CORE_TEXT = ("id", "source")
_CORE_NUM = ("score", "num_points")
_JSON_SUFFIX = "@json"  # text attributes holding JSON (nested values)


def export_openlabel(labels: Labels, log: DriveLog, out_path: str | os.PathLike[str]) -> ExportResult:
    """Write `labels` over `log` as the OpenLABEL JSON file `out_path`."""
    out_path = Path(out_path)
    check_frames(labels, log, "OpenLABEL")
    poses = PoseTable(log.poses())
    sensors = sorted(log.calibrations)
    coordinate_systems: dict[str, Any] = {
        "world": {"type": "scene_cs", "parent": "", "children": ["ego"]},
        "ego": {"type": "local_cs", "parent": "world", "children": sensors},
    }
    streams: dict[str, Any] = {}
    for sensor in sensors:
        calibration = log.calibrations[sensor]
        coordinate_systems[sensor] = {
            "type": "sensor_cs", "parent": "ego", "children": [], "pose_wrt_parent": {"matrix4x4": _flat(calibration.ego_from_sensor)},
        }
        stream: dict[str, Any] = {"type": _STREAM_TYPES[calibration.kind], "uri": "", "description": f"avlabel {calibration.kind} {sensor}"}
        if calibration.kind == "camera":
            width, height = calibration.image_size
            stream["description"] += f", lens model {calibration.distortion_model}"
            stream["stream_properties"] = {"intrinsics_pinhole": {
                "camera_matrix_3x4": _flat(np.column_stack([calibration.intrinsics, np.zeros(3)])),
                "distortion_coeffs_1xN": [float(v) for v in calibration.distortion],
                "width_px": int(width), "height_px": int(height),
            }}
        streams[sensor] = stream
    stream_times = {sensor: log_times(log, sensor) for kind in ("lidar", "radar", "camera") for sensor in log.sensors(kind)}

    uids: dict[str, str] = {}
    appearances: dict[str, list[int]] = {}
    frames: dict[str, Any] = {}
    written = 0
    for index, frame in enumerate(labels.frames):
        objects = {}
        for cuboid in frame.cuboids:
            uid = uids.setdefault(cuboid.track_id, str(len(uids)))
            appearances.setdefault(uid, []).append(index)
            objects[uid] = {"object_data": {"cuboid": [_cuboid_data(cuboid)]}}
            written += 1
        sync = {
            sensor: {"stream_properties": {"sync": {"frame_stream": position, "timestamp": int(stamps[position]) / 1e6}}}
            for sensor, stamps in stream_times.items()
            for position in [nearest_index(stamps, frame.timestamp_us)]
        }
        frames[str(index)] = {
            "frame_properties": {
                "timestamp": frame.timestamp_us / 1e6,
                "transforms": {"ego_to_world": {"src": "ego", "dst": "world", "transform_src_to_dst": {"matrix4x4": _flat(poses.at(frame.timestamp_us))}}},
                "streams": sync,
            },
            "objects": objects,
        }
    labels_by_uid = {uid: _majority([c.label for f in labels.frames for c in f.cuboids if uids[c.track_id] == uid]) for uid in appearances}
    objects_table = {
        uid: {
            "name": track_id, "type": labels_by_uid[uid], "frame_intervals": _intervals(appearances[uid]),
            "object_data_pointers": {"box3d": {"type": "cuboid", "frame_intervals": _intervals(appearances[uid])}},
        }
        for track_id, uid in uids.items()
    }
    document = {"openlabel": {
        "metadata": {
            "schema_version": SCHEMA_VERSION, "name": log.name, "annotator": f"avlabel {avlabel.__version__}",
            "comment": "cuboids in the world frame (local ENU); frame timestamps in seconds on the log clock",
        },
        "coordinate_systems": coordinate_systems,
        "streams": streams,
        "objects": objects_table,
        "frames": frames,
        "frame_intervals": [{"frame_start": 0, "frame_end": len(labels) - 1}],
    }}
    write_text(out_path, json.dumps(document, indent=1))
    return ExportResult(out_path, len(labels), written, 0)


def read_openlabel(path: str | os.PathLike[str]) -> Labels:
    """Labels (world frame) from an OpenLABEL file whose cuboids use coordinate system "world"
    (as `export_openlabel` writes them): the quaternion form, or the 9-value Euler form
    [x, y, z, rx, ry, rz, sx, sy, sz] of which only rz (yaw) is kept."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        root = document["openlabel"]
        objects, frames = root.get("objects", {}), root.get("frames", {})
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not readable OpenLABEL JSON ({error})") from None
    except (KeyError, TypeError, AttributeError):
        raise InputError(f"{path}: openlabel: missing top-level object (expected {{\"openlabel\": {{...}}}})") from None
    label_frames = []
    for key in sorted(frames, key=int):
        frame = frames[key]
        where = f"frames.{key}"
        try:
            stamp = int(round(float(frame["frame_properties"]["timestamp"]) * 1e6))
            cuboids = []
            for uid, entry in frame.get("objects", {}).items():
                for data in entry.get("object_data", {}).get("cuboid", []):
                    if data.get("coordinate_system", "world") != "world":
                        raise InputError(f"{path}: {where}.objects.{uid}: cuboid in {data['coordinate_system']!r}, only 'world' is read")
                    cuboids.append(_cuboid_from_data(data, objects.get(uid, {}), uid))
            label_frames.append(LabelFrame(stamp, tuple(cuboids)))
        except InputError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(f"{path}: {where}: {type(error).__name__}: {error}") from None
    return Labels(tuple(label_frames), {"source": str(path), "name": root.get("metadata", {}).get("name", "")})


# --------------------------------------------------------------------------- cuboids


def _cuboid_data(cuboid: Cuboid) -> dict[str, Any]:
    qw, qx, qy, qz = quaternion_from_matrix(rotation_about_z(cuboid.yaw))
    attributes: dict[str, list[dict[str, Any]]] = {"text": [], "num": [], "boolean": [], "vec": []}
    attributes["text"] += [{"name": "id", "val": cuboid.id}, {"name": "source", "val": cuboid.source}]
    attributes["num"] += [{"name": "score", "val": cuboid.score}, {"name": "num_points", "val": cuboid.num_points}]
    if cuboid.velocity is not None:
        attributes["vec"].append({"name": "velocity", "val": [float(v) for v in cuboid.velocity]})
    for name, value in cuboid.attributes.items():
        if isinstance(value, bool):
            attributes["boolean"].append({"name": name, "val": value})
        elif isinstance(value, (int, float)) and math.isfinite(value):
            attributes["num"].append({"name": name, "val": value})
        elif isinstance(value, str):
            attributes["text"].append({"name": name, "val": value})
        elif isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            attributes["vec"].append({"name": name, "val": list(value)})
        else:
            attributes["text"].append({"name": name + _JSON_SUFFIX, "val": json.dumps(value)})
    return {
        "name": "box3d", "coordinate_system": "world",
        "val": [*map(float, cuboid.center), float(qx), float(qy), float(qz), float(qw), *map(float, cuboid.size)],
        "attributes": {kind: entries for kind, entries in attributes.items() if entries},
    }


def _cuboid_from_data(data: dict[str, Any], object_record: dict[str, Any], uid: str) -> Cuboid:
    values = [float(v) for v in data["val"]]
    if len(values) == 10:
        qx, qy, qz, qw = values[3:7]
        yaw = float(yaw_of(matrix_from_quaternion([qw, qx, qy, qz])))
        size = values[7:10]
    elif len(values) == 9:
        yaw, size = values[5], values[6:9]
    else:
        raise ValueError(f"cuboid val: expected 10 values (x y z qx qy qz qw sx sy sz) or 9 (Euler form), got {len(values)}")
    fields: dict[str, Any] = {"id": f"{uid}", "source": "auto", "score": 1.0, "num_points": 0}
    attributes: dict[str, Any] = {}
    velocity = None
    for kind, entries in data.get("attributes", {}).items():
        for entry in entries:
            name, value = entry["name"], entry["val"]
            if kind == "text" and name.endswith(_JSON_SUFFIX):
                name, value = name[: -len(_JSON_SUFFIX)], json.loads(value)
            if name in _CORE_TEXT and kind == "text":
                fields[name] = value
            elif name in _CORE_NUM and kind == "num":
                fields[name] = int(value) if name == "num_points" else float(value)
            elif name == "velocity" and kind == "vec":
                velocity = np.array(value, dtype=np.float64)
            else:
                attributes[name] = value
    return Cuboid(
        center=np.array(values[:3]), size=np.array(size), yaw=yaw, track_id=str(object_record.get("name", uid)),
        label=str(object_record.get("type", "other")), velocity=velocity, attributes=attributes, **fields,
    )


# --------------------------------------------------------------------------- helpers


def _flat(matrix: np.ndarray) -> list[float]:
    return [float(value) for value in np.asarray(matrix, dtype=np.float64).ravel()]


def _intervals(indices: list[int]) -> list[dict[str, int]]:
    """Runs of consecutive frame indices as OpenLABEL frame intervals."""
    intervals: list[dict[str, int]] = []
    for index in sorted(set(indices)):
        if intervals and intervals[-1]["frame_end"] == index - 1:
            intervals[-1]["frame_end"] = index
        else:
            intervals.append({"frame_start": index, "frame_end": index})
    return intervals


def _majority(values: list[str]) -> str:
    return max(sorted(set(values)), key=values.count)
