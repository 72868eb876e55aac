"""Sensor data: calibration, ego poses, LiDAR sweeps, radar scans, camera images, GNSS and IMU.

Conventions (stated here once; the rest of avlabel relies on them):

- Ego frame: x forward, y left, z up (ISO 8855, as nuScenes). World frame: local ENU
  (x east, y north, z up) tangent plane at the log's first GNSS fix.
- Camera frame: OpenCV's, x right, y down, z along the optical axis.
- Transforms: 4x4 float64 arrays named `a_from_b`; `a_from_b @ p_b = p_a`.
- Time: int64 microseconds. Every stream stores the stamps its sensor reported, on the
  sensor's own clock; `Calibration.clock_offset_us` is that clock minus the log clock, so
  `log_time = sensor_stamp - clock_offset_us`.
- Points: N x C row-major float32, columns `POINT_FIELDS`, in the sensor frame *at the
  moment each point was measured* (so a sweep is skewed until de-skewed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avlabel.structs import _checks

SENSOR_KINDS = ("lidar", "radar", "camera", "gnss", "imu")

# Distortion models and their coefficient counts, in OpenCV's order.
#   brown_conrady: k1, k2, p1, p2, k3            (cv2.projectPoints)
#   fisheye:       k1, k2, k3, k4                (cv2.fisheye.projectPoints)
DISTORTION_MODELS = {"none": 0, "brown_conrady": 5, "fisheye": 4}

# LiDAR point columns. t_offset_us: measurement time minus the sweep's timestamp, in
# microseconds (exact in float32 for the +-0.1 s a sweep spans); ring: beam index, -1 unknown.
POINT_FIELDS = ("x", "y", "z", "intensity", "t_offset_us", "ring")
# Radar detection columns, sensor frame. radial_velocity: m/s along the line of sight,
# positive moving away, relative to the sensor (not ego-motion compensated); rcs in dBsm.
RADAR_FIELDS = ("x", "y", "z", "radial_velocity", "rcs")


@dataclass(frozen=True, slots=True, eq=False)
class Calibration(_checks.ArrayEquality):
    """Where a sensor sits on the ego vehicle, its clock offset and (cameras) its lens."""

    sensor: str
    kind: str
    ego_from_sensor: np.ndarray
    clock_offset_us: int = 0
    intrinsics: np.ndarray | None = None  # (3, 3) camera matrix K in pixels
    distortion_model: str = "none"
    distortion: np.ndarray = field(default_factory=lambda: np.zeros(0))
    image_size: tuple[int, int] | None = None  # (width, height) in pixels

    def __post_init__(self) -> None:
        where = f"calibration[{self.sensor!r}]"
        _checks.text(f"{where}.sensor", self.sensor)
        _checks.text(f"{where}.kind", self.kind, choices=SENSOR_KINDS)
        object.__setattr__(self, "ego_from_sensor", _checks.rigid_transform(f"{where}.ego_from_sensor", self.ego_from_sensor))
        object.__setattr__(self, "clock_offset_us", _checks.integer(f"{where}.clock_offset_us", self.clock_offset_us))
        _checks.text(f"{where}.distortion_model", self.distortion_model, choices=tuple(DISTORTION_MODELS))
        count = DISTORTION_MODELS[self.distortion_model]
        object.__setattr__(self, "distortion", _checks.array(f"{where}.distortion", self.distortion, np.float64, (count,)))
        if self.kind == "camera":
            if self.intrinsics is None or self.image_size is None:
                raise ValueError(f"{where}: a camera needs intrinsics (3x3) and image_size (width, height)")
            intrinsics = _checks.array(f"{where}.intrinsics", self.intrinsics, np.float64, (3, 3))
            if intrinsics[0, 0] <= 0 or intrinsics[1, 1] <= 0 or not np.allclose(intrinsics[2], (0, 0, 1)):
                raise ValueError(f"{where}.intrinsics: expected [[fx,s,cx],[0,fy,cy],[0,0,1]] with fx, fy > 0")
            object.__setattr__(self, "intrinsics", intrinsics)
            width, height = (_checks.integer(f"{where}.image_size", value, minimum=1) for value in self.image_size)
            object.__setattr__(self, "image_size", (width, height))
        elif self.intrinsics is not None or self.distortion_model != "none":
            raise ValueError(f"{where}: only cameras have intrinsics and distortion")

    def to_log_time(self, sensor_stamps_us: np.ndarray | int) -> np.ndarray | int:
        """Sensor-clock stamps to the log clock."""
        return sensor_stamps_us - self.clock_offset_us


@dataclass(frozen=True, slots=True, eq=False)
class PoseSeries(_checks.ArrayEquality):
    """Ego poses over time: world_from_ego (N, 4, 4) at timestamps_us (N,), log clock."""

    timestamps_us: np.ndarray
    world_from_ego: np.ndarray

    def __post_init__(self) -> None:
        stamps = _checks.timestamps("poses.timestamps_us", self.timestamps_us)
        matrices = _checks.rigid_transforms("poses.world_from_ego", self.world_from_ego)
        if len(matrices) != len(stamps):
            raise ValueError(f"poses: {len(stamps)} timestamps but {len(matrices)} transforms")
        object.__setattr__(self, "timestamps_us", stamps)
        object.__setattr__(self, "world_from_ego", matrices)

    def __len__(self) -> int:
        return len(self.timestamps_us)


@dataclass(frozen=True, slots=True, eq=False)
class LidarSweep(_checks.ArrayEquality):
    """One LiDAR revolution: points (N, 6) float32, columns POINT_FIELDS, sensor frame."""

    sensor: str
    timestamp_us: int
    points: np.ndarray

    def __post_init__(self) -> None:
        where = f"lidar sweep {self.sensor}@{self.timestamp_us}"
        _checks.text(f"{where}.sensor", self.sensor)
        object.__setattr__(self, "timestamp_us", _checks.integer(f"{where}.timestamp_us", self.timestamp_us))
        _checks.array(f"{where}.points", self.points, np.float32, (None, len(POINT_FIELDS)), convert=False)

    def __len__(self) -> int:
        return len(self.points)

    @property
    def xyz(self) -> np.ndarray:
        """(N, 3) float32 view of the point positions."""
        return self.points[:, :3]

    def point_times_us(self) -> np.ndarray:
        """(N,) int64 sensor-clock time of every point."""
        return self.timestamp_us + np.rint(self.points[:, 4]).astype(np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class RadarScan(_checks.ArrayEquality):
    """One radar scan: detections (N, 5) float32, columns RADAR_FIELDS, sensor frame."""

    sensor: str
    timestamp_us: int
    detections: np.ndarray

    def __post_init__(self) -> None:
        where = f"radar scan {self.sensor}@{self.timestamp_us}"
        _checks.text(f"{where}.sensor", self.sensor)
        object.__setattr__(self, "timestamp_us", _checks.integer(f"{where}.timestamp_us", self.timestamp_us))
        _checks.array(f"{where}.detections", self.detections, np.float32, (None, len(RADAR_FIELDS)), convert=False)

    def __len__(self) -> int:
        return len(self.detections)


@dataclass(frozen=True, slots=True, eq=False)
class CameraImage(_checks.ArrayEquality):
    """One camera frame: image (H, W, 3) uint8 RGB."""

    sensor: str
    timestamp_us: int
    image: np.ndarray

    def __post_init__(self) -> None:
        where = f"camera image {self.sensor}@{self.timestamp_us}"
        _checks.text(f"{where}.sensor", self.sensor)
        object.__setattr__(self, "timestamp_us", _checks.integer(f"{where}.timestamp_us", self.timestamp_us))
        _checks.array(f"{where}.image", self.image, np.uint8, (None, None, 3), convert=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class GnssSeries(_checks.ArrayEquality):
    """GNSS fixes: WGS84 latitude/longitude in degrees, ellipsoidal altitude in metres (N,)."""

    timestamps_us: np.ndarray
    latitude_deg: np.ndarray
    longitude_deg: np.ndarray
    altitude_m: np.ndarray

    def __post_init__(self) -> None:
        stamps = _checks.timestamps("gnss.timestamps_us", self.timestamps_us)
        object.__setattr__(self, "timestamps_us", stamps)
        for name in ("latitude_deg", "longitude_deg", "altitude_m"):
            object.__setattr__(self, name, _checks.array(f"gnss.{name}", getattr(self, name), np.float64, (len(stamps),)))
        if (np.abs(self.latitude_deg) > 90).any() or (np.abs(self.longitude_deg) > 180).any():
            raise ValueError("gnss: latitude must lie in [-90, 90] and longitude in [-180, 180] degrees")

    def __len__(self) -> int:
        return len(self.timestamps_us)


@dataclass(frozen=True, slots=True, eq=False)
class ImuSeries(_checks.ArrayEquality):
    """IMU samples in the IMU frame: orientation as world_from_imu quaternions (w, x, y, z)
    (N, 4), angular velocity rad/s (N, 3), specific force m/s^2 including gravity (N, 3)."""

    timestamps_us: np.ndarray
    orientation_wxyz: np.ndarray
    angular_velocity: np.ndarray
    linear_acceleration: np.ndarray

    def __post_init__(self) -> None:
        stamps = _checks.timestamps("imu.timestamps_us", self.timestamps_us)
        object.__setattr__(self, "timestamps_us", stamps)
        count = len(stamps)
        quaternions = _checks.array("imu.orientation_wxyz", self.orientation_wxyz, np.float64, (count, 4))
        if count and not np.allclose(np.linalg.norm(quaternions, axis=1), 1.0, atol=1e-6):
            raise ValueError("imu.orientation_wxyz: quaternions must have unit norm")
        object.__setattr__(self, "orientation_wxyz", quaternions)
        for name in ("angular_velocity", "linear_acceleration"):
            object.__setattr__(self, name, _checks.array(f"imu.{name}", getattr(self, name), np.float64, (count, 3)))

    def __len__(self) -> int:
        return len(self.timestamps_us)
