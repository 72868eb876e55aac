"""The tracking kernels against slow, obvious NumPy twins (motion.py's matrix forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avlabel.tracking import kernels, motion
from avlabel.tracking.settings import ClassTracking
from avlabel.tracking.smoothing import smooth


def _random_covariance(rng: np.random.Generator) -> np.ndarray:
    root = rng.normal(size=(7, 7))
    return root @ root.T + 0.1 * np.eye(7)


def _numpy_smoother(steps_s, observation_at, measurements, noise_std, mean, covariance, acceleration, yaw_acceleration, vertical):
    """Textbook Kalman filter (joint update, Joseph form) and Rauch-Tung-Striebel smoother."""
    count = len(steps_s)
    predicted, predicted_covariances, filtered, filtered_covariances = [], [], [], []
    for step in range(count):
        if step:
            dt = steps_s[step] - steps_s[step - 1]
            noise = motion.process_noise(dt, acceleration, yaw_acceleration, vertical)
            mean, covariance = motion.predict(mean, covariance, motion.transition(dt), noise)
        predicted.append(mean)
        predicted_covariances.append(covariance)
        if step and observation_at[step] >= 0:
            measurement = measurements[observation_at[step]].copy()
            measurement[3] = motion.align_yaw(measurement[3], mean[3])
            mean, covariance, _ = motion.update(mean, covariance, measurement, noise_std[observation_at[step]])
        filtered.append(mean)
        filtered_covariances.append(covariance)
    means, covariances = list(filtered), list(filtered_covariances)
    for step in range(count - 2, -1, -1):
        transition = motion.transition(steps_s[step + 1] - steps_s[step])
        gain = filtered_covariances[step] @ transition.T @ np.linalg.inv(predicted_covariances[step + 1])
        means[step] = filtered[step] + gain @ (means[step + 1] - predicted[step + 1])
        covariances[step] = filtered_covariances[step] + gain @ (covariances[step + 1] - predicted_covariances[step + 1]) @ gain.T
    return np.array(means), np.array(covariances)


def test_predict_matches_the_matrix_form():
    rng = np.random.default_rng(0)
    for dt in (0.1, 0.35, 0.0, -0.1):
        mean, covariance = rng.normal(size=7), _random_covariance(rng)
        expected = motion.predict(mean, covariance, motion.transition(dt), motion.process_noise(dt, 3.0, 1.0, 0.2))
        means, covariances = mean[None].copy(), covariance[None].copy()
        kernels._predict_many(means, covariances, np.array([dt]), np.array([3.0]), np.array([1.0]), np.array([0.2]))
        np.testing.assert_allclose(means[0], expected[0], atol=1e-12)
        np.testing.assert_allclose(covariances[0], expected[1], atol=1e-10)


@pytest.mark.parametrize(
    "measured",
    [np.ones(7, bool), np.array([1, 1, 1, 1, 0, 0, 0], bool), np.array([1, 1, 1, 1, 0, 0, 1], bool), np.array([1, 0, 0, 0, 0, 1, 0], bool),
     np.array([0, 0, 0, 0, 0, 0, 1], bool), np.zeros(7, bool)],
)
def test_sequential_scalar_updates_equal_the_joint_update(measured):
    rng = np.random.default_rng(1)
    mean, covariance = rng.normal(size=7), _random_covariance(rng)
    measurement = np.where(measured, rng.normal(size=7), np.nan)
    noise_std = rng.uniform(0.1, 1.0, 7)
    measurement[3] = motion.align_yaw(measurement[3], mean[3]) if measured[3] else np.nan
    measurement[6] = 0.0 if measured[6] else np.nan
    expected_mean, expected_covariance, _ = motion.update(mean, covariance, measurement, noise_std)
    means, covariances = mean[None].copy(), covariance[None].copy()
    kernels._update_many(means, covariances, measurement[None], noise_std[None], np.array([10.0]), np.array([1e6]))
    np.testing.assert_allclose(means[0], expected_mean, atol=1e-10)
    np.testing.assert_allclose(covariances[0], expected_covariance, atol=1e-10)


def test_a_yaw_across_the_track_is_not_used():
    mean, covariance = np.zeros(7), np.diag([1.0, 1.0, 1.0, 0.01, 1.0, 1.0, 0.1])
    means, covariances = mean[None].copy(), covariance[None].copy()
    measurement = np.array([[np.nan, np.nan, np.nan, math.pi / 2, np.nan, np.nan, np.nan]])  # a box fitted across
    kernels._update_many(means, covariances, measurement, np.full((1, 7), 0.1), np.array([0.5]), np.array([1e6]))
    assert means[0, 3] == 0.0 and covariances[0, 3, 3] == 0.01



def test_a_velocity_far_from_the_tracks_is_not_used_and_a_near_one_is():
    mean, covariance = np.zeros(7), np.diag([1.0, 1.0, 1.0, 0.01, 0.25, 0.25, 0.1])
    mean[4] = 6.0
    noise_std = np.full((1, 7), 0.6)
    far = np.array([[np.nan, np.nan, np.nan, np.nan, 0.3, 1.2, np.nan]])  # 5.8 m/s off: 7.4 std of the innovation
    means, covariances = mean[None].copy(), covariance[None].copy()
    kernels._update_many(means, covariances, far, noise_std, np.array([0.5]), np.array([4.0]))
    np.testing.assert_array_equal(means[0], mean)
    near = np.array([[np.nan, np.nan, np.nan, np.nan, 5.5, 0.5, np.nan]])
    kernels._update_many(means, covariances, near, noise_std, np.array([0.5]), np.array([4.0]))
    assert means[0, 4] < 6.0 and means[0, 5] > 0.0

def test_update_moves_a_flipped_yaw_next_to_the_track():
    mean, covariance = np.zeros(7), np.eye(7)
    mean[3] = 0.1
    means, covariances = mean[None].copy(), covariance[None].copy()
    measurement = np.array([[np.nan, np.nan, np.nan, 0.1 + math.pi, np.nan, np.nan, np.nan]])  # the same heading, turned round
    kernels._update_many(means, covariances, measurement, np.full((1, 7), 0.1), np.array([0.5]), np.array([1e6]))
    assert means[0, 3] == pytest.approx(0.1)


@pytest.mark.parametrize("count", [1, 2, 40])
def test_filter_and_smooth_matches_the_numpy_twin(count):
    rng = np.random.default_rng(count)
    steps_s = np.cumsum(rng.uniform(0.05, 0.15, count))
    observation_at = np.full(count, -1, np.int64)
    observed = np.sort(np.concatenate([[0], rng.choice(np.arange(1, count), size=max(0, (count - 1) * 2 // 3), replace=False)])) if count > 1 else np.array([0])
    observation_at[observed] = np.arange(len(observed))
    measurements = rng.normal(size=(len(observed), 7)) * [5, 5, 0.2, 3, 2, 2, 0]
    measurements[rng.random(len(observed)) < 0.5, 4:6] = np.nan  # radar on some detections only
    measurements[rng.random(len(observed)) < 0.3, 6] = np.nan  # the lateral pseudo-measurement on some
    measurements[:, 3] += math.pi * (rng.random(len(observed)) < 0.2)  # flipped yaws
    noise_std = rng.uniform(0.1, 0.5, (len(observed), 7))
    mean, covariance = motion.initial_state(measurements[0], noise_std[0], 10.0)
    means, covariances, aligned = kernels._filter_and_smooth(steps_s, observation_at, measurements, noise_std, mean, covariance, 3.0, 1.0, 0.2, 10.0, 1e6)
    expected_means, expected_covariances = _numpy_smoother(steps_s, observation_at, measurements, noise_std, mean, covariance, 3.0, 1.0, 0.2)
    np.testing.assert_allclose(means, expected_means, atol=1e-8)
    np.testing.assert_allclose(covariances, expected_covariances, atol=1e-8)
    assert np.isnan(aligned[observation_at < 0]).all()
    assert np.isfinite(aligned[observation_at >= 0, :4]).all()


def test_smooth_checks_its_rows():
    table = ClassTracking()
    with pytest.raises(ValueError, match="increasing"):
        smooth(np.array([0, 1]), np.array([3, 3]), np.arange(5) * 0.1, np.zeros((2, 7)), np.ones((2, 7)), table)
    with pytest.raises(ValueError, match="at least one"):
        smooth(np.zeros(0, np.int64), np.zeros(0, np.int64), np.arange(5) * 0.1, np.zeros((0, 7)), np.ones((0, 7)), table)


def test_smooth_interpolates_a_gap_with_larger_covariance():
    table = ClassTracking()
    times = np.arange(20) * 0.1
    frames = np.array([0, 1, 2, 3, 4, 15, 16, 17, 18, 19])
    measurements = np.column_stack([5.0 * times[frames], np.zeros((10, 2)), np.zeros(10), np.full((10, 2), np.nan), np.zeros(10)])
    result = smooth(np.arange(10), frames, times, measurements, np.full((10, 7), 0.1), table)
    assert len(result) == 20 and result.observed.sum() == 10
    np.testing.assert_allclose(result.means[:, 0], 5.0 * times, atol=0.05)
    spread = result.covariances[:, 0, 0]
    assert spread[10] > 3 * spread[2]


def _numpy_quantile(values, weights, quantile):
    keep = weights > 0
    if not keep.any():
        return np.nan
    order = np.argsort(values[keep], kind="stable")
    ordered, ordered_weights = values[keep][order], weights[keep][order]
    midpoints = np.cumsum(ordered_weights) - 0.5 * ordered_weights
    return float(np.interp(quantile * ordered_weights.sum(), midpoints, ordered))


def _numpy_size_vote(sizes, points, side, typical, prior, full_points, quantile, lower_quantile, minimum):
    """The size rule of shape.consolidated_size, written out with NumPy."""
    weights = np.maximum(points.astype(float), 1.0)
    full = points >= full_points
    result = np.empty(3)
    for axis in range(3):
        votes = np.where(full & (side if axis == 0 else True), weights, 0.0)
        voted = _numpy_quantile(np.append(sizes[:, axis], typical[axis]), np.append(votes, prior), quantile)
        if np.isnan(voted):
            voted = np.median(sizes[:, axis]) if len(sizes) else typical[axis]
        lower = _numpy_quantile(sizes[:, axis], weights, lower_quantile) if len(sizes) else 0.0
        result[axis] = max(voted, lower, minimum[axis])
    return result


@pytest.mark.parametrize("count", [0, 1, 2, 7, 40])
@pytest.mark.parametrize("prior", [0.0, 100.0])
def test_size_vote_matches_the_numpy_twin(count, prior):
    rng = np.random.default_rng(count + int(prior))
    sizes = rng.uniform(0.2, 6.0, (count, 3))
    points = rng.integers(0, 600, count).astype(float)
    side = rng.random(count) < 0.6
    typical, minimum = np.array([4.5, 1.9, 1.6]), np.array([3.0, 1.4, 1.0])
    arguments = (sizes, points, side, typical, prior, 150.0, 0.5, 0.8, minimum)
    np.testing.assert_allclose(kernels._size_vote(*arguments), _numpy_size_vote(*arguments), atol=1e-12)


def test_weighted_quantile_ignores_zero_weights_and_holds_at_the_ends():
    values = np.array([10.0, 1.0, 2.0, 3.0])
    weights = np.array([0.0, 1.0, 1.0, 1.0])
    assert kernels._weighted_quantile(values, weights, 0.5) == pytest.approx(2.0)
    assert kernels._weighted_quantile(values, weights, 0.0) == pytest.approx(1.0)
    assert kernels._weighted_quantile(values, weights, 1.0) == pytest.approx(3.0)
    assert np.isnan(kernels._weighted_quantile(values, np.zeros(4), 0.5))
    assert kernels._weighted_quantile(values, weights, 0.5) == pytest.approx(_numpy_quantile(values, weights, 0.5))
