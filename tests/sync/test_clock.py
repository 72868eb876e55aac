"""Clock-offset estimators on synthetic motion with a known offset."""

import numpy as np
import pytest

from avlabel.geometry.transforms import make_transform, transform_from_yaw
from avlabel.io.logstore import DriveLog, DriveLogWriter
from avlabel.structs import Calibration, ImuSeries, LidarSweep, PoseSeries, RadarScan
from avlabel.sync.clock import estimate_imu_offset, estimate_radar_offset, lidar_depth_edges, minimize_offset
from avlabel.sync.poses import PoseInterpolator


def weaving_drive(seconds=8.0, step_us=10_000):
    """Speed 10 +- 3 m/s and yaw rate 0.4 sin(...) rad/s: excites every estimator."""
    stamps = np.arange(0, int(seconds * 1e6) + 1, step_us, dtype=np.int64)
    t = stamps / 1e6
    yaw = -0.4 * 1.5 / (2 * np.pi) * np.cos(2 * np.pi * t / 1.5)
    speed = 10 + 3 * np.sin(2 * np.pi * t / 3.0)
    dt = step_us / 1e6
    x = np.concatenate([[0], np.cumsum(speed[:-1] * np.cos(yaw[:-1]) * dt)])
    y = np.concatenate([[0], np.cumsum(speed[:-1] * np.sin(yaw[:-1]) * dt)])
    return PoseSeries(stamps, np.stack([transform_from_yaw(a, (px, py, 0)) for a, px, py in zip(yaw, x, y)]))


def test_minimize_offset_finds_a_sub_step_minimum_and_its_curvature():
    search = minimize_offset(lambda o: 3.0 * (o - 12_345.0) ** 2 + 1.0, search_us=100_000)
    assert abs(search.offset_us - 12_345) < 1 and search.cost == pytest.approx(1.0, abs=1e-3)
    assert search.curvature == pytest.approx(6.0) and not search.at_edge
    assert minimize_offset(lambda o: -o, search_us=10_000).at_edge


def test_imu_offset_is_recovered():
    poses = PoseInterpolator(weaving_drive())
    truth_offset = 7_300  # IMU clock ahead of the log clock by 7.3 ms
    log_times = np.arange(300_000, 7_700_000, 5_000, dtype=np.int64)
    rates = poses.angular_velocity(log_times) + np.random.default_rng(0).normal(0, 0.005, (len(log_times), 3)) + 0.01
    quaternions = np.tile([1.0, 0, 0, 0], (len(log_times), 1))
    imu = ImuSeries(log_times + truth_offset, quaternions, rates, np.zeros_like(rates))
    estimate = estimate_imu_offset(imu, poses, calibrated_us=truth_offset)
    assert estimate.observable and abs(estimate.error_us) < 300 and estimate.uncertainty_us < 300, estimate
    assert abs(estimate.error_us) < 4 * estimate.uncertainty_us
    # An IMU mounted upside down reads the turn rate negated; the mount is honoured.
    flipped = ImuSeries(imu.timestamps_us, quaternions, -rates, np.zeros_like(rates))
    upside_down = make_transform(np.diag([1.0, -1.0, -1.0]))
    assert abs(estimate_imu_offset(flipped, poses, ego_from_imu=upside_down, calibrated_us=truth_offset).error_us) < 300


def test_imu_offset_on_a_straight_drive_is_not_observable():
    stamps = np.arange(0, 4_000_001, 10_000, dtype=np.int64)
    straight = PoseSeries(stamps, np.stack([transform_from_yaw(0.0, (10 * s / 1e6, 0, 0)) for s in stamps]))
    poses = PoseInterpolator(straight)
    imu = ImuSeries(stamps, np.tile([1.0, 0, 0, 0], (len(stamps), 1)), np.zeros((len(stamps), 3)), np.zeros((len(stamps), 3)))
    with pytest.raises(ValueError, match="not observable"):
        estimate_imu_offset(imu, poses)


def write_radar_log(path, poses_series, truth_offset, mount):
    """Static targets around the route, plus a few moving-target outliers; Doppler from the true motion."""
    poses = PoseInterpolator(poses_series)
    rng = np.random.default_rng(1)
    targets = np.column_stack([rng.uniform(-50, 150, 800), rng.uniform(-60, 60, 800), rng.uniform(0, 3, 800)])
    with DriveLogWriter(path, name="radar") as log:
        log.add_calibration(Calibration("lidar_top", "lidar", np.eye(4)))
        log.add_calibration(Calibration("radar_front", "radar", mount, clock_offset_us=truth_offset))
        log.add_lidar_sweep(LidarSweep("lidar_top", 1_000_000, np.zeros((1, 6), np.float32)))
        log.set_poses(poses_series)
        for scan_time in range(300_000, 7_700_000, 80_000):
            world_from_sensor = poses.at(scan_time) @ mount
            sensor_from_world = np.linalg.inv(world_from_sensor)
            local = targets @ sensor_from_world[:3, :3].T + sensor_from_world[:3, 3]
            ahead = local[(local[:, 0] > 1) & (np.linalg.norm(local, axis=1) < 80)][:60]
            velocity_ego = poses.at(scan_time)[:3, :3].T @ poses.velocity(scan_time)
            velocity_sensor = mount[:3, :3].T @ (velocity_ego + np.cross(poses.angular_velocity(scan_time), mount[:3, 3]))
            directions = ahead / np.linalg.norm(ahead, axis=1, keepdims=True)
            radial = -directions @ velocity_sensor + rng.normal(0, 0.05, len(ahead))
            radial[:5] += rng.uniform(-8, 8, 5)  # moving targets
            detections = np.column_stack([ahead, radial, np.full(len(ahead), 5.0)]).astype(np.float32)
            log.add_radar_scan(RadarScan("radar_front", scan_time + truth_offset, detections))
    return path


def test_radar_offset_is_recovered_from_static_doppler(tmp_path):
    mount = transform_from_yaw(0.3, (3.6, 0.5, 0.6))
    series = weaving_drive()
    with DriveLog(write_radar_log(tmp_path / "radar.h5", series, -12_000, mount)) as log:
        estimate = estimate_radar_offset(log, "radar_front", PoseInterpolator(series), search_us=60_000)
    assert estimate.calibrated_us == -12_000 and estimate.observable and abs(estimate.error_us) < 1_000, estimate
    assert abs(estimate.error_us) < 4 * estimate.uncertainty_us


def test_depth_edges_sit_between_the_neighbours_at_the_nearer_range():
    # One ring sweeping left to right: a wall at 20 m with a pole at 5 m in front of it.
    azimuth = np.linspace(-0.5, 0.5, 101)
    ranges = np.where((np.arange(101) >= 46) & (np.arange(101) <= 54), 5.0, 20.0)  # azimuth -0.04 .. 0.04
    points = np.column_stack([ranges * np.cos(azimuth), ranges * np.sin(azimuth), np.zeros(101), np.zeros(101), azimuth * 1e5, np.zeros(101)]).astype(np.float32)
    edges = lidar_depth_edges(points)
    assert edges.shape == (2, 6) and np.allclose(np.linalg.norm(edges[:, :3], axis=1), 5.0)
    edge_azimuth = np.sort(np.arctan2(edges[:, 1], edges[:, 0]))
    np.testing.assert_allclose(edge_azimuth, [-0.045, 0.045], atol=1e-6)  # halfway between the samples at 0.04 and 0.05
    assert len(lidar_depth_edges(points[:0])) == 0
