"""Helpers the importers share: progress bars, rigid-transform cleanup, image headers, box tests."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import TypeVar

import cv2
import numpy as np

from avlabel.io.errors import InputError
from avlabel.structs import POINT_FIELDS

Item = TypeVar("Item")


def progress_bar(items: Iterable[Item], *, enabled: bool, description: str, total: int | None = None) -> Iterator[Item]:
    """tqdm over `items` when enabled (and a terminal is attached), else the items as they are."""
    if not enabled:
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=description, total=total, unit="frame", leave=False, disable=None)


def nearest_rigid(transform: np.ndarray, where: str, *, tolerance: float = 1e-3) -> np.ndarray:
    """The rigid transform nearest a near-rigid 4x4 (calibration files print 6-7 digits, so
    their rotations are orthonormal only to ~1e-7). Raises InputError when the 3x3 block is
    farther than `tolerance` from a rotation: then it is not a rigid transform at all."""
    rotation = np.asarray(transform, dtype=np.float64)[:3, :3]
    left, _, right = np.linalg.svd(rotation)
    nearest = left @ right
    if np.linalg.det(nearest) < 0 or np.abs(nearest - rotation).max() > tolerance:
        raise InputError(f"{where}: the 3x3 block is not a rotation (orthonormal with det +1, to {tolerance:g})")
    result = np.eye(4)
    result[:3, :3] = nearest
    result[:3, 3] = np.asarray(transform, dtype=np.float64)[:3, 3]
    return result


def image_size(data: bytes, where: str) -> tuple[int, int]:
    """(width, height) of an encoded PNG or JPEG, from its header when possible."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        size = _jpeg_size(data)
        if size is not None:
            return size
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise InputError(f"{where}: not a readable PNG or JPEG image")
    return int(decoded.shape[1]), int(decoded.shape[0])


def image_encoding(data: bytes, where: str) -> str:
    """'png' or 'jpeg', by the file's magic bytes."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:2] == b"\xff\xd8":
        return "jpeg"
    raise InputError(f"{where}: neither a PNG nor a JPEG image (unrecognised header)")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 9 < len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            offset += 2
            continue
        length = struct.unpack(">H", data[offset + 2 : offset + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return int(width), int(height)
        offset += 2 + length
    return None


def lidar_points(xyz_intensity: np.ndarray, *, t_offset_us: np.ndarray | None = None, ring: np.ndarray | None = None) -> np.ndarray:
    """(N, 6) float32 rows in POINT_FIELDS order from (N, >=4) x, y, z, intensity;
    t_offset_us defaults to 0 and ring to -1 (unknown)."""
    count = len(xyz_intensity)
    points = np.empty((count, len(POINT_FIELDS)), dtype=np.float32)
    points[:, :4] = xyz_intensity[:, :4]
    points[:, 4] = 0.0 if t_offset_us is None else t_offset_us
    points[:, 5] = -1.0 if ring is None else ring
    return points


def count_points_in_boxes(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(M,) int number of (N, 3) points inside each box (M, 7) [x, y, z, l, w, h, yaw], same frame."""
    counts = np.zeros(len(boxes), dtype=np.int64)
    xyz = np.asarray(points, dtype=np.float64)[:, :3]
    for index, box in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 7)):
        offset = xyz - box[:3]
        radius = 0.5 * np.linalg.norm(box[3:6])
        near = np.flatnonzero(np.abs(offset).max(axis=1) <= radius)
        cos, sin = np.cos(box[6]), np.sin(box[6])
        local_x = cos * offset[near, 0] + sin * offset[near, 1]
        local_y = -sin * offset[near, 0] + cos * offset[near, 1]
        inside = (np.abs(local_x) <= box[3] / 2) & (np.abs(local_y) <= box[4] / 2) & (np.abs(offset[near, 2]) <= box[5] / 2)
        counts[index] = int(np.count_nonzero(inside))
    return counts
