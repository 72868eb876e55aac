"""Rigid-transform helpers, checked against pyquaternion and plain linear algebra."""

import numpy as np
import pytest
from pyquaternion import Quaternion

from avlabel.geometry.transforms import (
    invert_rigid,
    make_transform,
    matrices_from_quaternions,
    matrix_from_quaternion,
    quaternion_from_matrix,
    quaternions_from_matrices,
    rotate_vectors,
    slerp_quaternions,
    transform_from_quaternion,
    transform_from_yaw,
    transform_points,
    yaw_of,
)


def random_quaternions(count, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(count, 4))
    return values / np.linalg.norm(values, axis=1, keepdims=True)


def test_make_invert_and_apply_round_trip():
    rotation = Quaternion(axis=[0.2, -0.4, 1.0], angle=0.7).rotation_matrix
    ego_from_lidar = make_transform(rotation, (1.0, -2.0, 0.5))
    points = np.random.default_rng(1).normal(size=(50, 3))
    moved = transform_points(ego_from_lidar, points)
    np.testing.assert_allclose(moved, points @ rotation.T + [1.0, -2.0, 0.5])
    np.testing.assert_allclose(transform_points(invert_rigid(ego_from_lidar), moved), points, atol=1e-12)
    np.testing.assert_allclose(invert_rigid(ego_from_lidar), np.linalg.inv(ego_from_lidar), atol=1e-12)
    stack = np.stack([ego_from_lidar, transform_from_yaw(1.0, (3, 4, 5))])
    np.testing.assert_allclose(invert_rigid(stack), np.linalg.inv(stack), atol=1e-12)


def test_bad_shapes_are_value_errors_with_advice():
    with pytest.raises(ValueError, match=r"points\[:, :3\]"):
        transform_points(np.eye(4), np.zeros((5, 6)))
    with pytest.raises(ValueError, match="rotation"):
        make_transform(np.eye(4))
    with pytest.raises(ValueError, match="normalise"):
        matrix_from_quaternion((0, 0, 0, 0))


def test_yaw_and_vector_rotation():
    world_from_ego = transform_from_yaw(2.5, (10, 0, 0))
    assert yaw_of(world_from_ego) == pytest.approx(2.5)
    np.testing.assert_allclose(yaw_of(np.stack([world_from_ego, np.eye(4)])), [2.5, 0.0])
    np.testing.assert_allclose(rotate_vectors(transform_from_yaw(np.pi / 2), [[1.0, 0, 0]]), [[0, 1.0, 0]], atol=1e-12)


def test_quaternions_match_pyquaternion_both_ways():
    for values in random_quaternions(200):
        reference = Quaternion(values)
        np.testing.assert_allclose(matrix_from_quaternion(values), reference.rotation_matrix, atol=1e-12)
        back = quaternion_from_matrix(reference.rotation_matrix)
        assert abs(abs(np.dot(back, values)) - 1.0) < 1e-9 and back[0] >= 0
    np.testing.assert_allclose(transform_from_quaternion(values, (1, 2, 3))[:3, 3], [1, 2, 3])


def test_vectorised_quaternion_conversions_agree_with_pyquaternion():
    quaternions = random_quaternions(500, seed=3)
    # Include the awkward cases: identity, and 180 degree turns about each axis (w = 0).
    quaternions = np.vstack([quaternions, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]])
    matrices = np.stack([Quaternion(q).rotation_matrix for q in quaternions])
    np.testing.assert_allclose(matrices_from_quaternions(quaternions), matrices, atol=1e-12)
    recovered = quaternions_from_matrices(matrices)
    np.testing.assert_allclose(np.abs(np.sum(recovered * quaternions, axis=1)), 1.0, atol=1e-9)
    assert (recovered[:, 0] >= 0).all()


def test_vectorised_slerp_agrees_with_pyquaternion():
    starts, ends = random_quaternions(300, seed=4), random_quaternions(300, seed=5)
    ends[:10] = starts[:10]  # identical rotations take the linear fallback
    ends[10:20] = -starts[10:20] + 1e-9  # same rotation, opposite sign
    fractions = np.random.default_rng(6).uniform(0, 1, 300)
    ours = slerp_quaternions(starts, ends, fractions)
    for start, end, fraction, mine in zip(starts, ends, fractions, ours):
        reference = Quaternion.slerp(Quaternion(start), Quaternion(end), fraction)
        np.testing.assert_allclose(Quaternion(mine).rotation_matrix, reference.rotation_matrix, atol=1e-9)
