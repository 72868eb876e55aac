"""What every exporter needs: the result record, and pairing label frames with sensor data."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from avlabel.io.errors import InputError
from avlabel.io.logstore import DriveLog
from avlabel.structs import Calibration, CameraImage, Cuboid, Labels

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an exporter wrote: where, how many frames and cuboids, and how many cuboids the
    format could not hold (behind the camera for KITTI, no class for nuScenes results...)."""

    path: Path
    frames: int
    cuboids: int
    skipped: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def log_times(log: DriveLog, sensor: str) -> np.ndarray:
    """(n,) int64 stamps of a stream on the log clock."""
    return np.asarray(log.calibrations[sensor].to_log_time(log.timestamps(sensor)), dtype=np.int64)


def nearest_index(stamps: np.ndarray, time_us: int) -> int:
    """Index of the stamp nearest `time_us` (stamps sorted)."""
    position = int(np.searchsorted(stamps, time_us))
    candidates = [index for index in (position - 1, position) if 0 <= index < len(stamps)]
    return min(candidates, key=lambda index: abs(int(stamps[index]) - time_us))


def check_frames(labels: Labels, log: DriveLog, format_name: str) -> tuple[str, np.ndarray, np.ndarray]:
    """The main LiDAR, its log-clock stamps, and for each label frame the index of its sweep.

    Raises InputError when there are no frames, or when a frame is farther from every sweep
    than a sweep period (labels of another log, most likely).
    """
    if not len(labels):
        raise InputError(f"labels: no frames to export to {format_name}")
    lidar = log.lidar
    stamps = log_times(log, lidar)
    period = float(np.median(np.diff(stamps))) if len(stamps) > 1 else 100_000.0
    indices = np.empty(len(labels), dtype=np.int64)
    for position, frame in enumerate(labels.frames):
        index = nearest_index(stamps, frame.timestamp_us)
        gap = abs(int(stamps[index]) - frame.timestamp_us)
        if gap > max(period, 100_000):
            raise InputError(
                f"labels: frame at {frame.timestamp_us} us is {gap / 1000:.0f} ms from the nearest {lidar} sweep of {log.path}: "
                "are these labels of this log?"
            )
        indices[position] = index
    return lidar, stamps, indices


def front_camera(log: DriveLog) -> str | None:
    """The camera looking most nearly along ego +x (ties: name order), None without cameras."""
    cameras = log.sensors("camera")
    if not cameras:
        return None
    # max() keeps the first of equals, and sensors() is in name order.
    return max(cameras, key=lambda name: round(float(log.calibrations[name].ego_from_sensor[0, 2]), 6))


def undistorted(image: CameraImage, calibration: Calibration) -> np.ndarray:
    """(H, W, 3) uint8 RGB image resampled to the distortion-free pinhole camera with the same
    intrinsics (the form KITTI and nuScenes images take). A distortion-free camera's image is
    returned as it is."""
    if calibration.distortion_model == "none":
        return image.image
    intrinsics = calibration.intrinsics
    if calibration.distortion_model == "fisheye":
        return cv2.fisheye.undistortImage(image.image, intrinsics, calibration.distortion, Knew=intrinsics)
    return cv2.undistort(image.image, intrinsics, calibration.distortion, None, intrinsics)


def encode_image(rgb: np.ndarray, encoding: str, *, quality: int = 95) -> bytes:
    """Encode (H, W, 3) RGB as 'png' or 'jpeg' bytes."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if encoding == "png":
        ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    else:
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode an image as {encoding}")
    return data.tobytes()


def exported_image(log: DriveLog, camera: str, index: int, encoding: str) -> bytes:
    """Camera image `index` as distortion-free `encoding` bytes; the stored bytes when they
    already are (no re-encoding)."""
    calibration = log.calibrations[camera]
    data, stored = log.encoded_image(index, camera)
    if stored == encoding and calibration.distortion_model == "none":
        return data
    return encode_image(undistorted(log.camera_image(index, camera), calibration), encoding)


def frame_names(labels: Labels, key: str, width: int = 6) -> list[str]:
    """A file stem per frame: the frame attribute `key` when every frame has a distinct one
    (a KITTI frame id kept by the importer, say), else zero-padded frame indices."""
    names = [frame.attributes.get(key) for frame in labels.frames]
    if all(isinstance(name, str) and name and "/" not in name for name in names) and len(set(names)) == len(names):
        return names  # type: ignore[return-value]
    return [f"{index:0{width}d}" for index in range(len(labels))]


def is_ignore(cuboid: Cuboid) -> bool:
    """An ignore (don't-care) region: label "ignore" or attribute ignore=true."""
    return cuboid.label == "ignore" or cuboid.attributes.get("ignore") is True
