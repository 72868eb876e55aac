"""Synced frames on the hand-built tiny log: association, clock offsets, missing streams,
de-skew and radar motion compensation, poses from GNSS and IMU."""

import numpy as np
import pymap3d
import pytest

from avlabel.io.errors import InputError
from avlabel.io.logstore import DriveLog, DriveLogWriter
from avlabel.structs import Calibration, GnssSeries, ImuSeries, LidarSweep, PoseSeries
from avlabel.sync.frames import LogSync, ego_poses, nearest, sync_report, synced_frames
from avlabel.sync.settings import SyncConfig

from tinylog import write_tiny_log


def test_nearest_picks_the_closest_sample_within_tolerance():
    index, offset = nearest(np.array([0, 100, 250, 1000]), np.array([90, 240, 260]), tolerance_us=50)
    assert index.tolist() == [-1, 0, 1, -1]  # tie at 250 goes to the earlier sample
    assert offset.tolist() == [0, -10, -10, 0]
    assert nearest(np.array([5]), np.zeros(0, np.int64), 10)[0].tolist() == [-1]


def test_every_stream_is_tied_to_every_sweep_on_the_log_clock(tiny_log):
    with DriveLog(tiny_log) as log:
        frames = list(synced_frames(log, SyncConfig()))
        sweep = log.sweep(2)
    assert [frame.index for frame in frames] == [0, 1, 2, 3, 4]
    frame = frames[2]
    assert frame.timestamp_us == 1_200_000 and frame.missing == ()
    # The camera stamps are 3.1 ms behind on its clock (offset -3100); on the log clock it fired 20 ms after the sweep.
    assert frame.cameras["camera_front"].index == 2
    assert frame.cameras["camera_front"].timestamp_us == 1_220_000 and frame.cameras["camera_front"].offset_us == 20_000
    assert [match.offset_us for match in frame.radar["radar_front"]] == [40_000]
    assert frame.samples["imu"].offset_us == 0 and frame.samples["gnss"].timestamp_us == 1_200_000
    np.testing.assert_allclose(frame.world_from_ego[:3, 3], [3.0, 0, 0])
    np.testing.assert_allclose(frame.ego_velocity, [10.0, 0, 0])
    # Straight at 10 m/s: de-skewing moves each point forward by 10 m/s x its time offset.
    expected_x = sweep.points[:, 0] + 0.9 + 10.0 * sweep.points[:, 4] / 1e6
    np.testing.assert_allclose(frame.points[:, 0], expected_x, atol=2e-5)
    np.testing.assert_allclose(frame.points[:, 2], sweep.points[:, 2] + 1.8, atol=1e-5)
    assert frame.points.dtype == np.float32 and frame.points.shape == (2000, 6)


def test_radar_detections_are_moved_to_the_sweep_time(tiny_log):
    with DriveLog(tiny_log) as log:
        frame = next(iter(synced_frames(log, SyncConfig())))
        scan = log.radar_scan(0, "radar_front")
    (match,) = frame.radar["radar_front"]
    # 40 ms later the ego is 0.4 m further on: a static point is 0.4 m further ahead in the sweep's ego frame.
    np.testing.assert_allclose(match.detections_ego[:, 0], scan.detections[:, 0] + 0.4, atol=1e-5)
    np.testing.assert_array_equal(match.detections_ego[:, 3:], scan.detections[:, 3:])  # radial velocity kept raw


def test_missing_streams_are_reported_per_frame_and_in_the_summary(tiny_log):
    config = SyncConfig(tolerance_us={"camera": 10_000, "radar": 30_000})
    with DriveLog(tiny_log) as log:
        frames = list(synced_frames(log, config))
        report = sync_report(log, config)
    assert all(set(frame.missing) == {"camera_front", "radar_front"} for frame in frames)
    assert all(frame.cameras == {} and frame.radar == {"radar_front": []} for frame in frames)
    assert report["streams"]["camera_front"]["missing"] == 5 and report["streams"]["camera_front"]["matched"] == 0
    assert report["streams"]["radar_front"]["scans_unassigned"] == 5
    assert report["sweeps_with_missing_streams"] == 5
    assert report["streams"]["imu"]["matched"] == 5 and report["streams"]["imu"]["median_abs_dt_us"] == 0.0


def test_configured_clock_offsets_override_the_calibration(tiny_log):
    config = SyncConfig(clock_offset_us={"camera_front": 16_900})
    with DriveLog(tiny_log) as log:
        report = sync_report(log, config)
        assert report["clock_offsets_us"]["camera_front"] == 16_900
        assert report["streams"]["camera_front"]["max_abs_dt_us"] == 0
        with pytest.raises(InputError, match="no sensor named 'camera_back'"):
            sync_report(log, SyncConfig(clock_offset_us={"camera_back": 0}))


def test_sweeps_outside_the_poses_are_skipped_and_counted(tiny_log):
    with DriveLog(tiny_log) as log:
        # Poses end 90 ms after the last sweep; its points reach 50 ms past it. Without
        # extrapolation a LiDAR clock 60 ms fast pushes the last sweep off the poses.
        config = SyncConfig(clock_offset_us={"lidar_top": -60_000}, max_pose_extrapolation_us=0)
        frames = list(synced_frames(log, config))
        assert [frame.index for frame in frames] == [0, 1, 2, 3]
        assert LogSync(log, config).frame(4) is None
        with pytest.raises(IndexError, match="sweep 9 out of range"):
            LogSync(log, config).frame(9)


def test_unknown_lidar_is_a_clear_error(tiny_log):
    with DriveLog(tiny_log) as log, pytest.raises(InputError, match="no LiDAR named 'roof'"):
        sync_report(log, SyncConfig(), lidar="roof")


def write_log_without_poses(path, *, with_imu=True):
    """Ego heading north (yaw pi/2) at 10 m/s; GNSS antenna 1 m ahead of and 1.5 m above the ego origin."""
    origin = (48.1, 11.5, 520.0)
    stamps = np.arange(0, 1_000_001, 100_000, dtype=np.int64)
    ego_north = 10.0 * stamps / 1e6
    antenna = np.column_stack([np.zeros_like(ego_north), ego_north + 1.0, np.full_like(ego_north, 1.5)])
    latitude, longitude, altitude = pymap3d.enu2geodetic(antenna[:, 0], antenna[:, 1], antenna[:, 2], *origin)
    antenna_mount = np.eye(4)
    antenna_mount[:3, 3] = (1.0, 0.0, 1.5)
    with DriveLogWriter(path, name="gnss_only", origin_lat_lon_alt=origin) as log:
        log.add_calibration(Calibration("lidar_top", "lidar", np.eye(4)))
        log.add_calibration(Calibration("gnss", "gnss", antenna_mount, clock_offset_us=2_000))
        log.add_calibration(Calibration("imu", "imu", np.eye(4)))
        for stamp in stamps[1:-1]:
            points = np.array([[5.0, 0.0, 0.0, 0.5, 0.0, 0.0]], np.float32)
            log.add_lidar_sweep(LidarSweep("lidar_top", int(stamp), points))
        log.set_gnss(GnssSeries(stamps + 2_000, latitude, longitude, altitude))
        if with_imu:
            imu_stamps = np.arange(0, 1_000_001, 10_000, dtype=np.int64)
            heading = np.tile([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)], (len(imu_stamps), 1))
            zeros = np.zeros((len(imu_stamps), 3))
            log.set_imu(ImuSeries(imu_stamps, heading, zeros, zeros + [0, 0, 9.81]))
    return path


def test_poses_are_built_from_gnss_and_imu_when_the_log_has_none(tmp_path):
    with DriveLog(write_log_without_poses(tmp_path / "gnss.h5")) as log:
        poses = ego_poses(log)
        np.testing.assert_allclose(poses.at(500_000)[:3, 3], [0.0, 5.0, 0.0], atol=1e-6)
        np.testing.assert_allclose(poses.at(500_000)[:3, :3] @ [1, 0, 0], [0, 1, 0], atol=1e-12)
        np.testing.assert_allclose(poses.velocity(500_000), [0, 10.0, 0], atol=1e-6)
        frame = next(iter(synced_frames(log, SyncConfig())))
        # A point 5 m ahead of the ego is 5 m north of it.
        world_point = frame.world_from_ego @ np.append(frame.points[0, :3], 1.0)
        np.testing.assert_allclose(world_point[:3], [0.0, 1.0 + 5.0, 0.0], atol=1e-5)
        assert sync_report(log, SyncConfig())["poses"]["source"] == "gnss_imu"
    with DriveLog(write_log_without_poses(tmp_path / "no_imu.h5", with_imu=False)) as log:
        with pytest.raises(InputError, match="no ego poses and no GNSS and IMU"):
            ego_poses(log)


def test_stored_poses_are_used_as_stored(tiny_log):
    with DriveLog(tiny_log) as log:
        poses = ego_poses(log)
        assert isinstance(log.poses(), PoseSeries)
        np.testing.assert_allclose(poses.at(1_000_000)[:3, 3], [1.0, 0, 0])


def test_radar_line_of_sight_starts_at_the_radar_where_it_was_at_scan_time(tiny_log):
    with DriveLog(tiny_log) as log:
        frame = next(iter(synced_frames(log, SyncConfig())))
    (match,) = frame.radar["radar_front"]
    # The radar sits at the ego origin; 40 ms after the sweep the ego has driven 0.4 m on.
    np.testing.assert_allclose(match.ego_from_radar[:3, 3], [0.4, 0.0, 0.0], atol=1e-9)
    rays = match.detections_ego[:, :3].astype(np.float64) - [0.4, 0.0, 0.0]
    np.testing.assert_allclose(match.line_of_sight, rays / np.linalg.norm(rays, axis=1, keepdims=True), atol=1e-9)
