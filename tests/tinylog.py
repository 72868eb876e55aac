"""A tiny hand-built drive log (no simulator) for store, CLI, pipeline and format tests.

Imported by name (`from tinylog import write_tiny_log`): pytest puts tests/ on sys.path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avlabel.io.logstore import DriveLogWriter, PointTruth
from avlabel.structs import (
    Calibration,
    CameraImage,
    Cuboid,
    GnssSeries,
    ImuSeries,
    LabelFrame,
    Labels,
    LidarSweep,
    PoseSeries,
    RadarScan,
)


def make_calibrations() -> list[Calibration]:
    lidar_pose = np.eye(4)
    lidar_pose[:3, 3] = (0.9, 0.0, 1.8)
    camera_pose = np.array([[0, 0, 1, 1.5], [-1, 0, 0, 0], [0, -1, 0, 1.5], [0, 0, 0, 1]], dtype=float)
    return [
        Calibration("lidar_top", "lidar", lidar_pose),
        Calibration("radar_front", "radar", np.eye(4), clock_offset_us=1200),
        Calibration(
            "camera_front", "camera", camera_pose, clock_offset_us=-3100,
            intrinsics=np.array([[300.0, 0, 160], [0, 300.0, 100], [0, 0, 1]]),
            distortion_model="brown_conrady", distortion=np.array([-0.1, 0.02, 0.001, -0.001, 0.0]), image_size=(320, 200),
        ),
        Calibration("gnss", "gnss", np.eye(4), clock_offset_us=500),
        Calibration("imu", "imu", np.eye(4)),
    ]


def make_truth(stamps: np.ndarray) -> Labels:
    frames = []
    for index, stamp in enumerate(stamps):
        cuboids = (
            Cuboid("car-%d" % index, "1", "car", [10.0 + index, 2.0, 0.8], [4.5, 1.9, 1.6], 0.1, source="truth", num_points=120, velocity=[10.0, 0.0], attributes={"moving": True}),
            Cuboid("ped-%d" % index, "2", "pedestrian", [6.0, -4.0, 0.9], [0.6, 0.6, 1.8], -3.0, source="truth", num_points=30, attributes={"moving": False}),
        )
        frames.append(LabelFrame(int(stamp), cuboids if index % 3 else cuboids[:1]))
    return Labels(tuple(frames), {"generator": "tests"})


def write_tiny_log(path: Path, *, sweeps: int = 5, seed: int = 0, truth: bool = True) -> Path:
    """A 0.5 s log: 5 LiDAR sweeps of 2,000 points, radar, one camera, GNSS, IMU, poses, truth."""
    rng = np.random.default_rng(seed)
    stamps = 1_000_000 + np.arange(sweeps, dtype=np.int64) * 100_000
    with DriveLogWriter(path, name=path.stem, description="hand-built test log", origin_lat_lon_alt=(48.1, 11.5, 520.0)) as log:
        for calibration in make_calibrations():
            log.add_calibration(calibration)
        for stamp in stamps:
            points = np.column_stack([
                rng.uniform(-30, 30, (2000, 3)), rng.uniform(0, 1, 2000),
                rng.uniform(-50_000, 50_000, 2000), rng.integers(0, 32, 2000),
            ]).astype(np.float32)
            point_truth = PointTruth(rng.integers(0, 9, 2000).astype(np.uint8), rng.integers(-1, 3, 2000).astype(np.int32))
            log.add_lidar_sweep(LidarSweep("lidar_top", int(stamp), points), truth=point_truth if truth else None)
            detections = rng.normal(size=(7, 5)).astype(np.float32)
            log.add_radar_scan(RadarScan("radar_front", int(stamp) + 1200 + 40_000, detections), instance=np.array([1, -1, -1, 2, -1, 1, -1]) if truth else None)
            image = np.zeros((200, 320, 3), np.uint8)
            image[:100] = (120, 170, 230)
            image[100:] = (90, 90, 90)
            log.add_camera_image(CameraImage("camera_front", int(stamp) - 3100 + 20_000, image), encoding="png")
        pose_stamps = np.arange(stamps[0] - 100_000, stamps[-1] + 100_000, 10_000, dtype=np.int64)
        world_from_ego = np.tile(np.eye(4), (len(pose_stamps), 1, 1))
        world_from_ego[:, 0, 3] = (pose_stamps - pose_stamps[0]) * 1e-5  # 10 m/s along x
        log.set_poses(PoseSeries(pose_stamps, world_from_ego))
        log.set_gnss(GnssSeries(pose_stamps[::10] + 500, np.full(len(pose_stamps[::10]), 48.1), np.full(len(pose_stamps[::10]), 11.5), np.full(len(pose_stamps[::10]), 520.0)))
        count = len(pose_stamps)
        log.set_imu(ImuSeries(pose_stamps, np.tile([1.0, 0, 0, 0], (count, 1)), np.zeros((count, 3)), np.tile([0, 0, 9.81], (count, 1))))
        if truth:
            log.set_truth(make_truth(stamps))
    return path
