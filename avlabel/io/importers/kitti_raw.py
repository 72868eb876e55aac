"""Import one KITTI raw recording (a `*_sync` drive folder) into a drive log.

Expected layout (KITTI's "synced + rectified" download):

    <date>/calib_cam_to_cam.txt, calib_velo_to_cam.txt, calib_imu_to_velo.txt   (or in the drive folder)
    <date>/<drive>_sync/velodyne_points/{data/NNNNNNNNNN.bin, timestamps.txt, timestamps_start.txt, timestamps_end.txt}
                        image_00 .. image_03/{data/NNNNNNNNNN.png, timestamps.txt}      (those present)
                        oxts/{data/NNNNNNNNNN.txt, timestamps.txt}
                        tracklet_labels.xml                                             (optional)

Frames and clocks:

- log clock: KITTI's timestamps (UTC assumed) in microseconds since the Unix epoch; every
  stream keeps its own stamps (clock offsets 0, KITTI synchronised them).
- ego frame: on the ground 1.73 m below the Velodyne, axes parallel to the Velodyne's (as
  the KITTI object importer); gnss and imu sensors sit where calib_imu_to_velo puts the OXTS.
- world frame: avlabel's local ENU at the first OXTS fix (pymap3d on WGS84). KITTI's own
  devkit projects positions with a Mercator scale taken at the first latitude instead; we
  do not, so positions differ from the devkit's by the projection, not by a convention.
  The OXTS attitude (roll: left side up, pitch: front down, yaw: from east,
  counter-clockwise) gives world_from_imu = Rz(yaw) Ry(pitch) Rx(roll), taken as relative
  to the ENU axes at the origin (they turn by ~1e-4 rad per km away from it).
- LiDAR: each scan's timestamp is timestamps.txt, the moment the lasers face forward; the
  HDL-64E spins clockwise seen from above (azimuth atan2(y, x) decreasing in time) once
  between timestamps_start and timestamps_end, so a point at azimuth phi was measured
  -phi / (2 pi) of a revolution after the forward moment, wrapped into [start, end]:
  that is its t_offset_us. Without the start/end files a 0.1 s revolution centred on the
  forward moment is assumed. ring is -1 (unknown).
- cameras image_00 .. image_03: rectified, distortion-free pinholes, K from P_rect_0i,
  placed by R_rect_00, P_rect_0i and calib_velo_to_cam; the original PNG bytes are stored.
- GNSS: lat, lon, alt per OXTS packet. IMU: orientation world_from_imu, angular rates
  (wx, wy, wz) and accelerations (ax, ay, az) in the vehicle axes; KITTI documents these
  as accelerations along the vehicle axes; we store them as the specific force avlabel's
  ImuSeries expects (gravity included, az ~ +9.8 m/s^2 at rest), which is our reading of
  the OXTS output.
- truth: tracklet boxes (velodyne frame, bottom centre) at each scan time, moved to the
  world with the pose at that scan time; one truth frame per scan (empty ones included);
  track id = tracklet index; attributes kitti_type, occlusion, truncation, state;
  velocity (world x, y) from centre differences along the track.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pymap3d

from avlabel.geometry.transforms import invert_rigid, make_transform, quaternions_from_matrices, transform_points
from avlabel.io._poses import PoseTable
from avlabel.io.errors import InputError
from avlabel.io.formats import kitti
from avlabel.io.importers._common import count_points_in_boxes, lidar_points, nearest_rigid, progress_bar
from avlabel.io.importers.kitti_object import VELODYNE_HEIGHT_M, ego_from_velodyne
from avlabel.io.logstore import DriveLogWriter
from avlabel.structs import Calibration, Cuboid, GnssSeries, ImuSeries, LabelFrame, Labels, LidarSweep, PoseSeries

logger = logging.getLogger(__name__)

LIDAR = "velodyne"
DEFAULT_REVOLUTION_US = 100_000


@dataclass(frozen=True, slots=True)
class _Stream:
    """Files of one stream: frame index -> data file, and the stream's stamps (all lines)."""

    files: dict[int, Path]
    stamps: np.ndarray


def import_kitti_raw(drive_dir: str | os.PathLike[str], out_h5: str | os.PathLike[str], *, progress: bool = False) -> Path:
    """Write the KITTI raw drive folder `drive_dir` as the drive log `out_h5`; returns its path.

    Calibration, timestamps, OXTS packets and tracklets are all read and checked before any
    sensor data is written; a bad file is an InputError naming it."""
    drive, out_h5 = Path(drive_dir), Path(out_h5)
    if not drive.is_dir():
        raise InputError(f"{drive}: not a directory (expected a KITTI raw drive folder such as 2011_09_26_drive_0001_sync)")
    calibration = kitti.read_raw_calibration(kitti.find_raw_calibration(drive))
    velodyne = _stream(drive / "velodyne_points", "bin")
    starts, ends = _sweep_bounds(drive / "velodyne_points", velodyne)
    cameras = {f"image_0{index}": _stream(drive / f"image_0{index}", "png") for index in range(4) if (drive / f"image_0{index}").is_dir()}
    for name in cameras:
        if int(name[-1]) not in calibration.projections:
            raise InputError(f"{drive / name}: calib_cam_to_cam.txt has no P_rect_0{name[-1]} for this camera")
    oxts = _stream(drive / "oxts", "txt")
    packets = np.stack([kitti.read_oxts_packet(oxts.files[index]) for index in sorted(oxts.files)])
    oxts_stamps = oxts.stamps[sorted(oxts.files)]
    _check_increasing(drive / "oxts" / "timestamps.txt", oxts_stamps)
    tracklets_path = drive / "tracklet_labels.xml"
    tracklets = kitti.read_tracklets(tracklets_path) if tracklets_path.is_file() else None

    ego_from_imu = ego_from_velodyne() @ nearest_rigid(calibration.velodyne_from_imu, f"{drive}: calib_imu_to_velo.txt")
    world_from_imu, origin = _oxts_poses(packets)
    poses = PoseSeries(oxts_stamps, world_from_imu @ invert_rigid(ego_from_imu)[None])
    pose_table = PoseTable(poses)
    camera_calibrations = {name: _camera(calibration, int(name[-1]), name, drive) for name in cameras}
    velodyne_indices = sorted(velodyne.files)
    sweep_stamps = velodyne.stamps[velodyne_indices]
    _check_increasing(drive / "velodyne_points" / "timestamps.txt", sweep_stamps)

    description = f"KITTI raw {drive.name}; world = ENU at the first OXTS fix; ego on the ground {VELODYNE_HEIGHT_M} m below the Velodyne"
    truth_frames = []
    with DriveLogWriter(out_h5, name=drive.name, description=description, origin_lat_lon_alt=tuple(origin)) as log:
        log.add_calibration(Calibration(LIDAR, "lidar", ego_from_velodyne()))
        log.add_calibration(Calibration("gnss", "gnss", ego_from_imu))
        log.add_calibration(Calibration("imu", "imu", ego_from_imu))
        for camera in camera_calibrations.values():
            log.add_calibration(camera)
        for index in progress_bar(velodyne_indices, enabled=progress, description=f"KITTI raw {drive.name}"):
            stamp = int(velodyne.stamps[index])
            scan = kitti.read_velodyne(velodyne.files[index])
            offsets = _point_offsets_us(scan, starts[index] - stamp, ends[index] - stamp)
            log.add_lidar_sweep(LidarSweep(LIDAR, stamp, lidar_points(scan, t_offset_us=offsets)))
            if tracklets is not None:
                truth_frames.append(_truth_frame(tracklets, index, stamp, scan, pose_table))
        for name, stream in cameras.items():
            stamps = stream.stamps[sorted(stream.files)]
            _check_increasing(drive / name / "timestamps.txt", stamps)
            for index in progress_bar(sorted(stream.files), enabled=progress, description=name):
                log.add_encoded_image(name, int(stream.stamps[index]), stream.files[index].read_bytes(), encoding="png")
        log.set_poses(poses)
        log.set_gnss(GnssSeries(oxts_stamps, packets[:, 0], packets[:, 1], packets[:, 2]))
        log.set_imu(ImuSeries(oxts_stamps, quaternions_from_matrices(world_from_imu), packets[:, 17:20], packets[:, 11:14]))
        if tracklets is not None:
            log.set_truth(_with_velocities(Labels(tuple(truth_frames), {"dataset": "kitti_raw", "drive": drive.name})))
    logger.info("imported KITTI raw %s: %d scans into %s", drive.name, len(velodyne_indices), out_h5)
    return out_h5


# --------------------------------------------------------------------------- files


def _stream(folder: Path, extension: str) -> _Stream:
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder (a KITTI raw drive has velodyne_points/, oxts/ and image_0x/)")
    stamps = kitti.read_timestamps(folder / "timestamps.txt")
    files = {}
    for path in sorted((folder / "data").glob(f"*.{extension}")):
        try:
            index = int(path.stem)
        except ValueError:
            raise InputError(f"{path}: expected a frame number as the file name (0000000000.{extension})") from None
        if index >= len(stamps):
            raise InputError(f"{path}: frame {index} has no line in {folder / 'timestamps.txt'} ({len(stamps)} lines)")
        files[index] = path
    if not files:
        raise InputError(f"{folder / 'data'}: no *.{extension} files")
    return _Stream(files, stamps)


def _sweep_bounds(folder: Path, velodyne: _Stream) -> tuple[np.ndarray, np.ndarray]:
    """Start and end stamps of every revolution (log clock, us)."""
    start_path, end_path = folder / "timestamps_start.txt", folder / "timestamps_end.txt"
    if start_path.is_file() and end_path.is_file():
        starts, ends = kitti.read_timestamps(start_path), kitti.read_timestamps(end_path)
        if len(starts) != len(velodyne.stamps) or len(ends) != len(velodyne.stamps):
            raise InputError(f"{folder}: timestamps_start.txt and timestamps_end.txt need one line per line of timestamps.txt ({len(velodyne.stamps)})")
        bad = np.flatnonzero((starts > velodyne.stamps) | (ends < velodyne.stamps) | (ends <= starts))
        if bad.size:
            raise InputError(f"{folder}: line {bad[0] + 1}: the forward moment must lie between timestamps_start and timestamps_end")
        return starts, ends
    logger.warning("%s: no timestamps_start/end.txt; assuming %d ms revolutions centred on each timestamp", folder, DEFAULT_REVOLUTION_US // 1000)
    half = DEFAULT_REVOLUTION_US // 2
    return velodyne.stamps - half, velodyne.stamps + half


def _check_increasing(path: Path, stamps: np.ndarray) -> None:
    steps = np.diff(stamps)
    if (steps <= 0).any():
        line = int(np.argmax(steps <= 0)) + 2
        raise InputError(f"{path}: line {line}: timestamps must increase (frame numbers follow the lines)")


# --------------------------------------------------------------------------- geometry


def _point_offsets_us(scan: np.ndarray, start_offset_us: int, end_offset_us: int) -> np.ndarray:
    """(N,) microseconds from the forward moment to each point's measurement (see module doc)."""
    revolution = float(end_offset_us - start_offset_us)
    azimuth = np.arctan2(scan[:, 1].astype(np.float64), scan[:, 0].astype(np.float64))
    offsets = -azimuth / (2.0 * np.pi) * revolution
    offsets = np.where(offsets < start_offset_us, offsets + revolution, offsets)
    offsets = np.where(offsets > end_offset_us, offsets - revolution, offsets)
    return offsets.astype(np.float32)


def _oxts_poses(packets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4, 4) world_from_imu (ENU at the first fix) and that fix (lat, lon, alt)."""
    origin = packets[0, :3].copy()
    east, north, up = pymap3d.geodetic2enu(packets[:, 0], packets[:, 1], packets[:, 2], *origin)
    roll, pitch, yaw = packets[:, 3], packets[:, 4], packets[:, 5]
    cos_r, sin_r, cos_p, sin_p, cos_y, sin_y = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    zeros, ones = np.zeros_like(roll), np.ones_like(roll)
    about_x = np.stack([ones, zeros, zeros, zeros, cos_r, -sin_r, zeros, sin_r, cos_r], axis=1).reshape(-1, 3, 3)
    about_y = np.stack([cos_p, zeros, sin_p, zeros, ones, zeros, -sin_p, zeros, cos_p], axis=1).reshape(-1, 3, 3)
    about_z = np.stack([cos_y, -sin_y, zeros, sin_y, cos_y, zeros, zeros, zeros, ones], axis=1).reshape(-1, 3, 3)
    return make_transform(about_z @ about_y @ about_x, np.column_stack([east, north, up])), origin


def _camera(calibration: kitti.RawCalibration, index: int, name: str, drive: Path) -> Calibration:
    intrinsics, camera_from_rect0 = kitti.camera_from_projection(calibration.projections[index])
    rect0_from_velodyne = nearest_rigid(calibration.rect0_from_velodyne(), f"{drive}: R_rect_00 and calib_velo_to_cam.txt")
    camera_from_ego = camera_from_rect0 @ rect0_from_velodyne @ invert_rigid(ego_from_velodyne())
    try:
        return Calibration(name, "camera", invert_rigid(camera_from_ego), intrinsics=intrinsics, image_size=calibration.image_sizes[index])
    except ValueError as error:
        raise InputError(f"{drive}: calib_cam_to_cam.txt: P_rect_0{index}: {error}") from None


# --------------------------------------------------------------------------- truth


def _truth_frame(tracklets: list[kitti.Tracklet], frame: int, stamp: int, scan: np.ndarray, poses: PoseTable) -> LabelFrame:
    world_from_ego = poses.at(stamp)
    world_from_velodyne = world_from_ego @ ego_from_velodyne()
    cuboids, boxes_velodyne = [], []
    for track, tracklet in enumerate(tracklets):
        row = frame - tracklet.first_frame
        if not 0 <= row < len(tracklet.poses):
            continue
        height, width, length = tracklet.size_hwl
        tx, ty, tz, _, _, rz = tracklet.poses[row]
        center_velodyne = np.array([tx, ty, tz + height / 2.0])
        heading = world_from_velodyne[:3, :3] @ np.array([np.cos(rz), np.sin(rz), 0.0])
        center = transform_points(world_from_velodyne, center_velodyne[None])[0]
        boxes_velodyne.append([*center_velodyne, length, width, height, rz])
        cuboids.append(Cuboid.from_box(
            np.array([*center, length, width, height, np.arctan2(heading[1], heading[0])]),
            id=f"{track}-{frame}", track_id=str(track), label=kitti.TYPE_TO_CLASS.get(tracklet.object_type, "other"), source="truth",
            attributes={
                "kitti_type": tracklet.object_type, "occlusion": int(tracklet.occlusion[row]),
                "truncation": int(tracklet.truncation[row]), "state": int(tracklet.states[row]),
            },
        ))
    if cuboids:
        counts = count_points_in_boxes(scan[:, :3], np.array(boxes_velodyne))
        cuboids = [replace(cuboid, num_points=int(count)) for cuboid, count in zip(cuboids, counts)]
    return LabelFrame(stamp, tuple(cuboids), {"kitti_frame": frame})


def _with_velocities(labels: Labels) -> Labels:
    """Velocity (world x, y) of every cuboid from centre differences along its track."""
    tracks = labels.tracks()
    velocities: dict[tuple[str, int], np.ndarray] = {}
    for track_id, track in tracks.items():
        if len(track) < 2:
            continue
        seconds = track.timestamps_us * 1e-6
        gradient = np.stack([np.gradient(track.boxes[:, axis], seconds) for axis in (0, 1)], axis=1)
        for stamp, velocity in zip(track.timestamps_us, gradient):
            velocities[(track_id, int(stamp))] = velocity
    frames = tuple(
        LabelFrame(frame.timestamp_us, tuple(replace(c, velocity=velocities.get((c.track_id, frame.timestamp_us))) for c in frame), frame.attributes)
        for frame in labels.frames
    )
    return Labels(frames, labels.metadata)
