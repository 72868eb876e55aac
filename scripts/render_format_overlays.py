"""Render docs/overlay_kitti_object.png, docs/overlay_kitti_raw.png and docs/overlay_nuscenes.png.

A short simulated drive (real renderings, exact truth) is written in each format -- KITTI
object and nuScenes through avlabel's exporters, KITTI raw by the small writer below -- then
imported back with avlabel's importers, and one sweep of each imported log is drawn with
`avlabel.sync.overlay.render_overlay`: the de-skewed points coloured by depth and the truth
cuboids as class-coloured wireframes (ignore regions in magenta). If the importers got a
frame, an axis or a unit wrong, the boxes would not sit on the cars.

    .venv/bin/python scripts/render_format_overlays.py [--out docs] [--seconds 1.0] [--seed 3] [--profile default] [--work DIR] [--source LOG.h5]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pymap3d

from avlabel.geometry.transforms import invert_rigid, transform_points
from avlabel.io._poses import PoseTable
from avlabel.io.atomic import atomic_path
from avlabel.io.exporters import export_kitti, export_nuscenes
from avlabel.io.exporters._common import exported_image, front_camera, log_times, nearest_index
from avlabel.io.importers import import_kitti_object, import_kitti_raw, import_nuscenes
from avlabel.io.logstore import DriveLog
from avlabel.sim import simulate
from avlabel.structs import LabelFrame, Labels
from avlabel.sync.overlay import render_overlay

logger = logging.getLogger("render_format_overlays")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs", help="folder for the PNGs (default docs)")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--profile", default="default", help="simulation profile (default: 'default', 960x600 cameras)")
    parser.add_argument("--work", help="keep the intermediate logs and folders here (default: a temporary folder)")
    parser.add_argument("--source", help="use this drive log instead of simulating one")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(args.work) if args.work else Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        source = Path(args.source) if args.source else simulate(work / "sim.h5", seconds=args.seconds, seed=args.seed, profile=args.profile)
        with DriveLog(source) as log:
            truth = log.truth()
            camera = front_camera(log)
            frame = _busiest_frame(log, camera)
            logger.info("simulated %s; drawing sweep %d seen by %s", source, frame, camera)
            export_kitti(truth, log, work / "kitti_object")
            export_nuscenes(truth, log, work / "nuscenes", version="v1.0-mini")
            drive = write_kitti_raw_drive(log, work / "kitti_raw")
            scene = log.name
        overlays = (
            ("overlay_kitti_object.png", import_kitti_object(work / "kitti_object", work / "kitti_object.h5"), "image_2"),
            ("overlay_kitti_raw.png", import_kitti_raw(drive, work / "kitti_raw.h5"), "image_02"),
            ("overlay_nuscenes.png", import_nuscenes(work / "nuscenes", work / "nuscenes.h5", version="v1.0-mini", scene=scene), camera),
        )
        for name, imported, camera_name in overlays:
            with DriveLog(imported) as log:
                image = render_overlay(log, frame, camera_name, _short_track_ids(log.truth()), point_radius=1)
            ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            if not ok:
                raise RuntimeError(f"could not encode {name}")
            with atomic_path(out / name) as target:
                target.write_bytes(encoded.tobytes())
            logger.info("wrote %s (%s, camera %s, sweep %d)", out / name, imported.name, camera_name, frame)


def _short_track_ids(truth: Labels) -> Labels:
    """The truth with long track ids (nuScenes' 32-digit instance tokens) cut to 6 characters for the captions."""
    return Labels(tuple(
        LabelFrame(frame.timestamp_us, tuple(replace(cuboid, track_id=cuboid.track_id[:6] if len(cuboid.track_id) > 12 else cuboid.track_id) for cuboid in frame), frame.attributes)
        for frame in truth.frames
    ), truth.metadata)


def _busiest_frame(log: DriveLog, camera: str) -> int:
    """The sweep whose truth has the most cuboid centres in front of `camera` (ties: the earliest)."""
    truth, poses = log.truth(), PoseTable(log.poses())
    calibration = log.calibrations[camera]
    counts = []
    for frame in truth.frames:
        camera_from_world = invert_rigid(poses.at(frame.timestamp_us) @ calibration.ego_from_sensor)
        centres = transform_points(camera_from_world, frame.boxes()[:, :3]) if len(frame) else np.zeros((0, 3))
        ahead = (centres[:, 2] > 2.0) & (np.abs(centres[:, 0]) < centres[:, 2])
        counts.append(int(np.count_nonzero(ahead)))
    return int(np.argmax(counts))


# --------------------------------------------------------------------------- KITTI raw writer


def write_kitti_raw_drive(log: DriveLog, root: Path) -> Path:
    """Write `log` as a KITTI raw date folder with one synced drive; returns the drive folder.

    The IMU is the ego frame; image_02 (and image_00, as KITTI's rectified camera 0) is the
    front camera, undistorted; one OXTS packet per scan at the scan time, from the poses;
    velodyne scans raw (KITTI's scans are not de-skewed) with timestamps_start/end 50 ms
    around each stamp (the simulator's LiDAR, like the HDL-64E, faces forward at the stamp);
    truth tracks become tracklets (split where a track skips a scan).
    """
    lidar = log.lidar
    camera = front_camera(log)
    lidar_calibration, camera_calibration = log.calibrations[lidar], log.calibrations[camera]
    poses = PoseTable(log.poses())
    scan_times = log_times(log, lidar)
    camera_times = log_times(log, camera)
    day = datetime.fromtimestamp(scan_times[0] / 1e6, tz=timezone.utc)
    date = root / day.strftime("%Y_%m_%d")
    drive = date / f"{day.strftime('%Y_%m_%d')}_drive_0001_sync"
    for folder in ("velodyne_points/data", "image_00/data", "image_02/data", "oxts/data"):
        (drive / folder).mkdir(parents=True, exist_ok=True)

    numbers = lambda values: " ".join(f"{value:.12e}" for value in np.asarray(values, dtype=np.float64).ravel())  # noqa: E731
    width, height = camera_calibration.image_size
    projection = np.column_stack([camera_calibration.intrinsics, np.zeros(3)])
    (date / "calib_cam_to_cam.txt").write_text(
        f"calib_time: {day.strftime('%d-%b-%Y %H:%M:%S')}\n"
        f"S_rect_00: {width} {height}\nR_rect_00: {numbers(np.eye(3))}\nP_rect_00: {numbers(projection)}\n"
        f"S_rect_02: {width} {height}\nP_rect_02: {numbers(projection)}\n"
    )
    camera_from_lidar = invert_rigid(camera_calibration.ego_from_sensor) @ lidar_calibration.ego_from_sensor
    (date / "calib_velo_to_cam.txt").write_text(f"R: {numbers(camera_from_lidar[:3, :3])}\nT: {numbers(camera_from_lidar[:3, 3])}\n")
    lidar_from_ego = invert_rigid(lidar_calibration.ego_from_sensor)
    (date / "calib_imu_to_velo.txt").write_text(f"R: {numbers(lidar_from_ego[:3, :3])}\nT: {numbers(lidar_from_ego[:3, 3])}\n")

    origin = log.origin_lat_lon_alt or (48.0, 11.0, 500.0)
    image_times = []
    for index, stamp in enumerate(scan_times):
        name = f"{index:010d}"
        sweep = log.sweep(index, lidar)
        np.ascontiguousarray(sweep.points[:, :4], dtype="<f4").tofile(drive / "velodyne_points" / "data" / f"{name}.bin")
        image_index = nearest_index(camera_times, int(stamp))
        image_times.append(int(camera_times[image_index]))
        png = exported_image(log, camera, image_index, "png")
        for folder in ("image_00", "image_02"):
            (drive / folder / "data" / f"{name}.png").write_bytes(png)
        world_from_ego = poses.at(int(stamp))
        rotation = world_from_ego[:3, :3]
        latitude, longitude, altitude = pymap3d.enu2geodetic(*world_from_ego[:3, 3], *origin)
        roll, pitch, yaw = np.arctan2(rotation[2, 1], rotation[2, 2]), -np.arcsin(np.clip(rotation[2, 0], -1, 1)), np.arctan2(rotation[1, 0], rotation[0, 0])
        east, north, _ = poses.velocity(int(stamp))
        forward = float(np.hypot(east, north))
        packet = [latitude, longitude, altitude, roll, pitch, yaw, north, east, forward, 0, 0, 0, 0, 9.81, 0, 0, 9.81, 0, 0, 0, 0, 0, 0, 0.02, 0.02]
        (drive / "oxts" / "data" / f"{name}.txt").write_text(" ".join(repr(float(value)) for value in packet) + " 4 10 5 5 6\n")
    _write_stamps(drive / "velodyne_points" / "timestamps.txt", scan_times)
    _write_stamps(drive / "velodyne_points" / "timestamps_start.txt", scan_times - 50_000)
    _write_stamps(drive / "velodyne_points" / "timestamps_end.txt", scan_times + 50_000)
    _write_stamps(drive / "oxts" / "timestamps.txt", scan_times)
    for folder in ("image_00", "image_02"):
        _write_stamps(drive / folder / "timestamps.txt", np.array(image_times))
    _write_tracklets(log, drive / "tracklet_labels.xml", scan_times, poses, lidar_calibration.ego_from_sensor)
    return drive


def _write_stamps(path: Path, times_us: np.ndarray) -> None:
    lines = []
    for time_us in times_us:
        moment = datetime.fromtimestamp(int(time_us) // 1_000_000, tz=timezone.utc)
        lines.append(f"{moment.strftime('%Y-%m-%d %H:%M:%S')}.{int(time_us) % 1_000_000:06d}000\n")
    path.write_text("".join(lines))


def _write_tracklets(log: DriveLog, path: Path, scan_times: np.ndarray, poses: PoseTable, ego_from_lidar: np.ndarray) -> None:
    truth = log.truth()
    runs: dict[tuple[str, int], list] = {}
    last_scan: dict[str, int] = {}
    starts: dict[str, int] = {}
    for frame in truth.frames:
        scan = nearest_index(scan_times, frame.timestamp_us)
        lidar_from_world = invert_rigid(poses.at(frame.timestamp_us) @ ego_from_lidar)
        for cuboid in frame.cuboids:
            if last_scan.get(cuboid.track_id) != scan - 1:
                starts[cuboid.track_id] = scan
            last_scan[cuboid.track_id] = scan
            centre = transform_points(lidar_from_world, cuboid.center[None])[0]
            heading = lidar_from_world[:3, :3] @ np.array([np.cos(cuboid.yaw), np.sin(cuboid.yaw), 0.0])
            runs.setdefault((cuboid.track_id, starts[cuboid.track_id]), []).append(
                (cuboid, centre[0], centre[1], centre[2] - cuboid.size[2] / 2, np.arctan2(heading[1], heading[0]))
            )
    kinds = {"car": "Car", "truck": "Truck", "pedestrian": "Pedestrian", "cyclist": "Cyclist"}
    items = []
    for (_, first), entries in runs.items():
        cuboid = entries[0][0]
        length, width, height = cuboid.size
        poses_xml = "".join(
            f"<item><tx>{tx!r}</tx><ty>{ty!r}</ty><tz>{tz!r}</tz><rx>0</rx><ry>0</ry><rz>{rz!r}</rz>"
            "<state>2</state><occlusion>0</occlusion><occlusion_kf>0</occlusion_kf><truncation>0</truncation></item>"
            for _, tx, ty, tz, rz in entries
        )
        items.append(
            f"<item><objectType>{kinds.get(cuboid.label, 'Misc')}</objectType><h>{height!r}</h><w>{width!r}</w><l>{length!r}</l>"
            f"<first_frame>{first}</first_frame><poses><count>{len(entries)}</count><item_version>2</item_version>{poses_xml}</poses>"
            "<finished>1</finished></item>\n"
        )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>\n<boost_serialization signature="serialization::archive" version="9">\n'
        f"<tracklets><count>{len(items)}</count><item_version>1</item_version>\n{''.join(items)}</tracklets>\n</boost_serialization>\n"
    )


if __name__ == "__main__":
    main()
