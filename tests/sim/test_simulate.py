"""The simulated log: streams, rates, clocks, skew, truth and its consistency with the sensors."""

from __future__ import annotations

import h5py
import numpy as np
import pymap3d
import pytest

from avlabel.io.logstore import SEMANTIC_CODE, DriveLog
from avlabel.sim import LOG_START_US, PROFILES, simulate
from avlabel.sim.rig import LIDAR, RADAR

from sim_helpers import PROFILE, SECONDS, world_from_ego_at


def test_bad_arguments_are_refused_with_advice(tmp_path):
    with pytest.raises(ValueError, match="choose one of: default, sample, test"):
        simulate(tmp_path / "x.h5", profile="fast")
    with pytest.raises(ValueError, match="seconds must lie in"):
        simulate(tmp_path / "x.h5", seconds=-1.0)
    with pytest.raises(ValueError, match="non-negative integer"):
        simulate(tmp_path / "x.h5", seed=-3)
    with pytest.raises(ValueError, match="is a directory"):
        simulate(tmp_path, seconds=1.0)
    assert not list(tmp_path.iterdir())


def _sensor_datasets(path) -> dict[str, bytes]:
    contents = {}
    with h5py.File(path, "r") as log:
        def visit(name, item):
            if isinstance(item, h5py.Dataset) and not name.startswith("truth/cuboids"):
                data = item[()]
                contents[name] = b"".join(bytes(row) for row in data) if data.dtype == object else data.tobytes()
        log.visititems(visit)
    return contents


@pytest.mark.slow
def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    first = _sensor_datasets(simulate(tmp_path / "a.h5", seconds=0.6, seed=3, profile="test"))
    again = _sensor_datasets(simulate(tmp_path / "b.h5", seconds=0.6, seed=3, profile="test"))
    other = _sensor_datasets(simulate(tmp_path / "c.h5", seconds=0.6, seed=4, profile="test"))
    assert first.keys() == again.keys()
    assert all(first[name] == again[name] for name in first)
    assert first["lidar/lidar_top/points"] != other["lidar/lidar_top/points"]


def test_streams_run_at_their_rates(simulated_log: DriveLog):
    expected_period_us = {LIDAR: 100_000, RADAR: 1e6 / 13, **{name: 1e6 / 12 for name in PROFILES[PROFILE].cameras}}
    for sensor, period in expected_period_us.items():
        stamps = np.asarray(simulated_log.timestamps(sensor), dtype=np.int64)
        assert abs(len(stamps) - SECONDS * 1e6 / period) <= 1.5, sensor
        assert np.abs(np.diff(stamps) - period).max() <= 1.0, sensor
    gnss, imu, poses = simulated_log.gnss(), simulated_log.imu(), simulated_log.poses()
    assert len(gnss) == 200 and np.all(np.diff(gnss.timestamps_us) == 100_000)
    assert len(imu) == 2000 and np.all(np.diff(imu.timestamps_us) == 10_000)
    assert len(poses) == 2001 and np.all(np.diff(poses.timestamps_us) == 10_000)


def test_clock_offsets_are_recorded_and_applied(simulated_log: DriveLog):
    calibrations = simulated_log.calibrations
    offsets = {name: calibration.clock_offset_us for name, calibration in calibrations.items()}
    assert offsets[LIDAR] == 0
    others = [value for name, value in offsets.items() if name != LIDAR]
    assert all(1000 <= abs(value) <= 10_000 for value in others) and len(set(others)) == len(others)
    # every stream, put back on the log clock, lies inside the log
    for sensor in [LIDAR, RADAR, *PROFILES[PROFILE].cameras]:
        log_times = calibrations[sensor].to_log_time(np.asarray(simulated_log.timestamps(sensor))) - LOG_START_US
        assert log_times.min() >= 0 and log_times.max() <= SECONDS * 1e6, sensor
    # cameras fire at their own phases, not with the LiDAR
    phases = {name: (np.asarray(simulated_log.timestamps(name))[0] - offsets[name] - LOG_START_US) % 100_000 for name in PROFILES[PROFILE].cameras}
    assert len(set(phases.values())) == len(phases) and 50_000 not in phases.values()
    assert (simulated_log.imu().timestamps_us[0] - LOG_START_US) % 10_000 == (offsets["imu"] + 4300) % 10_000


def test_sweeps_spin_clockwise_over_100_ms(simulated_log: DriveLog):
    for index in (0, 57, 199):
        points = simulated_log.sweep(index).points
        offsets = points[:, 4]
        assert offsets.min() == -50_000 and 49_000 < offsets.max() < 50_000
        assert np.all(np.diff(offsets) >= 0)  # stored in firing order
        azimuth = np.arctan2(points[:, 1], points[:, 0])
        expected = -2 * np.pi * offsets / 100_000
        error = np.abs(np.mod(azimuth - expected + np.pi, 2 * np.pi) - np.pi)
        assert np.percentile(error, 99) < np.radians(2.0)
        rings = points[:, 5]
        assert rings.min() == 0 and rings.max() == 31
        assert 0.0 <= points[:, 3].min() and points[:, 3].max() <= 1.0


def test_truth_for_every_sweep_and_num_points_match(simulated_log: DriveLog):
    truth = simulated_log.truth()
    assert np.array_equal(truth.timestamps_us, np.asarray(simulated_log.timestamps(LIDAR)))
    for index in (0, 100, 199):
        frame = truth.frames[index]
        assert len(frame) > 10
        instances = simulated_log.point_truth(index).instance
        for cuboid in frame:
            assert cuboid.source == "truth" and cuboid.velocity is not None
            assert cuboid.num_points == int(np.count_nonzero(instances == int(cuboid.track_id)))
        seen = set(np.unique(instances[instances >= 0]).tolist())
        assert seen <= {int(cuboid.track_id) for cuboid in frame}


def test_every_class_moves_and_stands(simulated_log: DriveLog):
    states = {(cuboid.label, cuboid.attributes["moving"]) for frame in simulated_log.truth() for cuboid in frame}
    for label in ("car", "truck", "pedestrian", "cyclist"):
        assert (label, True) in states and (label, False) in states, label
    hidden = sum(cuboid.num_points == 0 for frame in simulated_log.truth() for cuboid in frame)
    assert hidden > 0  # occluded objects keep their truth


def test_object_points_lie_in_their_boxes_at_their_own_time(simulated_log: DriveLog):
    """De-skew each object point with the stored poses, move its truth box to the point's
    time with the truth velocity: the point must be inside (2 cm noise, 10 cm slack)."""
    truth = simulated_log.truth()
    poses = simulated_log.poses()
    ego_from_lidar = simulated_log.calibrations[LIDAR].ego_from_sensor
    inside_fraction, checked = [], 0
    for index in range(0, 200, 7):
        sweep, point_truth = simulated_log.sweep(index), simulated_log.point_truth(index)
        objects = point_truth.instance >= 0
        if not objects.any():
            continue
        points = sweep.points[objects].astype(np.float64)
        world_from_lidar = world_from_ego_at(poses, sweep.timestamp_us + points[:, 4]) @ ego_from_lidar
        world = np.einsum("nij,nj->ni", world_from_lidar[:, :3, :3], points[:, :3]) + world_from_lidar[:, :3, 3]
        boxes = {cuboid.track_id: cuboid for cuboid in truth.frames[index]}
        for row, instance in enumerate(point_truth.instance[objects]):
            cuboid = boxes[str(instance)]
            dt = points[row, 4] / 1e6
            centre = cuboid.center + np.array([*cuboid.velocity, 0.0]) * dt
            relative = world[row] - centre
            cos, sin = np.cos(cuboid.yaw), np.sin(cuboid.yaw)
            local = np.array([cos * relative[0] + sin * relative[1], -sin * relative[0] + cos * relative[1], relative[2]])
            inside_fraction.append(bool(np.all(np.abs(local) <= cuboid.size / 2 + 0.1)))
            checked += 1
    assert checked > 1000
    assert np.mean(inside_fraction) > 0.99


def test_point_classes_are_plausible(simulated_log: DriveLog):
    sweep, truth = simulated_log.sweep(120), simulated_log.point_truth(120)
    counts = np.bincount(truth.semantic, minlength=9)
    for name in ("road", "sidewalk", "building", "pole", "vegetation", "object"):
        assert counts[SEMANTIC_CODE[name]] > 0, name
    height = sweep.points[:, 2]
    road = truth.semantic == SEMANTIC_CODE["road"]
    assert np.median(height[road]) == pytest.approx(-1.84, abs=0.25)  # sensor about 1.84 m above the road
    intensity = sweep.points[road, 3]
    assert np.median(intensity) < 0.08  # dark asphalt
    assert np.percentile(intensity, 99.5) > 3 * np.median(intensity)  # bright lane paint


def test_radar_doppler_agrees_with_truth_velocities(simulated_log: DriveLog):
    poses, truth = simulated_log.poses(), simulated_log.truth()
    calibration = simulated_log.calibrations[RADAR]
    errors = []
    stamps = np.asarray(simulated_log.timestamps(RADAR))
    for index in range(0, len(stamps), 5):
        scan, instances = simulated_log.radar_scan(index, RADAR), simulated_log.radar_truth(index, RADAR)
        log_time = stamps[index] - calibration.clock_offset_us
        sweep = int(np.argmin(np.abs(truth.timestamps_us - log_time)))
        boxes = {int(c.track_id): c for c in truth.frames[sweep]}
        poses_around = world_from_ego_at(poses, np.array([log_time - 5000, log_time, log_time + 5000])) @ calibration.ego_from_sensor
        sensor_velocity = (poses_around[2, :3, 3] - poses_around[0, :3, 3]) / 0.01
        for detection, instance in zip(scan.detections, instances):
            if instance < 0 or instance not in boxes or np.linalg.norm(detection[:3]) < 5:
                continue
            direction = poses_around[1, :3, :3] @ (detection[:3] / np.linalg.norm(detection[:3]))
            expected = (np.array([*boxes[instance].velocity, 0.0]) - sensor_velocity) @ direction
            errors.append(detection[3] - expected)
    assert len(errors) > 50
    assert np.median(np.abs(errors)) < 0.4


def test_gnss_and_imu_agree_with_poses(simulated_log: DriveLog):
    gnss, imu, poses = simulated_log.gnss(), simulated_log.imu(), simulated_log.poses()
    calibrations = simulated_log.calibrations
    origin = simulated_log.origin_lat_lon_alt
    assert (gnss.latitude_deg[0], gnss.longitude_deg[0], gnss.altitude_m[0]) == pytest.approx(origin, abs=1e-9)
    east, north, up = pymap3d.geodetic2enu(gnss.latitude_deg, gnss.longitude_deg, gnss.altitude_m, *origin)
    log_times = gnss.timestamps_us - calibrations["gnss"].clock_offset_us
    antenna = (world_from_ego_at(poses, log_times) @ calibrations["gnss"].ego_from_sensor)[:, :3, 3]
    assert np.abs(np.column_stack([east, north, up]) - antenna).max() < 0.2
    force = np.linalg.norm(imu.linear_acceleration, axis=1)
    assert np.median(force) == pytest.approx(9.81, abs=0.3)
    yaw = np.unwrap(np.arctan2(poses.world_from_ego[:, 1, 0], poses.world_from_ego[:, 0, 0]))
    turned = np.sum(imu.angular_velocity[:, 2]) * 0.01
    assert turned == pytest.approx(yaw[-1] - yaw[0], abs=0.05)
    assert abs(yaw[-1] - yaw[0]) > 1.0  # the ego turns a corner
