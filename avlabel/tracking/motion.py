"""The motion model of a tracked object: a linear Kalman filter in the world frame.

State, float64 (7,), world frame (ENU, z up), declared once here:

    index   0  1  2   3     4   5   6
    state   x  y  z   yaw   vx  vy  yaw_rate
    unit    m  m  m   rad   m/s m/s rad/s

(x, y, z) is the box centre, yaw the heading around +z (0 along +x, counter-clockwise),
kept *unwrapped* inside the filter so that it can be smoothed across +-pi; it is wrapped
into [-pi, pi) only on output. The covariance is (7, 7) in the same order.

Motion: constant velocity in the ground plane, constant yaw rate (a linear stand-in for
a constant-turn-rate model that keeps the Rauch-Tung-Striebel smoother exact), and a
random-walk height. Process noise is white acceleration (`acceleration_noise`, m/s^2) on
vx, vy, white yaw acceleration on the yaw rate, and a random walk on z.

Measurements, float64 (7,), world frame, any subset of

    index        0  1  2  3    4   5   6
    measurement  x  y  z  yaw  vx  vy  lateral_speed

with NaN marking a component that was not measured. vx, vy: radar Doppler, where
associated. lateral_speed: a pseudo-measurement, always 0, for objects that cannot slide
sideways (cars, trucks, bicycles): the velocity across the measured heading,
-sin(yaw_measured) vx + cos(yaw_measured) vy, is 0 within `lateral_velocity_noise`. With
the measured yaw taken as known this row is linear in the state, so the filter stays
linear and the smoother exact; it ties the direction of travel to the box heading (and
is blind to the pi ambiguity, as it should be). Components 0 to 5 observe the state
directly. A measured yaw is ambiguous by pi (box fits cannot tell front from back);
`align_yaw` moves it to the representative closest to the prediction before the update.

Size is not part of the state: one rigid object has one size, estimated once per track
(`avlabel.tracking.consolidation`).
"""

from __future__ import annotations

import math

import numpy as np

STATE = ("x", "y", "z", "yaw", "vx", "vy", "yaw_rate")
STATE_SIZE = len(STATE)
MEASUREMENT = ("x", "y", "z", "yaw", "vx", "vy", "lateral_speed")
MEASUREMENT_SIZE = len(MEASUREMENT)
DIRECT = 6  # components 0..5 observe state components 0..5 directly


def measurement_matrix(measured_yaw: float) -> np.ndarray:
    """(7, 7) measurement matrix; the lateral-speed row uses the (aligned) measured yaw."""
    matrix = np.zeros((MEASUREMENT_SIZE, STATE_SIZE))
    matrix[np.arange(DIRECT), np.arange(DIRECT)] = 1.0
    matrix[6, 4], matrix[6, 5] = -math.sin(measured_yaw), math.cos(measured_yaw)
    return matrix


def transition(dt: float) -> np.ndarray:
    """(7, 7) state transition over `dt` seconds."""
    matrix = np.eye(STATE_SIZE)
    matrix[0, 4] = matrix[1, 5] = matrix[3, 6] = dt
    return matrix


def process_noise(dt: float, acceleration: float, yaw_acceleration: float, vertical: float) -> np.ndarray:
    """(7, 7) discrete white-acceleration process noise over `dt` seconds.

    acceleration: m/s^2 std on vx, vy; yaw_acceleration: rad/s^2 std on the yaw rate;
    vertical: m/sqrt(s) random walk of z.
    """
    dt = abs(dt)
    position, cross, velocity = dt**4 / 4.0, dt**3 / 2.0, dt**2
    noise = np.zeros((STATE_SIZE, STATE_SIZE))
    for position_index, velocity_index, spectral in ((0, 4, acceleration), (1, 5, acceleration), (3, 6, yaw_acceleration)):
        variance = spectral * spectral
        noise[position_index, position_index] = position * variance
        noise[position_index, velocity_index] = noise[velocity_index, position_index] = cross * variance
        noise[velocity_index, velocity_index] = velocity * variance
    noise[2, 2] = vertical * vertical * dt
    return noise


def initial_state(
    measurement: np.ndarray, noise_std: np.ndarray, initial_speed: float, initial_yaw: float = 0.0, initial_yaw_rate: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (7,) and covariance (7, 7) of a track born from one measurement (7,).

    Unmeasured velocity starts at 0 with std `initial_speed` (m/s); the yaw with the
    larger of its measurement's std and `initial_yaw` (rad: one box's yaw may be a
    quarter turn off); the yaw rate at 0 with std `initial_yaw_rate` (rad/s).
    """
    mean = np.zeros(STATE_SIZE)
    variances = np.empty(STATE_SIZE)
    mean[:4] = measurement[:4]
    variances[:4] = noise_std[:4] ** 2
    variances[3] = max(variances[3], initial_yaw**2)
    velocity_known = np.isfinite(measurement[4:6]).all()
    mean[4:6] = measurement[4:6] if velocity_known else 0.0
    variances[4:6] = noise_std[4:6] ** 2 if velocity_known else initial_speed**2
    variances[6] = initial_yaw_rate**2
    return mean, np.diag(variances)


def align_yaw(measured_yaw: float, reference_yaw: float) -> float:
    """The representative of `measured_yaw` modulo pi closest to `reference_yaw` (unwrapped)."""
    return measured_yaw + math.pi * round((reference_yaw - measured_yaw) / math.pi)


def predict(mean: np.ndarray, covariance: np.ndarray, transition_matrix: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Propagate mean (7,) and covariance (7, 7) one step."""
    return transition_matrix @ mean, transition_matrix @ covariance @ transition_matrix.T + noise


def update(mean: np.ndarray, covariance: np.ndarray, measurement: np.ndarray, noise_std: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Fuse one measurement (7,) with std (7,) (NaN components are skipped).

    Returns the updated mean (7,), covariance (7, 7) (Joseph form) and the squared
    Mahalanobis distance of the innovation (0 when nothing was measured). The yaw must
    already be aligned with `align_yaw`; without a measured yaw the lateral row uses the
    state's. (The numba kernels also gate the yaw and the velocity, see kernels._update;
    this matrix form is their reference.)
    """
    observed = np.isfinite(measurement)
    if not observed.any():
        return mean, covariance, 0.0
    matrix = measurement_matrix(measurement[3] if observed[3] else mean[3])[observed]
    innovation = measurement[observed] - matrix @ mean
    innovation_covariance = matrix @ covariance @ matrix.T + np.diag(noise_std[observed] ** 2)
    gain = np.linalg.solve(innovation_covariance, matrix @ covariance).T
    mahalanobis = float(innovation @ np.linalg.solve(innovation_covariance, innovation))
    identity_minus = np.eye(STATE_SIZE) - gain @ matrix
    updated_covariance = identity_minus @ covariance @ identity_minus.T + gain @ np.diag(noise_std[observed] ** 2) @ gain.T
    return mean + gain @ innovation, updated_covariance, mahalanobis
