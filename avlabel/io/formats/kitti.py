"""KITTI's files: object calib and label files, velodyne scans, and the raw recordings'
calibration, timestamps, OXTS packets and tracklets.

KITTI's frames (from its devkits' readmes):

- velodyne: x forward, y left, z up. Scans are (N, 4) float32 rows x, y, z, reflectance.
- camera i, rectified: x right, y down, z forward (OpenCV's). All rectified cameras share
  the orientation of rectified camera 0; `P_i` (3x4) projects from rectified camera 0:
  pixel ~ P_i @ X_rect0, and P_i = K_i [I | t_i], so camera i sits at -t_i in rect0.
- Tr_velo_to_cam (3x4) takes velodyne points into (unrectified) camera 0, R0_rect (3x3)
  rotates camera 0 into rectified camera 0: X_rect0 = R0_rect @ Tr_velo_to_cam @ X_velo.
- Object labels: one line per object, 15 fields (16 with a score):
  type truncated occluded alpha left top right bottom height width length x y z rotation_y,
  location (x, y, z) the *bottom centre* of the box in rectified camera 0, rotation_y the
  yaw around camera y (pointing down) in [-pi, pi], 0 when the box's length runs along
  camera +x. DontCare lines mark 2D image regions that are not labelled (no 3D box:
  dimensions -1, location -1000, rotation_y -10).
- Tracklets (raw recordings): boxes in the velodyne frame, (tx, ty, tz) the bottom centre,
  rz the yaw around velodyne z (0 along velodyne +x), sizes h, w, l.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from avlabel.io.atomic import atomic_path, write_text
from avlabel.io.errors import InputError

# KITTI object/tracklet types -> avlabel classes. DontCare becomes an ignore region.
TYPE_TO_CLASS = {
    "Car": "car",
    "Van": "car",
    "Truck": "truck",
    "Tram": "truck",
    "Pedestrian": "pedestrian",
    "Person_sitting": "pedestrian",
    "Person (sitting)": "pedestrian",  # spelling in tracklet_labels.xml
    "Person": "pedestrian",
    "Cyclist": "cyclist",
    "Misc": "other",
    "DontCare": "ignore",
}
# avlabel classes -> the KITTI type written when a cuboid has no original `kitti_type`.
CLASS_TO_TYPE = {"car": "Car", "truck": "Truck", "pedestrian": "Pedestrian", "cyclist": "Cyclist", "other": "Misc", "ignore": "DontCare"}

LABEL_FIELDS = (
    "type", "truncated", "occluded", "alpha", "left", "top", "right", "bottom",
    "height", "width", "length", "x", "y", "z", "rotation_y",
)
OXTS_FIELDS = (
    "lat", "lon", "alt", "roll", "pitch", "yaw", "vn", "ve", "vf", "vl", "vu", "ax", "ay", "az", "af", "al", "au",
    "wx", "wy", "wz", "wf", "wl", "wu", "pos_accuracy", "vel_accuracy", "navstat", "numsats", "posmode", "velmode", "orimode",
)

# Names KITTI's object, tracking and raw releases use for the same matrices.
_ALIASES = {
    "R0_rect": ("R0_rect", "R_rect", "R0"),
    "Tr_velo_to_cam": ("Tr_velo_to_cam", "Tr_velo_cam"),
    "Tr_imu_to_velo": ("Tr_imu_to_velo", "Tr_imu_velo"),
}


# --------------------------------------------------------------------------- key: values files


def read_key_values(path: str | os.PathLike[str]) -> dict[str, tuple[int, str]]:
    """Lines `key: values` of a KITTI calibration file -> {key: (line number, values text)}."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read as text ({error})") from None
    entries: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, separator, values = line.partition(":")
        if not separator:
            raise InputError(f"{path}: line {number}: expected 'name: values', got {line.strip()[:40]!r}")
        entries[key.strip()] = (number, values.strip())
    return entries


def matrix(path: str | os.PathLike[str], entries: dict[str, tuple[int, str]], key: str, shape: tuple[int, ...], *, needed_for: str = "") -> np.ndarray:
    """The matrix `key` (or one of its aliases) of a key: values file, as float64 of `shape`."""
    names = _ALIASES.get(key, (key,))
    found = next((name for name in names if name in entries), None)
    if found is None:
        purpose = f" ({needed_for})" if needed_for else ""
        raise InputError(f"{path}: {key}: missing matrix{purpose}")
    number, text = entries[found]
    try:
        values = np.array([float(token) for token in text.split()], dtype=np.float64)
    except ValueError:
        bad = next(token for token in text.split() if not _is_number(token))
        raise InputError(f"{path}: line {number} ({found}): {bad!r} is not a number") from None
    count = math.prod(shape)
    if values.size != count:
        raise InputError(f"{path}: line {number} ({found}): expected {count} numbers for a {'x'.join(map(str, shape))} matrix, got {values.size}")
    if not np.isfinite(values).all():
        raise InputError(f"{path}: line {number} ({found}): values must be finite")
    return values.reshape(shape)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def homogeneous(matrix_3x4: np.ndarray) -> np.ndarray:
    """A 3x4 [R | t] as a 4x4 transform."""
    result = np.eye(4)
    result[:3, :] = matrix_3x4
    return result


def camera_from_projection(projection: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a rectified projection P = K [I | t] into K (3, 3) and camera_from_rect0 (4, 4)."""
    intrinsics = np.array(projection[:, :3], dtype=np.float64)
    camera_from_rect0 = np.eye(4)
    camera_from_rect0[:3, 3] = np.linalg.solve(intrinsics, projection[:, 3])
    return intrinsics, camera_from_rect0


def rotation_y_from_yaw(yaw: float, camera_from_ego: np.ndarray) -> float:
    """KITTI rotation_y of a box with heading `yaw` (around ego +z): the angle of the heading
    direction, seen in the camera, around camera y: atan2(-d_z, d_x). camera_from_ego:
    (3, 3) or (4, 4), any frame whose z is up in place of "ego"."""
    heading = np.asarray(camera_from_ego, dtype=np.float64)[:3, :3] @ np.array([np.cos(yaw), np.sin(yaw), 0.0])
    return float(np.arctan2(-heading[2], heading[0]))


def yaw_from_rotation_y(rotation_y: float, ego_from_camera: np.ndarray) -> float:
    """The exact inverse of `rotation_y_from_yaw`: the horizontal heading whose direction in
    the camera lies in the plane of camera y and (cos ry, 0, -sin ry). With a camera level
    in the ego frame this is the plain rotation of that direction; with KITTI's ~1 degree
    of camera tilt it differs from it by ~1e-4 rad, and it makes export-import exact."""
    rotation = np.asarray(ego_from_camera, dtype=np.float64)[:3, :3]
    direction = np.array([np.cos(rotation_y), 0.0, -np.sin(rotation_y)])
    normal = rotation @ np.cross(direction, (0.0, 1.0, 0.0))  # normal of that plane, ego frame
    heading = np.array([-normal[1], normal[0], 0.0])
    if (rotation.T @ heading) @ direction < 0:
        heading = -heading
    return float(np.arctan2(heading[1], heading[0]))


# --------------------------------------------------------------------------- object calibration


def _rect0_from_velodyne(rectification: np.ndarray, camera0_from_velodyne: np.ndarray) -> np.ndarray:
    """(4, 4) velodyne -> rectified camera 0: R_rect (3, 3) after Tr_velo_to_cam (4, 4)."""
    rectifying = np.eye(4)
    rectifying[:3, :3] = rectification
    return rectifying @ camera0_from_velodyne


@dataclass(frozen=True, slots=True)
class ObjectCalibration:
    """One KITTI object calib file: projections P0..P3 (3, 4), R0_rect (3, 3),
    Tr_velo_to_cam and Tr_imu_to_velo as 4x4 (the latter identity when absent)."""

    projections: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    rectification: np.ndarray
    camera0_from_velodyne: np.ndarray
    velodyne_from_imu: np.ndarray

    def rect0_from_velodyne(self) -> np.ndarray:
        """(4, 4) velodyne -> rectified camera 0."""
        return _rect0_from_velodyne(self.rectification, self.camera0_from_velodyne)


def read_object_calibration(path: str | os.PathLike[str]) -> ObjectCalibration:
    """Read calib/<frame>.txt. P2, R0_rect and Tr_velo_to_cam are required; P0, P1, P3
    default to P2 and Tr_imu_to_velo to identity when a file leaves them out."""
    entries = read_key_values(path)
    need = "a KITTI object calib file needs P2, R0_rect and Tr_velo_to_cam"
    projection2 = matrix(path, entries, "P2", (3, 4), needed_for=need)
    projections = tuple(
        matrix(path, entries, f"P{index}", (3, 4)) if f"P{index}" in entries else projection2 for index in range(4)
    )
    rectification = matrix(path, entries, "R0_rect", (3, 3), needed_for=need)
    camera0_from_velodyne = homogeneous(matrix(path, entries, "Tr_velo_to_cam", (3, 4), needed_for=need))
    has_imu = any(name in entries for name in _ALIASES["Tr_imu_to_velo"])
    velodyne_from_imu = homogeneous(matrix(path, entries, "Tr_imu_to_velo", (3, 4))) if has_imu else np.eye(4)
    return ObjectCalibration(projections, rectification, camera0_from_velodyne, velodyne_from_imu)  # type: ignore[arg-type]


def write_object_calibration(path: str | os.PathLike[str], calibration: ObjectCalibration) -> None:
    lines = [f"P{index}: {_numbers(projection)}" for index, projection in enumerate(calibration.projections)]
    lines.append(f"R0_rect: {_numbers(calibration.rectification)}")
    lines.append(f"Tr_velo_to_cam: {_numbers(calibration.camera0_from_velodyne[:3])}")
    lines.append(f"Tr_imu_to_velo: {_numbers(calibration.velodyne_from_imu[:3])}")
    write_text(path, "\n".join(lines) + "\n")


def _numbers(values: np.ndarray) -> str:
    return " ".join(f"{value:.12e}" for value in np.asarray(values, dtype=np.float64).ravel())


# --------------------------------------------------------------------------- object labels


@dataclass(frozen=True, slots=True)
class ObjectLabel:
    """One line of a KITTI label file. Frames and units as in this module's docstring:
    box_2d (left, top, right, bottom) pixels in image_2; dimensions (height, width, length) m;
    location bottom centre (3,) m in rectified camera 0; angles radians."""

    type: str
    truncated: float
    occluded: int
    alpha: float
    box_2d: tuple[float, float, float, float]
    dimensions: tuple[float, float, float]
    location: tuple[float, float, float]
    rotation_y: float
    score: float | None = None
    line: int = 0  # line number in its file, for error messages

    @property
    def is_dont_care(self) -> bool:
        return self.type == "DontCare"


def read_object_labels(path: str | os.PathLike[str]) -> list[ObjectLabel]:
    """Read label_2/<frame>.txt; every line is checked (15 fields, or 16 with a score)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read as text ({error})") from None
    labels = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (15, 16):
            raise InputError(
                f"{path}: line {number}: expected 15 fields ({' '.join(LABEL_FIELDS)}) or 16 with a score, got {len(fields)}"
            )
        try:
            values = [float(value) for value in fields[1:]]
        except ValueError:
            index, bad = next((i, v) for i, v in enumerate(fields[1:], start=1) if not _is_number(v))
            name = LABEL_FIELDS[index] if index < len(LABEL_FIELDS) else "score"
            raise InputError(f"{path}: line {number}: field {name} = {bad!r} is not a number") from None
        if not all(math.isfinite(value) for value in values):
            raise InputError(f"{path}: line {number}: every number must be finite")
        labels.append(
            ObjectLabel(
                type=fields[0],
                truncated=values[0],
                occluded=int(values[1]),
                alpha=values[2],
                box_2d=(values[3], values[4], values[5], values[6]),
                dimensions=(values[7], values[8], values[9]),
                location=(values[10], values[11], values[12]),
                rotation_y=values[13],
                score=values[14] if len(values) == 15 else None,
                line=number,
            )
        )
    return labels


def format_object_label(label: ObjectLabel, *, decimals: int = 2) -> str:
    """One label line. KITTI's own files use 2 decimals; avlabel's exports write more so that
    boxes survive a round trip. KITTI's tools read either."""
    numbers = [label.alpha, *label.box_2d, *label.dimensions, *label.location, label.rotation_y]
    fields = [label.type, f"{label.truncated:.{decimals}f}", str(int(label.occluded))]
    fields += [f"{value:.{decimals}f}" for value in numbers]
    if label.score is not None:
        fields.append(f"{label.score:.{max(decimals, 4)}f}")
    return " ".join(fields)


def write_object_labels(path: str | os.PathLike[str], labels: list[ObjectLabel], *, decimals: int = 2) -> None:
    write_text(path, "".join(format_object_label(label, decimals=decimals) + "\n" for label in labels))


# --------------------------------------------------------------------------- velodyne scans


def read_velodyne(path: str | os.PathLike[str]) -> np.ndarray:
    """(N, 4) float32 x, y, z, reflectance in the velodyne frame."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype="<f4")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error})") from None
    if data.size % 4:
        raise InputError(f"{path}: {data.size * 4} bytes is not a whole number of points (16 bytes each: x y z reflectance float32)")
    points = data.reshape(-1, 4).astype(np.float32)
    if not np.isfinite(points).all():
        raise InputError(f"{path}: {int(np.count_nonzero(~np.isfinite(points).all(axis=1)))} point(s) are NaN or infinite")
    return points


def write_velodyne(path: str | os.PathLike[str], points: np.ndarray) -> None:
    """Write (N, 4) x, y, z, reflectance as little-endian float32."""
    with atomic_path(path) as temporary:
        np.ascontiguousarray(points, dtype="<f4").tofile(temporary)


# --------------------------------------------------------------------------- raw recordings


@dataclass(frozen=True, slots=True)
class RawCalibration:
    """The calibration of one KITTI raw recording day.

    projections: rectified camera index -> P_rect (3, 4); image_sizes: index -> (width, height)
    of the rectified images; rectification: R_rect_00 (3, 3); camera0_from_velodyne,
    velodyne_from_imu: (4, 4).
    """

    projections: dict[int, np.ndarray]
    image_sizes: dict[int, tuple[int, int]]
    rectification: np.ndarray
    camera0_from_velodyne: np.ndarray
    velodyne_from_imu: np.ndarray

    def rect0_from_velodyne(self) -> np.ndarray:
        """(4, 4) velodyne -> rectified camera 0."""
        return _rect0_from_velodyne(self.rectification, self.camera0_from_velodyne)


RAW_CALIBRATION_FILES = ("calib_cam_to_cam.txt", "calib_velo_to_cam.txt", "calib_imu_to_velo.txt")


def find_raw_calibration(drive_directory: str | os.PathLike[str]) -> Path:
    """The folder holding the three calib_*.txt files: the drive folder or its date folder."""
    drive_directory = Path(drive_directory)
    for folder in (drive_directory, drive_directory.parent):
        if all((folder / name).is_file() for name in RAW_CALIBRATION_FILES):
            return folder
    missing = [name for name in RAW_CALIBRATION_FILES if not (drive_directory / name).is_file() and not (drive_directory.parent / name).is_file()]
    raise InputError(
        f"{drive_directory}: calibration: {', '.join(missing or RAW_CALIBRATION_FILES)} not found in the drive folder "
        f"or its parent {drive_directory.parent} (KITTI ships them in the date folder)"
    )


def read_raw_calibration(folder: str | os.PathLike[str]) -> RawCalibration:
    """Read calib_cam_to_cam.txt, calib_velo_to_cam.txt and calib_imu_to_velo.txt of `folder`."""
    folder = Path(folder)
    cameras_path = folder / "calib_cam_to_cam.txt"
    cameras = read_key_values(cameras_path)
    projections, sizes = {}, {}
    for index in range(4):
        if f"P_rect_0{index}" not in cameras:
            continue
        projections[index] = matrix(cameras_path, cameras, f"P_rect_0{index}", (3, 4))
        width, height = matrix(cameras_path, cameras, f"S_rect_0{index}", (2,), needed_for=f"size of rectified camera {index}")
        sizes[index] = (int(round(width)), int(round(height)))
    if not projections:
        raise InputError(f"{cameras_path}: P_rect_00..P_rect_03: missing (no rectified camera projections)")
    rectification = matrix(cameras_path, cameras, "R_rect_00", (3, 3), needed_for="rectifying rotation of camera 0")
    velodyne_path = folder / "calib_velo_to_cam.txt"
    camera0_from_velodyne = _rigid_from_entries(velodyne_path)
    imu_path = folder / "calib_imu_to_velo.txt"
    velodyne_from_imu = _rigid_from_entries(imu_path)
    return RawCalibration(projections, sizes, rectification, camera0_from_velodyne, velodyne_from_imu)


def _rigid_from_entries(path: Path) -> np.ndarray:
    entries = read_key_values(path)
    transform = np.eye(4)
    transform[:3, :3] = matrix(path, entries, "R", (3, 3), needed_for="rotation")
    transform[:3, 3] = matrix(path, entries, "T", (3,), needed_for="translation")
    return transform


def read_timestamps(path: str | os.PathLike[str]) -> np.ndarray:
    """KITTI timestamps.txt ('2011-09-26 13:02:25.964389445' per line, UTC assumed) -> (N,)
    int64 microseconds since the Unix epoch, rounded from the nanoseconds KITTI writes."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read as text ({error})") from None
    stamps = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        text = line.strip()
        whole, _, fraction = text.partition(".")
        try:
            moment = datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
            nanoseconds = int((fraction + "000000000")[:9]) if fraction else 0
        except ValueError:
            raise InputError(f"{path}: line {number}: expected 'YYYY-MM-DD HH:MM:SS.fffffffff', got {text[:40]!r}") from None
        seconds = int(moment.timestamp())
        stamps.append(seconds * 1_000_000 + (nanoseconds + 500) // 1000)
    return np.array(stamps, dtype=np.int64)


def read_oxts_packet(path: str | os.PathLike[str]) -> np.ndarray:
    """One oxts/data/<frame>.txt: (30,) float64 in the order of OXTS_FIELDS."""
    path = Path(path)
    try:
        tokens = path.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read as text ({error})") from None
    if len(tokens) != len(OXTS_FIELDS):
        raise InputError(f"{path}: expected {len(OXTS_FIELDS)} OXTS values ({' '.join(OXTS_FIELDS[:6])} ...), got {len(tokens)}")
    try:
        values = np.array([float(token) for token in tokens])
    except ValueError:
        index, bad = next((i, v) for i, v in enumerate(tokens) if not _is_number(v))
        raise InputError(f"{path}: field {OXTS_FIELDS[index]} = {bad!r} is not a number") from None
    if not np.isfinite(values[:23]).all():
        raise InputError(f"{path}: navigation values (lat .. wu) must be finite")
    return values


@dataclass(frozen=True, slots=True)
class Tracklet:
    """One object of tracklet_labels.xml: poses (M, 6) tx ty tz rx ry rz in the velodyne frame of
    frames first_frame .. first_frame + M - 1 (bottom centre, radians); size (h, w, l) metres;
    per-pose states (0 unset, 1 interpolated, 2 labeled), occlusion and truncation codes."""

    object_type: str
    size_hwl: tuple[float, float, float]
    first_frame: int
    poses: np.ndarray
    states: np.ndarray
    occlusion: np.ndarray
    truncation: np.ndarray


def read_tracklets(path: str | os.PathLike[str]) -> list[Tracklet]:
    """Parse tracklet_labels.xml (boost serialisation) with ElementTree; nothing is evaluated."""
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except ElementTree.ParseError as error:
        raise InputError(f"{path}: not well-formed XML ({error})") from None
    container = root.find("tracklets")
    if container is None:
        raise InputError(f"{path}: tracklets: missing element (expected KITTI's tracklet_labels.xml)")
    tracklets = []
    for index, item in enumerate(container.findall("item")):
        where = f"tracklets/item[{index}]"
        object_type = _xml_text(path, item, "objectType", where)
        size = tuple(_xml_float(path, item, name, where) for name in ("h", "w", "l"))
        if min(size) <= 0:
            raise InputError(f"{path}: {where}: h, w, l must be > 0, got {size}")
        first_frame = int(_xml_float(path, item, "first_frame", where))
        poses_element = item.find("poses")
        if poses_element is None:
            raise InputError(f"{path}: {where}/poses: missing element")
        rows, states, occlusion, truncation = [], [], [], []
        for pose_index, pose in enumerate(poses_element.findall("item")):
            pose_where = f"{where}/poses/item[{pose_index}]"
            rows.append([_xml_float(path, pose, name, pose_where) for name in ("tx", "ty", "tz", "rx", "ry", "rz")])
            states.append(int(_xml_float(path, pose, "state", pose_where, default=2)))
            occlusion.append(int(_xml_float(path, pose, "occlusion", pose_where, default=-1)))
            truncation.append(int(_xml_float(path, pose, "truncation", pose_where, default=-1)))
        tracklets.append(
            Tracklet(
                object_type=object_type,
                size_hwl=size,  # type: ignore[arg-type]
                first_frame=first_frame,
                poses=np.array(rows, dtype=np.float64).reshape(-1, 6),
                states=np.array(states, dtype=np.int64),
                occlusion=np.array(occlusion, dtype=np.int64),
                truncation=np.array(truncation, dtype=np.int64),
            )
        )
    return tracklets


def _xml_text(path: Path, element: ElementTree.Element, name: str, where: str) -> str:
    child = element.find(name)
    if child is None or child.text is None or not child.text.strip():
        raise InputError(f"{path}: {where}/{name}: missing")
    return child.text.strip()


def _xml_float(path: Path, element: ElementTree.Element, name: str, where: str, default: float | None = None) -> float:
    child = element.find(name)
    if child is None or child.text is None:
        if default is not None:
            return default
        raise InputError(f"{path}: {where}/{name}: missing")
    try:
        value = float(child.text)
    except ValueError:
        raise InputError(f"{path}: {where}/{name}: {child.text.strip()[:20]!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{path}: {where}/{name}: must be finite")
    return value
