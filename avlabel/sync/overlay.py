"""Overlay of a synced sweep and its cuboids on a camera image, for eyes and reports.

The sweep's de-skewed points are projected through the ego motion between the sweep's
time and the image's capture time (`avlabel.geometry.projection`), drawn as dots coloured
by depth (near red, far blue), farthest first. Cuboids (world frame, at the sweep's time)
are moved to the capture time with their velocity where it is known, then drawn as
wireframes in their class colour, the front face crossed, with their track id.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from avlabel.geometry.projection import project_cuboids, project_points
from avlabel.io.errors import InputError
from avlabel.io.logstore import DriveLog
from avlabel.structs import Cuboid, LabelFrame, Labels
from avlabel.sync.frames import LogSync
from avlabel.sync.settings import SyncConfig

# RGB, one per class (nuScenes' devkit palette where it has one).
CLASS_COLORS = {
    "car": (255, 158, 0),
    "truck": (255, 99, 71),
    "pedestrian": (0, 0, 230),
    "cyclist": (220, 20, 60),
    "other": (160, 160, 160),
}
UNKNOWN_CLASS_COLOR = (255, 0, 255)


def render_overlay(
    log: DriveLog,
    frame_index: int,
    camera: str,
    labels: Labels | None = None,
    *,
    config: Any = None,
    lidar: str | None = None,
    point_radius: int | None = None,
    max_depth_m: float = 60.0,
) -> np.ndarray:
    """Image (H, W, 3) uint8 RGB of camera `camera` nearest sweep `frame_index` of `lidar`.

    labels: cuboids to draw (the frame at the sweep's time); None draws the log's truth
    when it has some. config: a SyncConfig, or a whole avlabel Config (its `sync` is used).
    point_radius: dot radius in pixels (default: 1 below 1280 pixels of width, else 2).
    Raises InputError with one line for a camera the log does not have, a sensor that is no
    camera, a sweep with no image within tolerance, or a sweep outside the ego poses.
    """
    sync_config = _sync_config(config)
    calibration = log.calibrations.get(camera)
    if calibration is None:
        cameras = ", ".join(log.sensors("camera")) or "none"
        raise InputError(f"{log.path}: no sensor named {camera!r} (cameras: {cameras})")
    if calibration.kind != "camera":
        raise InputError(f"{log.path}: {camera!r} is a {calibration.kind}, not a camera (cameras: {', '.join(log.sensors('camera')) or 'none'})")
    if camera not in log.sensors("camera"):
        raise InputError(f"{log.path}: camera {camera!r} is calibrated but has no images")
    sync = LogSync(log, sync_config, lidar=lidar)
    if not -len(sync) <= frame_index < len(sync):
        raise InputError(f"{log.path}: --frame {frame_index}: the log has {len(sync)} sweeps of {sync.lidar} (0..{len(sync) - 1})")
    frame = sync.frame(frame_index)
    if frame is None:
        raise InputError(f"{log.path}: sweep {frame_index} lies outside the ego poses; it cannot be projected")
    match = frame.cameras.get(camera)
    if match is None:
        tolerance_ms = sync_config.tolerance_for(camera, "camera") / 1e3
        raise InputError(f"{log.path}: camera {camera!r} has no image within {tolerance_ms:g} ms of sweep {frame.index} (sync.tolerance_us.camera)")
    image = log.camera_image(match.index, camera).image.copy()
    world_from_ego_camera = sync.poses.at(match.timestamp_us)

    # Points, far first so near ones stay on top.
    uv, depth, _ = project_points(frame.points, calibration, frame.world_from_ego, world_from_ego_camera, near_m=sync_config.near_m)
    order = np.argsort(-depth)
    colors = depth_colors(depth[order], max_depth_m)
    width = image.shape[1]
    radius = point_radius if point_radius is not None else (1 if width < 1280 else 2)
    scale = float(np.clip(width / 1200.0, 0.3, 0.6))
    for (u, v), color in zip(np.rint(uv[order]).astype(np.int32), colors):
        if radius <= 1:
            image[v, u] = color
        else:
            cv2.circle(image, (int(u), int(v)), radius, tuple(int(c) for c in color), -1, lineType=cv2.LINE_AA)

    # Cuboids, moved to the capture time.
    if labels is None:
        labels = log.truth()
    label_frame = _frame_at(labels, frame.timestamp_us) if labels is not None else None
    if label_frame is not None and len(label_frame):
        boxes = np.stack([box_at(cuboid, match.offset_us) for cuboid in label_frame.cuboids])
        wireframes = project_cuboids(boxes, calibration, world_from_ego_camera, near_m=sync_config.near_m, front_diagonals=True)
        for cuboid, polylines in zip(label_frame.cuboids, wireframes):
            _draw_cuboid(image, cuboid, polylines, scale)

    caption = f"{camera}  sweep {frame.index}  image {match.index} ({match.offset_us / 1e3:+.1f} ms)"
    _draw_text(image, caption, (6, int(8 + 28 * scale)), (255, 255, 255), scale)
    return image


def box_at(cuboid: Cuboid, later_us: int) -> np.ndarray:
    """(7,) box of a cuboid moved `later_us` microseconds on at its velocity (unchanged without one)."""
    box = cuboid.box
    if cuboid.velocity is not None:
        box[:2] += cuboid.velocity * (later_us / 1e6)
    return box


def depth_colors(depth: np.ndarray, max_depth_m: float = 60.0) -> np.ndarray:
    """(N, 3) uint8 RGB for depths in metres: near red through yellow and green to far blue
    (OpenCV's JET map on the square root of depth, so near detail gets more colours)."""
    scaled = np.sqrt(np.clip(np.asarray(depth, dtype=np.float64) / max_depth_m, 0.0, 1.0))
    indices = np.rint(255 * (1.0 - scaled)).astype(np.uint8)
    bgr = cv2.applyColorMap(indices[:, None], cv2.COLORMAP_JET)[:, 0]
    return bgr[:, ::-1].copy()


def _draw_cuboid(image: np.ndarray, cuboid: Cuboid, polylines: list[np.ndarray], scale: float) -> None:
    if not polylines:
        return
    color = CLASS_COLORS.get(cuboid.label, UNKNOWN_CLASS_COLOR)
    for polyline in polylines:
        # Fixed point with 4 fractional bits keeps sub-pixel accuracy; clip huge values (near-plane ends).
        points = np.clip(np.rint(polyline * 16), -(2**26), 2**26).astype(np.int32)
        cv2.polylines(image, [points], False, color, 2 if scale >= 0.45 else 1, lineType=cv2.LINE_AA, shift=4)
    height, width = image.shape[:2]
    vertices = np.concatenate(polylines)
    on_image = vertices[(vertices[:, 0] >= 0) & (vertices[:, 0] < width) & (vertices[:, 1] >= 0) & (vertices[:, 1] < height)]
    # Name boxes tall enough to read; far ones would only pile their ids on each other.
    if len(on_image) and np.ptp(on_image[:, 1]) >= 40 * scale:
        top = on_image[np.argmin(on_image[:, 1])]
        _draw_text(image, cuboid.track_id, (int(top[0]), max(int(top[1]) - 4, int(28 * scale))), color, scale)


def _draw_text(image: np.ndarray, text: str, origin: tuple[int, int], color: tuple[int, int, int], scale: float) -> None:
    thickness = 1 if scale < 0.45 else 2
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv2.LINE_AA)


def _frame_at(labels: Labels, timestamp_us: int) -> LabelFrame | None:
    """The label frame at a sweep's time (exact, else the nearest within 1 ms)."""
    stamps = labels.timestamps_us
    if not len(stamps):
        return None
    nearest = int(np.argmin(np.abs(stamps - timestamp_us)))
    return labels.frames[nearest] if abs(int(stamps[nearest]) - timestamp_us) <= 1_000 else None


def _sync_config(config: Any) -> SyncConfig:
    if config is None:
        return SyncConfig()
    if isinstance(config, SyncConfig):
        return config
    sync = getattr(config, "sync", None)
    if isinstance(sync, SyncConfig):
        return sync
    raise ValueError(f"config: expected a SyncConfig or an avlabel Config, got {type(config).__name__}")
