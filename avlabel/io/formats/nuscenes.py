"""nuScenes' vocabulary and files, as far as avlabel needs them.

Conventions (nuScenes devkit and schema): global frame z up; poses and calibrations as
translation (x, y, z) plus rotation quaternion (w, x, y, z), `global_from_ego` and
`ego_from_sensor`; box size (width, length, height); timestamps in microseconds.
LiDAR files (.pcd.bin) are float32 rows x, y, z, intensity, ring index. Radar files are
binary PCD v0.7 with the 18 fields of the Continental ARS 408 (RADAR_FIELDS below).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from avlabel.io.atomic import atomic_path

# nuScenes categories -> avlabel classes. Bicycles and motorcycles are "cyclist" with or
# without rider (the cycle.* attribute says which); buses, trailers and large special
# vehicles are "truck"; people on wheels that are not cycles, and animals, are "other".
CATEGORY_TO_CLASS = {
    "vehicle.car": "car",
    "vehicle.emergency.police": "car",
    "vehicle.truck": "truck",
    "vehicle.bus.bendy": "truck",
    "vehicle.bus.rigid": "truck",
    "vehicle.trailer": "truck",
    "vehicle.construction": "truck",
    "vehicle.emergency.ambulance": "truck",
    "human.pedestrian.adult": "pedestrian",
    "human.pedestrian.child": "pedestrian",
    "human.pedestrian.construction_worker": "pedestrian",
    "human.pedestrian.police_officer": "pedestrian",
    "vehicle.bicycle": "cyclist",
    "vehicle.motorcycle": "cyclist",
    "human.pedestrian.personal_mobility": "other",
    "human.pedestrian.stroller": "other",
    "human.pedestrian.wheelchair": "other",
    "animal": "other",
    "movable_object.barrier": "other",
    "movable_object.debris": "other",
    "movable_object.pushable_pullable": "other",
    "movable_object.trafficcone": "other",
    "static_object.bicycle_rack": "other",
}
# avlabel classes -> the category written when a cuboid has no original `nuscenes_category`.
CLASS_TO_CATEGORY = {
    "car": "vehicle.car",
    "truck": "vehicle.truck",
    "pedestrian": "human.pedestrian.adult",
    "cyclist": "vehicle.bicycle",
    "other": "movable_object.debris",
}
# nuScenes categories -> detection-challenge classes (None: not evaluated), as the devkit's
# detection evaluation groups them.
CATEGORY_TO_DETECTION = {
    "vehicle.car": "car",
    "vehicle.truck": "truck",
    "vehicle.bus.bendy": "bus",
    "vehicle.bus.rigid": "bus",
    "vehicle.trailer": "trailer",
    "vehicle.construction": "construction_vehicle",
    "human.pedestrian.adult": "pedestrian",
    "human.pedestrian.child": "pedestrian",
    "human.pedestrian.construction_worker": "pedestrian",
    "human.pedestrian.police_officer": "pedestrian",
    "vehicle.motorcycle": "motorcycle",
    "vehicle.bicycle": "bicycle",
    "movable_object.barrier": "barrier",
    "movable_object.trafficcone": "traffic_cone",
}
# Detection classes -> (attribute when moving, attribute when not), "" for classes without.
DETECTION_ATTRIBUTES = {
    "car": ("vehicle.moving", "vehicle.stopped"),
    "truck": ("vehicle.moving", "vehicle.stopped"),
    "bus": ("vehicle.moving", "vehicle.stopped"),
    "trailer": ("vehicle.moving", "vehicle.parked"),
    "construction_vehicle": ("vehicle.moving", "vehicle.parked"),
    "pedestrian": ("pedestrian.moving", "pedestrian.standing"),
    "motorcycle": ("cycle.with_rider", "cycle.without_rider"),
    "bicycle": ("cycle.with_rider", "cycle.without_rider"),
    "barrier": ("", ""),
    "traffic_cone": ("", ""),
}
ATTRIBUTES = (
    "vehicle.moving", "vehicle.stopped", "vehicle.parked", "cycle.with_rider", "cycle.without_rider",
    "pedestrian.sitting_lying_down", "pedestrian.standing", "pedestrian.moving",
)
# Visibility tokens "1".."4" and their levels (share of the object visible in the 6 images).
VISIBILITY_LEVELS = {"1": "v0-40", "2": "v40-60", "3": "v60-80", "4": "v80-100"}
MOVING_SPEED_M_S = 0.5

# The radar PCD fields, sizes and types (F float, I signed integer), in file order.
RADAR_FIELDS = (
    ("x", 4, "F"), ("y", 4, "F"), ("z", 4, "F"), ("dyn_prop", 1, "I"), ("id", 2, "I"), ("rcs", 4, "F"),
    ("vx", 4, "F"), ("vy", 4, "F"), ("vx_comp", 4, "F"), ("vy_comp", 4, "F"), ("is_quality_valid", 1, "I"),
    ("ambig_state", 1, "I"), ("x_rms", 1, "I"), ("y_rms", 1, "I"), ("invalid_state", 1, "I"), ("pdh0", 1, "I"),
    ("vx_rms", 1, "I"), ("vy_rms", 1, "I"),
)
RADAR_DTYPE = np.dtype([(name, f"<{'f' if kind == 'F' else 'i'}{size}") for name, size, kind in RADAR_FIELDS])


def token(*parts: object) -> str:
    """A deterministic 32-hex-digit token (nuScenes' token form) for a record's identity."""
    return hashlib.md5("/".join(str(part) for part in parts).encode("utf-8")).hexdigest()


def write_lidar_bin(path: str | os.PathLike[str], points: np.ndarray) -> None:
    """Write (N, 5) x, y, z, intensity, ring as little-endian float32 (.pcd.bin)."""
    with atomic_path(path) as temporary:
        np.ascontiguousarray(points, dtype="<f4").tofile(temporary)


def write_radar_pcd(path: str | os.PathLike[str], rows: np.ndarray) -> None:
    """Write radar detections (structured array of RADAR_DTYPE) as a binary PCD v0.7 file.

    An empty scan is written as one all-NaN point, nuScenes' way of storing "no detections"
    (the devkit's reader returns an empty cloud for it). One byte follows the binary block:
    the devkit's reader requires data past the last field it decodes.
    """
    rows = np.asarray(rows, dtype=RADAR_DTYPE)
    if not len(rows):
        rows = np.zeros(1, dtype=RADAR_DTYPE)
        for name in ("x", "y", "z", "rcs", "vx", "vy", "vx_comp", "vy_comp"):
            rows[name] = np.nan
    header = "\n".join([
        "# .PCD v0.7 - Point Cloud Data file format",
        "VERSION 0.7",
        "FIELDS " + " ".join(name for name, _, _ in RADAR_FIELDS),
        "SIZE " + " ".join(str(size) for _, size, _ in RADAR_FIELDS),
        "TYPE " + " ".join(kind for _, _, kind in RADAR_FIELDS),
        "COUNT " + " ".join("1" for _ in RADAR_FIELDS),
        f"WIDTH {len(rows)}",
        "HEIGHT 1",
        "VIEWPOINT 0 0 0 1 0 0 0",
        f"POINTS {len(rows)}",
        "DATA binary",
    ]) + "\n"
    with atomic_path(path) as temporary:
        temporary.write_bytes(header.encode("ascii") + rows.tobytes() + b"\n")


def radial_velocity(positions: np.ndarray, velocities_xy: np.ndarray) -> np.ndarray:
    """Radial velocity (N,) m/s, positive moving away, of detections at (N, 3) sensor-frame
    positions p with (N, 2) velocities vx, vy.

    nuScenes' vx, vy are a detection's velocity relative to the radar, in the radar frame
    (the ARS 408's longitudinal and lateral components; not necessarily along the line of
    sight); the Doppler the radar measured is its component along the line of sight:
    r = (x vx + y vy) / |p|, with vz = 0 (nuScenes' radar is planar, z = 0). Detections at
    the sensor's origin get 0.
    """
    positions = np.asarray(positions, dtype=np.float64)
    velocities_xy = np.asarray(velocities_xy, dtype=np.float64)
    distance = np.linalg.norm(positions, axis=1)
    dot = positions[:, 0] * velocities_xy[:, 0] + positions[:, 1] * velocities_xy[:, 1]
    return np.divide(dot, distance, out=np.zeros(len(positions)), where=distance > 1e-12)


def velocity_components(positions: np.ndarray, radial: np.ndarray) -> np.ndarray:
    """(N, 2) vx, vy for radial velocities (N,) at (N, 3) positions: the horizontal velocity
    along the horizontal bearing that has that Doppler, r |p| (x, y) / (x^2 + y^2) (= r times
    the unit line of sight when z = 0). `radial_velocity` inverts it exactly."""
    positions = np.asarray(positions, dtype=np.float64)
    horizontal = positions[:, 0] ** 2 + positions[:, 1] ** 2
    scale = np.divide(np.asarray(radial, dtype=np.float64) * np.linalg.norm(positions, axis=1), horizontal, out=np.zeros(len(positions)), where=horizontal > 1e-12)
    return positions[:, :2] * scale[:, None]
