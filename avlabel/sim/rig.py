"""The simulated vehicle's sensors: where they sit, their clocks, rates and lenses.

Mounting positions are in the ego frame (origin on the ground under the rear axle, x forward,
y left, z up). Clock offsets are each sensor's clock minus the log clock; the LiDAR is the
reference (offset 0). Trigger phases place each stream's samples on the log clock:
sample k of a stream at `phase + k / rate` seconds.

The LiDAR spins clockwise seen from above (like a Velodyne), 10 revolutions per second.
A sweep's timestamp is the moment its firing azimuth passes +x (forward); its points span
t_offset in [-50 ms, +50 ms). Ring 0 is the lowest beam. Beam elevations run from -25 to
+3 degrees, densest around -1 degree (near the horizon), and every beam has a small fixed
azimuth offset (staggered firing), as real multi-beam sensors do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avlabel.structs import Calibration

LIDAR, RADAR, GNSS, IMU = "lidar_top", "radar_front", "gnss", "imu"
LIDAR_RATE, RADAR_RATE, CAMERA_RATE, GNSS_RATE, IMU_RATE, POSE_RATE = 10.0, 13.0, 12.0, 10.0, 100.0, 100.0
SWEEP_PERIOD_US = 100_000


@dataclass(frozen=True, slots=True)
class _Mount:
    kind: str
    position: tuple[float, float, float]  # metres, ego frame
    yaw_pitch_roll_deg: tuple[float, float, float]  # sensor frame relative to the ego frame (cameras: see below)
    clock_offset_us: int
    phase_s: float  # first sample on the log clock
    rate_hz: float
    horizontal_fov_deg: float = 0.0  # cameras
    distortion: tuple[float, ...] = ()  # cameras: k1, k2, p1, p2, k3
    principal_offset: tuple[float, float] = (0.0, 0.0)  # cameras: pixels from the image centre


MOUNTS: dict[str, _Mount] = {
    LIDAR: _Mount("lidar", (1.05, 0.0, 1.84), (0.6, 0.3, -0.2), 0, 0.05, LIDAR_RATE),
    RADAR: _Mount("radar", (3.72, 0.0, 0.55), (0.4, -0.5, 0.0), 3170, 0.021, RADAR_RATE),
    "camera_front": _Mount("camera", (1.72, 0.0, 1.52), (0.0, 2.5, 0.0), -1840, 0.012, CAMERA_RATE, 70.0,
                           (-0.27, 0.085, 0.0006, -0.0004, -0.011), (3.2, -2.6)),
    "camera_front_left": _Mount("camera", (1.55, 0.72, 1.45), (55.0, 3.0, 0.0), 2410, 0.036, CAMERA_RATE, 80.0,
                                (-0.22, 0.05, -0.0005, 0.0003, -0.004), (-2.1, 1.7)),
    "camera_front_right": _Mount("camera", (1.55, -0.72, 1.45), (-55.0, 3.0, 0.0), 4230, 0.059, CAMERA_RATE, 80.0,
                                 (-0.225, 0.052, 0.0004, 0.0005, -0.0042), (1.4, 2.3)),
    "camera_rear": _Mount("camera", (-0.95, 0.0, 1.38), (180.0, 6.0, 0.0), -3120, 0.071, CAMERA_RATE, 80.0,
                          (-0.21, 0.048, 0.0002, -0.0002, -0.004), (-1.0, -1.5)),
    GNSS: _Mount("gnss", (0.2, 0.0, 1.95), (0.0, 0.0, 0.0), 1250, 0.035, GNSS_RATE),
    IMU: _Mount("imu", (0.6, 0.0, 0.45), (0.3, 0.0, 0.0), -2260, 0.0043, IMU_RATE),
}
CAMERAS = tuple(name for name, mount in MOUNTS.items() if mount.kind == "camera")

# Camera axes (OpenCV: x right, y down, z forward) in the ego frame before the mount's turn.
_EGO_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def rotation_from_yaw_pitch_roll(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Rz(yaw) @ Ry(pitch) @ Rx(roll) for arrays of angles (N,) -> (N, 3, 3) (or (3, 3))."""
    yaw, pitch, roll = np.asarray(yaw, dtype=np.float64), np.asarray(pitch, dtype=np.float64), np.asarray(roll, dtype=np.float64)
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    rotation = np.empty(np.broadcast(yaw, pitch, roll).shape + (3, 3))
    rotation[..., 0, 0] = cy * cp
    rotation[..., 0, 1] = cy * sp * sr - sy * cr
    rotation[..., 0, 2] = cy * sp * cr + sy * sr
    rotation[..., 1, 0] = sy * cp
    rotation[..., 1, 1] = sy * sp * sr + cy * cr
    rotation[..., 1, 2] = sy * sp * cr - cy * sr
    rotation[..., 2, 0] = -sp
    rotation[..., 2, 1] = cp * sr
    rotation[..., 2, 2] = cp * cr
    return rotation


def calibration(name: str, image_size: tuple[int, int] | None = None) -> Calibration:
    """The calibration of rig sensor `name`; cameras need `image_size` (width, height).
    A camera's pitch tilts it down by that many degrees."""
    mount = MOUNTS[name]
    yaw, pitch, roll = np.radians(mount.yaw_pitch_roll_deg)
    matrix = np.eye(4)
    matrix[:3, 3] = mount.position
    if mount.kind != "camera":
        matrix[:3, :3] = rotation_from_yaw_pitch_roll(yaw, pitch, roll)
        return Calibration(name, mount.kind, matrix, clock_offset_us=mount.clock_offset_us)
    if image_size is None:
        raise ValueError(f"camera {name}: pass image_size=(width, height)")
    matrix[:3, :3] = rotation_from_yaw_pitch_roll(yaw, pitch, roll) @ _EGO_FROM_OPTICAL
    width, height = image_size
    focal = (width / 2) / np.tan(np.radians(mount.horizontal_fov_deg) / 2)
    scale = width / 960.0
    intrinsics = np.array([
        [focal, 0.0, width / 2 + mount.principal_offset[0] * scale],
        [0.0, focal * 1.0006, height / 2 + mount.principal_offset[1] * scale],
        [0.0, 0.0, 1.0],
    ])
    return Calibration(name, "camera", matrix, clock_offset_us=mount.clock_offset_us, intrinsics=intrinsics,
                       distortion_model="brown_conrady", distortion=np.array(mount.distortion), image_size=(width, height))


def sample_times(name: str, seconds: float) -> np.ndarray:
    """Log-clock sample times (seconds from the log start) of a stream within [0, seconds].
    LiDAR sweeps also keep their whole revolution inside: stamps from 0.05 to seconds - 0.05."""
    mount = MOUNTS[name]
    period_us = 1e6 / mount.rate_hz
    last = seconds - (0.05 if mount.kind == "lidar" else 0.0)
    count = int(np.floor((last - mount.phase_s) * mount.rate_hz + 1e-9)) + 1
    return np.round(mount.phase_s * 1e6 + np.arange(max(count, 0)) * period_us) / 1e6


@dataclass(frozen=True, slots=True)
class LidarBeams:
    """Beam pattern: elevation (B,) radians, ascending (ring 0 lowest), and a fixed azimuth
    offset (B,) radians per beam."""

    elevations: np.ndarray
    azimuth_offsets: np.ndarray


def lidar_beams(count: int) -> LidarBeams:
    """`count` beams from -25 to +3 degrees, denser near the horizon (spacing about 0.3 deg
    there with 64 beams, 0.9 deg at the bottom)."""
    fine = np.linspace(-25.0, 3.0, 4001)
    density = 0.35 + 1.0 / (1.0 + ((fine + 1.0) / 4.5) ** 2)
    cumulative = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2)])
    elevations = np.interp(np.linspace(0.0, cumulative[-1], count), cumulative, fine)
    offsets = np.array([(-1.5, -0.5, 0.5, 1.5)[ring % 4] for ring in range(count)]) * 0.35
    return LidarBeams(np.radians(elevations), np.radians(offsets))
