"""Ego poses, GNSS fixes and IMU samples from the ego trajectory.

- Poses: exact world_from_ego at 100 Hz on the log clock.
- GNSS: the antenna's position as WGS84 latitude/longitude/ellipsoidal altitude, with
  RTK-like error (a slowly wandering bias of about 1 cm plus 1.5 cm horizontal / 3 cm
  vertical white noise). The world frame is ENU at the first fix, so the first fix is the
  origin exactly.
- IMU: world_from_imu orientation (w, x, y, z) with a small wandering heading error,
  angular velocity and specific force (gravity included: about +9.81 m/s^2 along the IMU's
  up axis at rest) in the IMU frame, with biases and white noise.
"""

from __future__ import annotations

import numpy as np
import pymap3d
from scipy.spatial.transform import Rotation

from avlabel.sim.lidar import sensor_poses
from avlabel.sim.rig import rotation_from_yaw_pitch_roll
from avlabel.sim.scenario import Scenario

GRAVITY = 9.80665


def ego_poses(scenario: Scenario, times: np.ndarray) -> np.ndarray:
    """world_from_ego (N, 4, 4) at `times` (seconds)."""
    pose = scenario.ego.sample(times)
    matrices = np.tile(np.eye(4), (len(times), 1, 1))
    matrices[:, :3, :3] = rotation_from_yaw_pitch_roll(pose["yaw"], pose["pitch"], pose["roll"])
    matrices[:, :3, 3] = np.column_stack([pose["x"], pose["y"], pose["z"]])
    return matrices


def gnss_errors(count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 3) east/north/up errors in metres of consecutive 10 Hz fixes."""
    wander = np.cumsum(rng.normal(0.0, 0.002, (count, 3)), axis=0)
    wander -= np.linspace(0.0, 1.0, count)[:, None] * wander[-1:]  # keep the wander bounded
    return wander + rng.normal(0.0, 1.0, (count, 3)) * np.array([0.015, 0.015, 0.03])


def antenna_positions(scenario: Scenario, ego_from_gnss: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(N, 3) world positions of the GNSS antenna."""
    return sensor_poses(scenario, ego_from_gnss, times)[1]


def gnss_fixes(positions: np.ndarray, errors: np.ndarray, origin: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latitude, longitude (degrees) and altitude (m) of noisy ENU positions (N, 3)."""
    measured = positions + errors
    latitude, longitude, altitude = pymap3d.enu2geodetic(measured[:, 0], measured[:, 1], measured[:, 2], *origin)
    return np.asarray(latitude, dtype=np.float64), np.asarray(longitude, dtype=np.float64), np.asarray(altitude, dtype=np.float64)


def imu_samples(scenario: Scenario, ego_from_imu: np.ndarray, times: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orientation (N, 4) wxyz world_from_imu, angular velocity (N, 3) and specific force
    (N, 3) in the IMU frame at `times` (seconds)."""
    step = 0.01
    stacked = np.concatenate([times - step, times, times + step])
    rotations, positions = sensor_poses(scenario, ego_from_imu, stacked)
    count = len(times)
    before, now, after = rotations[:count], rotations[count : 2 * count], rotations[2 * count :]
    position_before, position_now, position_after = positions[:count], positions[count : 2 * count], positions[2 * count :]
    # body rates: vee(R^T dR/dt)
    derivative = np.einsum("nji,njk->nik", now, (after - before) / (2 * step))
    angular_velocity = np.column_stack([(derivative[:, 2, 1] - derivative[:, 1, 2]) / 2, (derivative[:, 0, 2] - derivative[:, 2, 0]) / 2,
                                        (derivative[:, 1, 0] - derivative[:, 0, 1]) / 2])
    acceleration = (position_after - 2 * position_now + position_before) / step**2
    specific_force = np.einsum("nji,nj->ni", now, acceleration + np.array([0.0, 0.0, GRAVITY]))
    # sensor errors: biases, white noise, and a slowly wandering heading
    angular_velocity += rng.normal(0.0, 0.0015, 3) + rng.normal(0.0, 0.003, (count, 3))
    specific_force += rng.normal(0.0, 0.02, 3) + rng.normal(0.0, 0.04, (count, 3))
    heading_error = np.cumsum(rng.normal(0.0, 2e-5, count))
    tilt_error = rng.normal(0.0, 3e-4, (count, 2))
    errors = rotation_from_yaw_pitch_roll(heading_error, tilt_error[:, 0], tilt_error[:, 1])
    measured = np.einsum("nij,njk->nik", errors, now)
    quaternions = Rotation.from_matrix(measured).as_quat()  # x, y, z, w
    orientation = np.column_stack([quaternions[:, 3], quaternions[:, :3]])
    orientation *= np.where(orientation[:, :1] < 0, -1.0, 1.0)
    return orientation, angular_velocity, specific_force
