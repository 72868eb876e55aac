"""Numba kernels of the tracking stage. Private: arrays and scalars in, arrays out.

`smoothing.smooth` checks and prepares the inputs; nothing here validates anything.
State and measurement layouts are those of `avlabel.tracking.motion`:

    state        [x, y, z, yaw, vx, vy, yaw_rate]             (7,)
    measurement  [x, y, z, yaw, vx, vy, lateral_speed]        (7,), NaN = not measured

Measurement noise is diagonal, so an update is a sequence of scalar updates, one per
measured component (exactly the joint update, without a matrix inverse). Components 0..5
observe the state directly; lateral_speed observes -sin(yaw) vx + cos(yaw) vy with the
measured yaw (the state's when the measured one is not used). Two components are gated
against the prediction before any of them is used: the yaw (a box fitted across its
object) and the radar velocity (a Doppler velocity solved from returns that pinned down
only its radial part).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_JIT = {"cache": True, "nogil": True}
_STATE = 7
_MEASURED = 7
_DIRECT = 6


@njit(**_JIT)
def _predict(mean: np.ndarray, covariance: np.ndarray, dt: float, acceleration: float, yaw_acceleration: float, vertical: float) -> None:
    """In place: constant velocity in x, y, constant yaw rate, random-walk z, over `dt` s."""
    # mean <- F mean
    mean[0] += dt * mean[4]
    mean[1] += dt * mean[5]
    mean[3] += dt * mean[6]
    # covariance <- F P F^T: add dt * column j to column i, then the same for rows.
    for position, velocity in ((0, 4), (1, 5), (3, 6)):
        for row in range(_STATE):
            covariance[row, position] += dt * covariance[row, velocity]
        for column in range(_STATE):
            covariance[position, column] += dt * covariance[velocity, column]
    # + Q, white acceleration
    step = abs(dt)
    quarter, half, square = step**4 / 4.0, step**3 / 2.0, step**2
    for position, velocity, spectral in ((0, 4, acceleration), (1, 5, acceleration), (3, 6, yaw_acceleration)):
        variance = spectral * spectral
        covariance[position, position] += quarter * variance
        covariance[position, velocity] += half * variance
        covariance[velocity, position] += half * variance
        covariance[velocity, velocity] += square * variance
    covariance[2, 2] += vertical * vertical * step


@njit(**_JIT)
def _update(
    mean: np.ndarray, covariance: np.ndarray, measurement: np.ndarray, noise_std: np.ndarray, yaw_gate: float, velocity_gate: float, gain: np.ndarray
) -> None:
    """In place: sequential scalar updates with each finite component. gain: (7,) scratch.

    A measured yaw further from the state's than max(3 std of the innovation, yaw_gate)
    radians is not used (a box fitted across instead of along the object); the lateral
    speed then uses the state's yaw. A measured velocity (vx, vy) further from the
    predicted one than `velocity_gate` standard deviations of the innovation (Mahalanobis,
    2 dof) is not used either."""
    yaw_used = math.isfinite(measurement[3])
    if yaw_used:
        yaw_spread = math.sqrt(covariance[3, 3] + noise_std[3] ** 2)
        yaw_used = abs(measurement[3] - mean[3]) <= max(3.0 * yaw_spread, yaw_gate)
    # The velocity's squared Mahalanobis innovation over its measured components.
    first = covariance[4, 4] + noise_std[4] ** 2
    second = covariance[5, 5] + noise_std[5] ** 2
    along, across = measurement[4] - mean[4], measurement[5] - mean[5]
    squared = 0.0
    if math.isfinite(along) and math.isfinite(across):
        cross = covariance[4, 5]
        squared = (second * along * along - 2.0 * cross * along * across + first * across * across) / (first * second - cross * cross)
    elif math.isfinite(along):
        squared = along * along / first
    elif math.isfinite(across):
        squared = across * across / second
    velocity_used = squared <= velocity_gate * velocity_gate
    for component in range(_DIRECT):
        value = measurement[component]
        if not math.isfinite(value) or (component == 3 and not yaw_used) or (component >= 4 and not velocity_used):
            continue
        innovation_variance = covariance[component, component] + noise_std[component] ** 2
        innovation = value - mean[component]
        for row in range(_STATE):
            gain[row] = covariance[row, component] / innovation_variance
        for row in range(_STATE):
            mean[row] += gain[row] * innovation
        for row in range(_STATE):
            for column in range(_STATE):
                covariance[row, column] -= gain[row] * gain[column] * innovation_variance
    if math.isfinite(measurement[6]):
        # Lateral speed: row h = [0, 0, 0, 0, -sin, cos, 0] at the measured yaw, or the
        # state's where the measured one was not used.
        heading = measurement[3] if yaw_used else mean[3]
        across_x, across_y = -math.sin(heading), math.cos(heading)
        innovation_variance = noise_std[6] ** 2
        for row_a, weight_a in ((4, across_x), (5, across_y)):
            for row_b, weight_b in ((4, across_x), (5, across_y)):
                innovation_variance += weight_a * covariance[row_a, row_b] * weight_b
        innovation = measurement[6] - (across_x * mean[4] + across_y * mean[5])
        for row in range(_STATE):
            gain[row] = (covariance[row, 4] * across_x + covariance[row, 5] * across_y) / innovation_variance
        for row in range(_STATE):
            mean[row] += gain[row] * innovation
        for row in range(_STATE):
            for column in range(_STATE):
                covariance[row, column] -= gain[row] * gain[column] * innovation_variance
    # Keep the covariance symmetric against round-off.
    for row in range(_STATE):
        for column in range(row + 1, _STATE):
            average = 0.5 * (covariance[row, column] + covariance[column, row])
            covariance[row, column] = average
            covariance[column, row] = average


@njit(**_JIT)
def _filter_and_smooth(
    steps_s: np.ndarray,
    observation_at: np.ndarray,
    measurements: np.ndarray,
    noise_std: np.ndarray,
    initial_mean: np.ndarray,
    initial_covariance: np.ndarray,
    acceleration: float,
    yaw_acceleration: float,
    vertical: float,
    yaw_gate: float,
    velocity_gate: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kalman filter forward over T steps at times steps_s (T,), then Rauch-Tung-Striebel back.

    observation_at: (T,) index into measurements (K, 7) / noise_std (K, 7) per step, -1 none.
    The first step must be observed; its measurement is already in the initial state.
    Returns smoothed means (T, 7), covariances (T, 7, 7) and the aligned measurements
    (T, 7) (yaw moved by multiples of pi next to the prediction; NaN rows where unobserved).
    """
    count = steps_s.shape[0]
    predicted_means = np.empty((count, _STATE))
    predicted_covariances = np.empty((count, _STATE, _STATE))
    means = np.empty((count, _STATE))
    covariances = np.empty((count, _STATE, _STATE))
    aligned = np.full((count, _MEASURED), np.nan)
    gain = np.empty(_STATE)
    mean = initial_mean.copy()
    covariance = initial_covariance.copy()

    # Forward: predict, align the yaw's pi ambiguity to the prediction, update.
    for step in range(count):
        if step > 0:
            _predict(mean, covariance, steps_s[step] - steps_s[step - 1], acceleration, yaw_acceleration, vertical)
        predicted_means[step] = mean
        predicted_covariances[step] = covariance
        observation = observation_at[step]
        if observation >= 0:
            measurement = measurements[observation].copy()
            measurement[3] += math.pi * np.round((mean[3] - measurement[3]) / math.pi)
            aligned[step] = measurement
            if step > 0:
                _update(mean, covariance, measurement, noise_std[observation], yaw_gate, velocity_gate, gain)
        means[step] = mean
        covariances[step] = covariance

    # Backward: G = P_filtered F^T P_predicted^-1, then correct with the next smoothed step.
    transition = np.eye(_STATE)
    for step in range(count - 2, -1, -1):
        dt = steps_s[step + 1] - steps_s[step]
        transition[0, 4] = dt
        transition[1, 5] = dt
        transition[3, 6] = dt
        smoother_gain = np.linalg.solve(predicted_covariances[step + 1], transition @ covariances[step]).T
        means[step] = means[step] + smoother_gain @ (means[step + 1] - predicted_means[step + 1])
        covariances[step] = covariances[step] + smoother_gain @ (covariances[step + 1] - predicted_covariances[step + 1]) @ smoother_gain.T
    return means, covariances, aligned


@njit(**_JIT)
def _predict_many(
    means: np.ndarray, covariances: np.ndarray, dts: np.ndarray, accelerations: np.ndarray, yaw_accelerations: np.ndarray, verticals: np.ndarray
) -> None:
    """In place: predict K tracks, means (K, 7) and covariances (K, 7, 7), each over dts[k] s
    with its own process noise (K,) values."""
    for track in range(means.shape[0]):
        _predict(means[track], covariances[track], dts[track], accelerations[track], yaw_accelerations[track], verticals[track])


@njit(**_JIT)
def _update_many(
    means: np.ndarray, covariances: np.ndarray, measurements: np.ndarray, noise_std: np.ndarray, yaw_gates: np.ndarray, velocity_gates: np.ndarray
) -> None:
    """In place: update K tracks (K, 7), (K, 7, 7) each with its measurement (K, 7), noise
    (K, 7), yaw gate (K,) and velocity gate (K,); every measured yaw is first moved by
    multiples of pi next to its track's yaw."""
    gain = np.empty(_STATE)
    for track in range(means.shape[0]):
        measurement = measurements[track].copy()
        measurement[3] += math.pi * np.round((means[track, 3] - measurement[3]) / math.pi)
        _update(means[track], covariances[track], measurement, noise_std[track], yaw_gates[track], velocity_gates[track], gain)


@njit(**_JIT)
def _weighted_quantile(values: np.ndarray, weights: np.ndarray, quantile: float) -> float:
    """Quantile of values (K,) under weights (K,): the points (cumulative weight to each
    value's middle, value) of the values with weight > 0, linearly interpolated and held
    at the ends (NaN when no weight is > 0)."""
    total = 0.0
    for weight in weights:
        if weight > 0.0:
            total += weight
    if total <= 0.0:
        return np.nan
    target = quantile * total
    cumulative = 0.0
    have_previous = False
    previous_value = 0.0
    previous_position = 0.0
    for index in np.argsort(values):
        weight = weights[index]
        if weight <= 0.0:
            continue
        position = cumulative + 0.5 * weight
        cumulative += weight
        if position >= target:
            if not have_previous:
                return values[index]
            fraction = (target - previous_position) / (position - previous_position)
            return previous_value + fraction * (values[index] - previous_value)
        previous_value, previous_position, have_previous = values[index], position, True
    return previous_value


@njit(**_JIT)
def _size_vote(
    sizes: np.ndarray,
    num_points: np.ndarray,
    side_visible: np.ndarray,
    typical: np.ndarray,
    prior_points: float,
    full_view_points: float,
    quantile: float,
    lower_bound_quantile: float,
    minimum: np.ndarray,
) -> np.ndarray:
    """(3,) one size from views sizes (K, 3) with points (K,) and side_visible (K,) bool
    (the rule is documented in shape.consolidated_size)."""
    count = sizes.shape[0]
    values = np.empty(count + 1)
    votes = np.empty(count + 1)
    weights = np.empty(count)
    for row in range(count):
        weights[row] = max(float(num_points[row]), 1.0)
    result = np.empty(3)
    for axis in range(3):
        for row in range(count):
            values[row] = sizes[row, axis]
            full = num_points[row] >= full_view_points and (axis != 0 or side_visible[row])
            votes[row] = weights[row] if full else 0.0
        values[count] = typical[axis]
        votes[count] = prior_points
        voted = _weighted_quantile(values, votes, quantile)
        if np.isnan(voted):
            voted = np.median(sizes[:, axis]) if count else typical[axis]
        lower = _weighted_quantile(sizes[:, axis].copy(), weights, lower_bound_quantile) if count else 0.0
        result[axis] = max(voted, lower, minimum[axis])
    return result
