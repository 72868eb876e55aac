"""KITTI raw: a drive folder the test writes (calibration, velodyne, cameras, OXTS, tracklets)."""

from __future__ import annotations

import numpy as np
import pytest

from avlabel.geometry.transforms import matrix_from_quaternion, yaw_of
from avlabel.io.errors import InputError
from avlabel.io.importers.kitti_object import VELODYNE_HEIGHT_M
from avlabel.io.importers.kitti_raw import import_kitti_raw
from avlabel.io.logstore import DriveLog
from avlabel.structs import wrap_angle
from kitti_folders import RAW_CAR_WORLD, RAW_HEADING, RAW_ORIGIN, RAW_START_US, TR_IMU_TO_VELO, raw_world_from_imu, write_kitti_raw_drive


@pytest.fixture
def raw_log(tmp_path):
    drive = write_kitti_raw_drive(tmp_path / "raw", scans=3)
    return import_kitti_raw(drive, tmp_path / "raw.h5")


def test_streams_clocks_and_calibration(raw_log):
    with DriveLog(raw_log) as log:
        assert log.name == "2011_09_26_drive_0001_sync" and log.sequential
        assert log.sensors("lidar") == ["velodyne"] and log.sensors("camera") == ["image_02", "image_03"]
        np.testing.assert_array_equal(log.timestamps("velodyne"), RAW_START_US + np.arange(3) * 100_000)
        np.testing.assert_array_equal(log.timestamps("image_02"), RAW_START_US + 1_000 + np.arange(3) * 100_000)
        assert log.origin_lat_lon_alt == pytest.approx(RAW_ORIGIN)
        left, right = log.calibrations["image_02"], log.calibrations["image_03"]
        assert left.image_size == (1242, 375) and left.distortion_model == "none"
        # P_rect_03 puts the right camera 0.54 m to the right of the left one (ego -y).
        assert left.ego_from_sensor[1, 3] - right.ego_from_sensor[1, 3] == pytest.approx(0.532725, abs=1e-3)
        lidar = log.calibrations["velodyne"]
        np.testing.assert_allclose(lidar.ego_from_sensor[:3, 3], [0, 0, VELODYNE_HEIGHT_M])
        gnss = log.gnss()
        assert len(gnss) == 3 and gnss.latitude_deg[0] == pytest.approx(RAW_ORIGIN[0], abs=1e-12)
        imu = log.imu()
        np.testing.assert_allclose(imu.angular_velocity[0], [0.01, 0.02, 0.03])
        np.testing.assert_allclose(imu.linear_acceleration[0], [0.1, 0.0, 9.81])
        assert yaw_of(matrix_from_quaternion(imu.orientation_wxyz[1])) == pytest.approx(RAW_HEADING)


def test_poses_are_enu_at_the_first_fix(raw_log):
    with DriveLog(raw_log) as log:
        poses = log.poses()
        ego_from_imu = log.calibrations["imu"].ego_from_sensor
    np.testing.assert_array_equal(poses.timestamps_us, RAW_START_US - 4_000 + np.arange(3) * 100_000)
    for stamp, world_from_ego in zip(poses.timestamps_us, poses.world_from_ego):
        # The OXTS unit drives RAW_SPEED along RAW_HEADING from the origin (east, north, up).
        np.testing.assert_allclose(world_from_ego @ ego_from_imu, raw_world_from_imu(stamp), atol=1e-6)
    velodyne_from_imu = np.eye(4)
    velodyne_from_imu[:3] = TR_IMU_TO_VELO
    np.testing.assert_allclose(ego_from_imu[:3, 3], velodyne_from_imu[:3, 3] + [0, 0, VELODYNE_HEIGHT_M], atol=1e-5)


def test_tracklet_of_a_parked_car_stays_put_in_the_world(raw_log):
    with DriveLog(raw_log) as log:
        truth = log.truth()
    assert len(truth) == 3
    for frame in truth:
        (car,) = frame.cuboids
        assert car.label == "car" and car.track_id == "0" and car.attributes["kitti_type"] == "Car"
        np.testing.assert_allclose(car.center, RAW_CAR_WORLD[:3], atol=1e-5)
        np.testing.assert_allclose(car.size, RAW_CAR_WORLD[3:6])
        assert abs(wrap_angle(car.yaw - RAW_CAR_WORLD[6])) < 3e-4  # tracklets keep rz only; the Velodyne is tilted ~0.015 rad
        np.testing.assert_allclose(car.velocity, [0.0, 0.0], atol=1e-4)
        assert car.num_points >= 300


def test_point_times_follow_the_clockwise_spin(raw_log):
    with DriveLog(raw_log) as log:
        markers = log.sweep(0).points[-4:]
    # Forward at the scan stamp; the left side (+90 deg) a quarter turn earlier, the right later;
    # straight behind at the start of the revolution.
    np.testing.assert_allclose(markers[:, 4], [0.0, -25_000.0, 25_000.0, -50_000.0], atol=2.0)
    assert (markers[:, 5] == -1).all()


def test_bad_raw_inputs_are_one_line_errors(tmp_path):
    drive = write_kitti_raw_drive(tmp_path / "raw", scans=2)
    (drive.parent / "calib_imu_to_velo.txt").unlink()
    with pytest.raises(InputError, match=r"calib_imu_to_velo\.txt not found in the drive folder or its parent") as error:
        import_kitti_raw(drive, tmp_path / "out.h5")
    assert "\n" not in str(error.value)
    drive = write_kitti_raw_drive(tmp_path / "raw2", scans=2)
    packet = drive / "oxts" / "data" / "0000000001.txt"
    packet.write_text(" ".join(packet.read_text().split()[:29]))
    with pytest.raises(InputError, match=r"0000000001\.txt: expected 30 OXTS values .* got 29"):
        import_kitti_raw(drive, tmp_path / "out.h5")
    drive = write_kitti_raw_drive(tmp_path / "raw3", scans=2)
    (drive / "tracklet_labels.xml").write_text("<boost_serialization><tracklets><item><objectType>Car</objectType></item></tracklets>")
    with pytest.raises(InputError, match=r"tracklet_labels\.xml: not well-formed XML"):
        import_kitti_raw(drive, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()
