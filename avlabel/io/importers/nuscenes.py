"""Import one nuScenes scene into a drive log, through nuscenes-devkit.

- world frame: nuScenes has no GNSS, so avlabel's world is the nuScenes global frame
  *translated* so that the scene's first ego pose (the earliest sample_data's) is the
  origin; the axes are kept (z up, x/y the map's). `origin_lat_lon_alt` is left unset.
- sensors: every channel with data in the scene keeps its channel name (LIDAR_TOP,
  RADAR_FRONT, CAM_FRONT, ...); calibrations from calibrated_sensor (translation plus
  quaternion w, x, y, z = ego_from_sensor); cameras are distortion-free pinholes with
  `camera_intrinsic`. Clocks are one (clock offsets 0).
- LiDAR: every sweep, key frame or not. .pcd.bin rows x, y, z, intensity, ring are kept;
  t_offset is 0: nuScenes gives no per-point time, and its sweeps are already ego-motion
  compensated to the sweep timestamp (as its paper states), which t_offset 0 says.
- radar: every scan, every detection (the devkit's default filters are switched off for the
  read: `RadarPointCloud.from_file` with every state allowed). radial_velocity is the
  component along the line of sight of the *raw* vx, vy, which are relative to the sensor
  as avlabel's radial_velocity is (vx_comp, vy_comp are ego-motion compensated and not
  used): r = (x vx + y vy) / |p|, see `avlabel.io.formats.nuscenes.radial_velocity`.
  rcs as stored.
- cameras: the original JPEG bytes.
- poses: every ego_pose the scene's sample_data refer to, one per distinct timestamp.
- truth: one frame per sample (key frame), at the sample's timestamp (= the LIDAR_TOP key
  frame's). Each sample_annotation is a cuboid: centre = translation - origin, size from
  (w, l, h) to (l, w, h), yaw = heading of the rotation's x axis, velocity from the
  devkit's `box_velocity` (centre differences with the neighbouring annotations; unknown
  for a lone annotation), track id = instance token, id = annotation token, class from
  `avlabel.io.formats.nuscenes.CATEGORY_TO_CLASS`, num_points = num_lidar_pts; attributes
  nuscenes_category, nuscenes_attributes (names), visibility (token), num_radar_pts.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from avlabel.geometry.transforms import transform_from_quaternion, yaw_of
from avlabel.io.errors import InputError
from avlabel.io.formats import nuscenes as formats
from avlabel.io.importers._common import image_encoding, lidar_points, progress_bar
from avlabel.io.logstore import DriveLogWriter
from avlabel.structs import Calibration, Cuboid, LabelFrame, Labels, LidarSweep, PoseSeries, RadarScan

logger = logging.getLogger(__name__)

_KINDS = {"lidar": "lidar", "radar": "radar", "camera": "camera"}


def import_nuscenes(
    dataroot: str | os.PathLike[str], out_h5: str | os.PathLike[str], *, version: str = "v1.0-mini", scene: str, progress: bool = False
) -> Path:
    """Write the nuScenes scene named `scene` (e.g. "scene-0061") of `dataroot`/`version` as the
    drive log `out_h5`; returns its path."""
    dataroot, out_h5 = Path(dataroot), Path(out_h5)
    nusc = _load(dataroot, version)
    scene_record = _scene(nusc, dataroot, version, scene)
    samples = _samples(nusc, scene_record)
    sample_tokens = {sample["token"] for sample in samples}
    by_channel: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in nusc.sample_data:
        if record["sample_token"] in sample_tokens:
            by_channel[record["channel"]].append(record)
    for records in by_channel.values():
        records.sort(key=lambda record: record["timestamp"])
    calibrations = {channel: _calibration(nusc, channel, records) for channel, records in sorted(by_channel.items())}
    poses, origin = _poses(nusc, by_channel)
    total = sum(len(records) for records in by_channel.values())
    description = (
        f"nuScenes {version} {scene} from {dataroot}; world = nuScenes global frame shifted by "
        f"-{np.round(origin, 3).tolist()} m so that the first ego pose is the origin"
    )
    with DriveLogWriter(out_h5, name=scene, description=description) as log:
        for calibration in calibrations.values():
            log.add_calibration(calibration)
        items = [(channel, record) for channel, records in sorted(by_channel.items()) for record in records]
        for channel, record in progress_bar(items, enabled=progress, description=f"nuScenes {scene}", total=total):
            _add_record(log, dataroot, calibrations[channel], record)
        log.set_poses(poses)
        truth = _truth(nusc, samples, origin, scene, version)
        if truth is not None:
            log.set_truth(truth)
    logger.info("imported nuScenes %s (%d sample_data, %d samples) into %s", scene, total, len(samples), out_h5)
    return out_h5


# --------------------------------------------------------------------------- loading


def _load(dataroot: Path, version: str) -> Any:
    tables = dataroot / version
    if not tables.is_dir():
        found = sorted(path.name for path in dataroot.glob("v*") if path.is_dir()) if dataroot.is_dir() else []
        hint = f"versions found: {', '.join(found)}" if found else "no version folders found (v1.0-mini, v1.0-trainval, ...)"
        raise InputError(f"{dataroot}: {version}: no such table folder (expected {tables}/*.json; {hint})")
    try:
        from nuscenes.nuscenes import NuScenes
    except ImportError:
        raise InputError("avlabel import nuscenes needs nuscenes-devkit: pip install 'avlabel[nuscenes]'") from None
    try:
        return NuScenes(version=version, dataroot=str(dataroot), verbose=False)
    except FileNotFoundError as error:
        raise InputError(f"{dataroot}: {version}: missing file {Path(error.filename or str(error)).name} (nuScenes needs all 13 tables and the map files)") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{dataroot}: {version}: a table is not valid JSON ({error.msg} at line {error.lineno})") from None
    except (AssertionError, KeyError, IndexError, TypeError, ValueError) as error:
        raise InputError(f"{dataroot}: {version}: nuscenes-devkit could not load the tables ({type(error).__name__}: {error})") from None


def _scene(nusc: Any, dataroot: Path, version: str, name: str) -> dict[str, Any]:
    for record in nusc.scene:
        if record["name"] == name:
            return record
    names = sorted(record["name"] for record in nusc.scene)
    listed = ", ".join(names[:6]) + (f", ... ({len(names)} scenes)" if len(names) > 6 else "")
    raise InputError(f"{dataroot}: {version}: scene {name!r} does not exist (valid: {listed or 'none'})")


def _samples(nusc: Any, scene_record: dict[str, Any]) -> list[dict[str, Any]]:
    samples, token = [], scene_record["first_sample_token"]
    while token:
        sample = nusc.get("sample", token)
        samples.append(sample)
        token = sample["next"]
    return samples


def _calibration(nusc: Any, channel: str, records: list[dict[str, Any]]) -> Calibration:
    tokens = {record["calibrated_sensor_token"] for record in records}
    record = nusc.get("calibrated_sensor", records[0]["calibrated_sensor_token"])
    if len(tokens) > 1:
        logger.warning("nuScenes channel %s has %d calibrations in one scene; using the first", channel, len(tokens))
    kind = _KINDS.get(nusc.get("sensor", record["sensor_token"])["modality"])
    if kind is None:
        raise InputError(f"calibrated_sensor {record['token']}: unknown modality for channel {channel}")
    ego_from_sensor = transform_from_quaternion(record["rotation"], record["translation"])
    try:
        if kind == "camera":
            widths = {(int(r["width"]), int(r["height"])) for r in records}
            return Calibration(channel, "camera", ego_from_sensor, intrinsics=np.array(record["camera_intrinsic"], dtype=np.float64), image_size=widths.pop())
        return Calibration(channel, kind, ego_from_sensor)
    except ValueError as error:
        raise InputError(f"calibrated_sensor {record['token']} ({channel}): {error}") from None


def _poses(nusc: Any, by_channel: dict[str, list[dict[str, Any]]]) -> tuple[PoseSeries, np.ndarray]:
    """The scene's ego poses, one per timestamp, shifted so the first sits at the origin."""
    poses: dict[int, np.ndarray] = {}
    for records in by_channel.values():
        for record in records:
            pose = nusc.get("ego_pose", record["ego_pose_token"])
            poses.setdefault(int(pose["timestamp"]), transform_from_quaternion(pose["rotation"], pose["translation"]))
    stamps = np.array(sorted(poses), dtype=np.int64)
    matrices = np.stack([poses[int(stamp)] for stamp in stamps])
    origin = matrices[0, :3, 3].copy()
    matrices[:, :3, 3] -= origin
    return PoseSeries(stamps, matrices), origin


# --------------------------------------------------------------------------- data


def _add_record(log: DriveLogWriter, dataroot: Path, calibration: Calibration, record: dict[str, Any]) -> None:
    path = dataroot / record["filename"]
    stamp = int(record["timestamp"])
    if not path.is_file():
        raise InputError(f"{path}: no such file (sample_data {record['token']} of {calibration.sensor})")
    if calibration.kind == "lidar":
        values = np.fromfile(path, dtype="<f4")
        if values.size % 5:
            raise InputError(f"{path}: {values.size * 4} bytes is not a whole number of points (x y z intensity ring, float32)")
        rows = values.reshape(-1, 5)
        log.add_lidar_sweep(LidarSweep(calibration.sensor, stamp, lidar_points(rows[:, :4], ring=rows[:, 4])))
    elif calibration.kind == "radar":
        log.add_radar_scan(RadarScan(calibration.sensor, stamp, _radar_detections(path)))
    else:
        data = path.read_bytes()
        log.add_encoded_image(calibration.sensor, stamp, data, encoding=image_encoding(data, str(path)))


def _radar_detections(path: Path) -> np.ndarray:
    from nuscenes.utils.data_classes import RadarPointCloud

    try:
        cloud = RadarPointCloud.from_file(str(path), invalid_states=list(range(18)), dynprop_states=list(range(8)), ambig_states=list(range(5)))
    except (AssertionError, ValueError, IndexError, KeyError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not a nuScenes radar PCD file ({type(error).__name__}: {error})") from None
    points = cloud.points  # (18, n): x y z dyn_prop id rcs vx vy vx_comp vy_comp ...
    positions = points[:3].T
    radial = formats.radial_velocity(positions, points[6:8].T)
    detections = np.column_stack([positions, radial, points[5]]).astype(np.float32)
    if not np.isfinite(detections).all():
        raise InputError(f"{path}: some radar detections are NaN or infinite")
    return detections


# --------------------------------------------------------------------------- truth


def _truth(nusc: Any, samples: list[dict[str, Any]], origin: np.ndarray, scene: str, version: str) -> Labels | None:
    if not nusc.sample_annotation:
        return None  # a test split: no annotations at all
    attribute_names = {record["token"]: record["name"] for record in nusc.attribute}
    frames = []
    for sample in samples:
        cuboids = []
        for token in sample["anns"]:
            annotation = nusc.get("sample_annotation", token)
            category = annotation["category_name"]
            width, length, height = annotation["size"]
            rotation = transform_from_quaternion(annotation["rotation"])
            velocity = np.asarray(nusc.box_velocity(token), dtype=np.float64)[:2]
            try:
                cuboids.append(Cuboid(
                    id=token, track_id=annotation["instance_token"], label=formats.CATEGORY_TO_CLASS.get(category, "other"),
                    center=np.asarray(annotation["translation"], dtype=np.float64) - origin, size=np.array([length, width, height]),
                    yaw=float(yaw_of(rotation)), source="truth", num_points=int(annotation["num_lidar_pts"]),
                    velocity=None if np.isnan(velocity).any() else velocity,
                    attributes={
                        "nuscenes_category": category,
                        "nuscenes_attributes": [attribute_names[t] for t in annotation["attribute_tokens"]],
                        "visibility": annotation["visibility_token"],
                        "num_radar_pts": int(annotation["num_radar_pts"]),
                    },
                ))
            except ValueError as error:
                raise InputError(f"sample_annotation {token}: {error}") from None
        frames.append(LabelFrame(int(sample["timestamp"]), tuple(cuboids), {"nuscenes_sample": sample["token"]}))
    return Labels(tuple(frames), {"dataset": "nuscenes", "version": version, "scene": scene})
