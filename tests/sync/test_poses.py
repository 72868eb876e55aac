"""Pose interpolation: linear position, SLERP rotation (checked against pyquaternion), range errors."""

import numpy as np
import pytest
from pyquaternion import Quaternion

from avlabel.geometry.transforms import make_transform, transform_from_yaw, yaw_of
from avlabel.structs import PoseSeries
from avlabel.sync.poses import PoseInterpolator


def wobbly_poses(count=30, seed=0):
    """Poses every 10 ms with random 3D rotations and positions (a hard case for SLERP)."""
    rng = np.random.default_rng(seed)
    stamps = 5_000_000 + np.arange(count, dtype=np.int64) * 10_000
    quaternions = [Quaternion(axis=rng.normal(size=3), angle=rng.uniform(-2.5, 2.5)) for _ in range(count)]
    matrices = np.stack([make_transform(q.rotation_matrix, rng.normal(size=3) * 5) for q in quaternions])
    return PoseSeries(stamps, matrices), quaternions


def turning_poses(speed=10.0, yaw_rate=0.5, seconds=2.0, step_us=10_000):
    stamps = np.arange(0, int(seconds * 1e6) + 1, step_us, dtype=np.int64)
    t = stamps / 1e6
    yaw = yaw_rate * t
    radius = speed / yaw_rate
    positions = np.column_stack([radius * np.sin(yaw), radius * (1 - np.cos(yaw)), np.zeros_like(t)])
    return PoseSeries(stamps, np.stack([transform_from_yaw(angle, position) for angle, position in zip(yaw, positions)]))


def test_interpolation_matches_pyquaternion_slerp_and_linear_position():
    poses, quaternions = wobbly_poses()
    interpolator = PoseInterpolator(poses)
    rng = np.random.default_rng(1)
    times = rng.integers(poses.timestamps_us[0], poses.timestamps_us[-1], 400)
    transforms = interpolator.at(times)
    for time, transform in zip(times, transforms):
        index = min(np.searchsorted(poses.timestamps_us, time, side="right") - 1, len(poses) - 2)
        fraction = (time - poses.timestamps_us[index]) / 10_000
        expected = Quaternion.slerp(quaternions[index], quaternions[index + 1], fraction).rotation_matrix
        np.testing.assert_allclose(transform[:3, :3], expected, atol=1e-9)
        expected_position = (1 - fraction) * poses.world_from_ego[index, :3, 3] + fraction * poses.world_from_ego[index + 1, :3, 3]
        np.testing.assert_allclose(transform[:3, 3], expected_position, atol=1e-9)


def test_stored_stamps_return_stored_poses_and_scalars_give_one_matrix():
    poses, _ = wobbly_poses()
    interpolator = PoseInterpolator(poses)
    np.testing.assert_allclose(interpolator.at(poses.timestamps_us), poses.world_from_ego, atol=1e-12)
    assert interpolator.at(int(poses.timestamps_us[3])).shape == (4, 4)
    assert interpolator.at(np.int64(poses.timestamps_us[3])).shape == (4, 4)


def test_outside_the_pose_range_is_a_clear_error():
    poses, _ = wobbly_poses()
    interpolator = PoseInterpolator(poses)
    with pytest.raises(ValueError, match=r"1\.0 ms before the first ego pose.*max_pose_extrapolation_us"):
        interpolator.at(np.array([poses.timestamps_us[0] - 1000]))
    with pytest.raises(ValueError, match="after the last ego pose"):
        interpolator.velocity(int(poses.timestamps_us[-1]) + 1)
    with pytest.raises(ValueError, match="integer microseconds"):
        interpolator.at(1.5e6)
    with pytest.raises(ValueError, match="empty"):
        PoseInterpolator(PoseSeries(np.zeros(0, np.int64), np.zeros((0, 4, 4))))


def test_small_extrapolation_continues_the_motion():
    poses = turning_poses(yaw_rate=1e-9)  # straight at 10 m/s along x
    interpolator = PoseInterpolator(poses, max_extrapolation_us=50_000)
    end = int(poses.timestamps_us[-1])
    np.testing.assert_allclose(interpolator.at(end + 50_000)[:3, 3], interpolator.at(end)[:3, 3] + [0.5, 0, 0], atol=1e-6)
    with pytest.raises(ValueError, match="extrapolation allowed up to 50.0 ms"):
        interpolator.at(end + 50_001)


def test_velocity_and_turn_rate_of_a_steady_turn():
    interpolator = PoseInterpolator(turning_poses(speed=10.0, yaw_rate=0.5))
    times = np.array([0, 300_000, 1_000_000, 2_000_000], dtype=np.int64)
    velocities = interpolator.velocity(times)
    np.testing.assert_allclose(np.linalg.norm(velocities, axis=1), 10.0, rtol=1e-4)
    headings = np.arctan2(velocities[:, 1], velocities[:, 0])
    np.testing.assert_allclose(headings, yaw_of(interpolator.at(times)), atol=3e-3)  # within half a step's turn
    np.testing.assert_allclose(interpolator.yaw_rate(times), 0.5, rtol=1e-6)
    np.testing.assert_allclose(interpolator.angular_velocity(times)[:, :2], 0.0, atol=1e-9)
