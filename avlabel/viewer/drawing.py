"""Pictures the viewer shows, as numpy arrays (no GUI): point colours, cuboid wireframes
with heading markers, radar arrows, camera overlays and a track's timeline strip.

Colours are RGB; float arrays in [0, 1] for the 3D scene, uint8 for images. Cuboids use
the class colours of the `avlabel project` overlay (avlabel.sync.overlay.CLASS_COLORS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from avlabel.geometry.projection import camera_from_ego_at_lidar_time, project_camera_points, project_cuboid_corners, project_segments
from avlabel.geometry.transforms import invert_rigid
from avlabel.structs import Cuboid, Labels, box_corners
from avlabel.sync.overlay import CLASS_COLORS, UNKNOWN_CLASS_COLOR, box_at, depth_colors

if TYPE_CHECKING:  # frames prepares its camera images with this module's functions
    from avlabel.viewer.frames import CameraView, FrameView

COLOR_MODES = ("height", "intensity", "in_box")
SELECTED_COLOR = (255, 255, 255)
OUTSIDE_BOX_COLOR = (0.35, 0.35, 0.38)
RADAR_COLOR = (0.1, 0.95, 0.95)
HEIGHT_RANGE_M = (-0.5, 3.5)  # above the ego's ground, mapped onto the colour scale
# Wireframe lines per cuboid: 12 edges, the front face's two diagonals, centre to front.
EDGES = np.array(
    [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7), (0, 2), (1, 3), (8, 9)],
    dtype=np.int32,
)
# Timeline colours (RGB) by review state; absent frames dark, keyframes a white tick.
TIMELINE_COLORS = {
    None: (110, 110, 120),  # machine, not reviewed
    "accepted": (60, 180, 75),
    "corrected": (66, 135, 245),
    "created": (145, 30, 180),
    "interpolated": (240, 200, 40),
}
TRACKER_INTERPOLATED_COLOR = (150, 120, 60)


def class_color(label: str) -> tuple[int, int, int]:
    return CLASS_COLORS.get(label, UNKNOWN_CLASS_COLOR)


def _colormap(values: np.ndarray) -> np.ndarray:
    """(N,) in [0, 1] -> (N, 3) float32 RGB in [0, 1] (OpenCV's TURBO map)."""
    indices = np.clip(np.rint(values * 255), 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(indices[:, None], cv2.COLORMAP_TURBO)[:, 0]
    return bgr[:, ::-1].astype(np.float32) / 255.0


def point_colors(frame: FrameView, mode: str, cuboids: tuple[Cuboid, ...] = ()) -> np.ndarray:
    """(N, 3) float32 RGB in [0, 1] for the frame's points.

    height: by height above the ego's ground; intensity: by LiDAR intensity (scaled to the
    sweep's 99th percentile); in_box: class colour inside a cuboid, grey elsewhere.
    """
    if mode not in COLOR_MODES:
        raise ValueError(f"colour mode: expected one of {', '.join(COLOR_MODES)}, got {mode!r}")
    if mode == "height":
        low, high = HEIGHT_RANGE_M
        return _colormap((frame.points_world[:, 2] - frame.ground_z - low) / (high - low))
    if mode == "intensity":
        scale = float(np.percentile(frame.intensity, 99)) if len(frame.intensity) else 1.0
        return _colormap(frame.intensity / max(scale, 1e-6))
    colors = np.empty((len(frame.points_world), 3), np.float32)
    colors[:] = OUTSIDE_BOX_COLOR
    for cuboid, inside in zip(cuboids, points_in_boxes(frame.points_world, [cuboid.box for cuboid in cuboids])):
        colors[inside] = np.array(class_color(cuboid.label), np.float32) / 255.0
    return colors


def points_in_boxes(points: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray]:
    """Indices of the points (N, 3) inside each box (7,), world frame. Points are sorted by
    x once, so each box only tests the slice its extent along x can reach."""
    if not boxes or not len(points):
        return [np.zeros(0, np.int64) for _ in boxes]
    order = np.argsort(points[:, 0], kind="stable")
    sorted_x = points[order, 0]
    result = []
    for box in boxes:
        reach = 0.5 * float(np.hypot(box[3], box[4]))
        start, stop = np.searchsorted(sorted_x, [box[0] - reach, box[0] + reach])
        candidates = order[start:stop]
        offset = points[candidates, :3].astype(np.float64) - box[:3]
        cos, sin = np.cos(box[6]), np.sin(box[6])
        inside = (
            (np.abs(offset[:, 0] * cos + offset[:, 1] * sin) <= box[3] / 2)
            & (np.abs(-offset[:, 0] * sin + offset[:, 1] * cos) <= box[4] / 2)
            & (np.abs(offset[:, 2]) <= box[5] / 2)
        )
        result.append(candidates[inside])
    return result


def cuboid_lines(cuboids: tuple[Cuboid, ...] | list[Cuboid]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wireframes of cuboids with a heading marker (front face crossed, a line from the
    centre to the front): vertices (10 M, 3) float64, lines (15 M, 2) int32 and line colours
    (15 M, 3) float64 in [0, 1] (class colours)."""
    if not cuboids:
        return np.zeros((0, 3)), np.zeros((0, 2), np.int32), np.zeros((0, 3))
    boxes = np.stack([cuboid.box for cuboid in cuboids])
    corners = box_corners(boxes)
    front = boxes[:, :3] + np.column_stack([np.cos(boxes[:, 6]), np.sin(boxes[:, 6]), np.zeros(len(boxes))]) * boxes[:, 3:4] / 2
    vertices = np.concatenate([corners, boxes[:, None, :3], front[:, None, :]], axis=1).reshape(-1, 3)
    lines = (EDGES[None, :, :] + 10 * np.arange(len(boxes), dtype=np.int32)[:, None, None]).reshape(-1, 2)
    colors = np.repeat(np.array([class_color(cuboid.label) for cuboid in cuboids], np.float64) / 255.0, len(EDGES), axis=0)
    return vertices, lines, colors


def radar_arrows(frame: FrameView, seconds: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Velocity arrows of the radar detections: vertices (2 D, 3) from each detection to
    where its radial velocity takes it in `seconds`, and lines (D, 2) int32."""
    count = len(frame.radar_world)
    vertices = np.empty((2 * count, 3), np.float64)
    vertices[0::2] = frame.radar_world
    vertices[1::2] = frame.radar_world + frame.radar_velocity * seconds
    lines = np.arange(2 * count, dtype=np.int32).reshape(-1, 2)
    return vertices, lines


def camera_points_image(camera: CameraView, points_ego: np.ndarray, world_from_ego: np.ndarray, *, max_depth_m: float = 60.0) -> np.ndarray:
    """The camera's image (panel size) with the sweep's points blended over it: one-pixel
    dots coloured by depth (near points win), 60 % over the image so it stays readable.
    Depends on the sweep only, so the read-ahead thread prepares it."""
    image = camera.image.copy()
    height, width = image.shape[:2]
    points_camera, inside = _camera_frame(points_ego, camera, world_from_ego)
    uv, depth, _ = project_camera_points(points_camera[inside], camera.calibration)
    if len(uv):
        order = np.argsort(-depth)
        columns = np.clip(np.rint(uv[order, 0] * camera.scale).astype(np.int64), 0, width - 1)
        rows = np.clip(np.rint(uv[order, 1] * camera.scale).astype(np.int64), 0, height - 1)
        layer = image.copy()
        layer[rows, columns] = depth_colors(depth[order], max_depth_m)
        cv2.addWeighted(layer, 0.6, image, 0.4, 0.0, dst=image)
    return image


def camera_overlay(
    camera: CameraView,
    frame: FrameView,
    cuboids: tuple[Cuboid, ...],
    *,
    selected_track: str | None = None,
    points: bool = True,
) -> np.ndarray:
    """The camera's image (panel size) with the sweep's points (see `camera_points_image`)
    and the cuboids it can see (class colours, the selected one white and thicker, track
    ids), moved to the capture time with their velocity and projected through the ego
    motion between the sweep and the capture."""
    if points:
        base = camera.points_image if camera.points_image is not None else camera_points_image(camera, frame.points_ego, frame.world_from_ego)
        image = base.copy()
    else:
        image = camera.image.copy()
    if cuboids:
        boxes = np.stack([box_at(cuboid, camera.offset_us) for cuboid in cuboids])
        pixels, valid = project_cuboid_corners(boxes, camera.calibration, camera.world_from_ego_camera)
        seen = boxes_in_view(boxes, camera, corners=(pixels, valid))
        # one projection per colour: the selected box last, so it is drawn on top
        groups: dict[tuple[tuple[int, int, int], int], list[int]] = {}
        for index in seen:
            selected = cuboids[index].track_id == selected_track
            key = (SELECTED_COLOR if selected else class_color(cuboids[index].label), 3 if selected else 1)
            groups.setdefault(key, []).append(int(index))
        for (color, thickness), members in sorted(groups.items(), key=lambda item: item[0][1]):
            _draw_wireframes(image, boxes[members], camera, color, thickness)
        _draw_track_ids(image, [cuboids[index] for index in seen], pixels[seen], valid[seen], camera, selected_track)
    _text(image, f"{camera.name}  {camera.offset_us / 1e3:+.0f} ms", (6, 16), (255, 255, 255))
    return image


def _draw_wireframes(image: np.ndarray, boxes: np.ndarray, camera: CameraView, color: tuple[int, int, int], thickness: int) -> None:
    """Edges and front-face diagonals of boxes (M, 7), projected in one go."""
    camera_from_world = invert_rigid(camera.calibration.ego_from_sensor) @ invert_rigid(camera.world_from_ego_camera)
    corners = box_corners(boxes).reshape(-1, 3) @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
    corners = corners.reshape(len(boxes), 8, 3)
    pairs = EDGES[:14]  # 12 edges and the front face's diagonals
    starts = corners[:, pairs[:, 0]].reshape(-1, 3)
    ends = corners[:, pairs[:, 1]].reshape(-1, 3)
    polylines = project_segments(starts, ends, camera.calibration, samples=8)
    if polylines:
        # fixed point with 4 fractional bits (shift=4), huge values (near-plane ends) clipped
        joined = np.clip(np.rint(np.concatenate(polylines) * (camera.scale * 16)), -(2**26), 2**26).astype(np.int32)
        bounds = np.cumsum([0] + [len(line) for line in polylines]).tolist()
        scaled = [joined[start:stop] for start, stop in zip(bounds[:-1], bounds[1:])]
        cv2.polylines(image, scaled, False, color, thickness, lineType=cv2.LINE_AA, shift=4)


def _draw_track_ids(
    image: np.ndarray, cuboids: list[Cuboid], pixels: np.ndarray, valid: np.ndarray, camera: CameraView, selected_track: str | None
) -> None:
    """Each box's track id just above its highest visible corner (corner pixels (M, 8, 2)
    of the camera image and their validity (M, 8), as project_cuboid_corners gives them)."""
    if not cuboids:
        return
    height, width = image.shape[:2]
    pixels = pixels * camera.scale
    on_image = valid & (pixels[..., 0] >= 0) & (pixels[..., 0] < width) & (pixels[..., 1] >= 0) & (pixels[..., 1] < height)
    for cuboid, corners, shown in zip(cuboids, pixels, on_image):
        if not shown.any():
            continue
        top = corners[shown][np.argmin(corners[shown, 1])]
        color = SELECTED_COLOR if cuboid.track_id == selected_track else class_color(cuboid.label)
        _text(image, cuboid.track_id, (int(top[0]), max(int(top[1]) - 4, 12)), color)


def points_in_view(points_ego: np.ndarray, camera: CameraView, world_from_ego: np.ndarray, *, slack: float = 1.3) -> np.ndarray:
    """Indices of the points (N, 3), ego frame at the sweep's time, inside the camera's
    pinhole field of view widened by `slack` (the lens model is applied afterwards to
    these only; this just spares it the points behind and beside the camera)."""
    return np.flatnonzero(_camera_frame(points_ego, camera, world_from_ego, slack=slack)[1])


def _camera_frame(points_ego: np.ndarray, camera: CameraView, world_from_ego: np.ndarray, *, slack: float = 1.3) -> tuple[np.ndarray, np.ndarray]:
    """The points (N, 3), ego frame at the sweep's time, in the camera frame at its capture
    time, (N, 3) float32 (one matrix product), and (N,) bool: inside the camera's pinhole
    field of view widened by `slack` (see points_in_view)."""
    camera_from_ego = camera_from_ego_at_lidar_time(camera.calibration, world_from_ego, camera.world_from_ego_camera)
    points_camera = np.dot(np.asarray(points_ego, np.float32)[:, :3], camera_from_ego[:3, :3].T.astype(np.float32))
    points_camera += camera_from_ego[:3, 3].astype(np.float32)
    intrinsics = camera.calibration.intrinsics
    width, height = camera.calibration.image_size
    half_x = slack * max(intrinsics[0, 2], width - intrinsics[0, 2]) / intrinsics[0, 0]
    half_y = slack * max(intrinsics[1, 2], height - intrinsics[1, 2]) / intrinsics[1, 1]
    depth = points_camera[:, 2]
    inside = (depth > 0.1) & (np.abs(points_camera[:, 0]) < half_x * depth) & (np.abs(points_camera[:, 1]) < half_y * depth)
    return points_camera, inside


def boxes_in_view(boxes: np.ndarray, camera: CameraView, *, corners: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Indices of the world boxes (N, 7) that may show in the camera: a corner projects near
    the image, or the box straddles the camera's near plane. `corners`: the boxes'
    project_cuboid_corners result, when already at hand."""
    if not len(boxes):
        return np.zeros(0, np.int64)
    pixels, valid = corners if corners is not None else project_cuboid_corners(boxes, camera.calibration, camera.world_from_ego_camera)
    width, height = camera.calibration.image_size
    near_image = valid & (pixels[..., 0] > -width / 2) & (pixels[..., 0] < 1.5 * width) & (pixels[..., 1] > -height / 2) & (pixels[..., 1] < 1.5 * height)
    straddles = valid.any(axis=1) & ~valid.all(axis=1)
    return np.flatnonzero(near_image.any(axis=1) | straddles)


def _text(image: np.ndarray, text: str, origin: tuple[int, int], color: tuple[int, int, int]) -> None:
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA)


def timeline(labels: Labels, track_id: str | None, frame_times_us: np.ndarray, current: int, *, width: int = 520, height: int = 46) -> np.ndarray:
    """A track's life across the log as an image (height, width, 3) uint8: one column per
    sweep, coloured by the cuboid's review state (dark where the track has no cuboid,
    brown where the tracker filled a gap), keyframes as white ticks, the current sweep red."""
    image = np.full((height, width, 3), 28, np.uint8)
    count = len(frame_times_us)
    if count == 0:
        return image
    edges = np.linspace(0, width, count + 1).astype(int)
    states: dict[int, Cuboid] = {}
    if track_id is not None:
        for frame in labels.frames:
            for cuboid in frame.cuboids:
                if cuboid.track_id == track_id:
                    states[frame.timestamp_us] = cuboid
    bar_top, bar_bottom = 14, height - 6
    for index, stamp in enumerate(frame_times_us):
        cuboid = states.get(int(stamp))
        if cuboid is None:
            continue
        review = cuboid.attributes.get("review")
        color = TIMELINE_COLORS.get(review, TIMELINE_COLORS[None])
        if review is None and cuboid.attributes.get("state") == "interpolated":
            color = TRACKER_INTERPOLATED_COLOR
        left, right = edges[index], max(edges[index + 1] - (1 if count < width // 3 else 0), edges[index] + 1)
        image[bar_top:bar_bottom, left:right] = color
        if cuboid.attributes.get("keyframe") is True:
            image[4:bar_top - 2, left:right] = (255, 255, 255)
    cursor = min(int((edges[current] + edges[current + 1]) / 2), width - 1) if 0 <= current < count else None
    if cursor is not None:
        image[:, max(cursor - 1, 0):cursor + 1] = (230, 40, 40)
    return image
