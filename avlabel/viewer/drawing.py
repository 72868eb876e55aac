"""Pictures the viewer shows, as numpy arrays (no GUI): point colours, cuboid wireframes
with heading markers, radar arrows, camera overlays and a track's timeline strip.

Colours are RGB; float arrays in [0, 1] for the 3D scene, uint8 for images. Cuboids use
the class colours of the `avlabel project` overlay (avlabel.sync.overlay.CLASS_COLORS).
"""

from __future__ import annotations

import cv2
import numpy as np

from avlabel.geometry.projection import project_cuboids, project_points
from avlabel.structs import Cuboid, Labels, box_corners
from avlabel.sync.overlay import CLASS_COLORS, UNKNOWN_CLASS_COLOR, box_at, depth_colors
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


def camera_overlay(
    camera: CameraView,
    frame: FrameView,
    cuboids: tuple[Cuboid, ...],
    *,
    selected_track: str | None = None,
    max_depth_m: float = 60.0,
    point_stride: int = 1,
) -> np.ndarray:
    """The camera's image (panel size) with the sweep's points (coloured by depth, near
    drawn last) and the cuboids (class colour; the selected one white and thicker; track
    ids) projected into it, through the ego motion between the sweep and the capture."""
    image = camera.image.copy()
    height, width = image.shape[:2]
    # points
    uv, depth, _ = project_points(frame.points_ego[::point_stride], camera.calibration, frame.world_from_ego, camera.world_from_ego_camera)
    if len(uv):
        order = np.argsort(-depth)
        columns = np.rint(uv[order, 0] * camera.scale).astype(np.int64)
        rows = np.rint(uv[order, 1] * camera.scale).astype(np.int64)
        colors = depth_colors(depth[order], max_depth_m)
        for row_step, column_step in ((0, 0), (0, 1), (1, 0), (1, 1)):  # 2 x 2 dots
            rows_here, columns_here = rows + row_step, columns + column_step
            keep = (rows_here < height) & (columns_here < width) & (rows_here >= 0) & (columns_here >= 0)
            image[rows_here[keep], columns_here[keep]] = colors[keep]
    # cuboids, moved to the capture time with their velocity
    if cuboids:
        boxes = np.stack([box_at(cuboid, camera.offset_us) for cuboid in cuboids])
        wireframes = project_cuboids(boxes, camera.calibration, camera.world_from_ego_camera, front_diagonals=True, samples_per_edge=8)
        for cuboid, polylines in sorted(zip(cuboids, wireframes), key=lambda pair: pair[0].track_id == selected_track):
            if not polylines:
                continue
            selected = cuboid.track_id == selected_track
            color = SELECTED_COLOR if selected else class_color(cuboid.label)
            scaled = [np.clip(np.rint(polyline * camera.scale * 16), -(2**26), 2**26).astype(np.int32) for polyline in polylines]
            cv2.polylines(image, scaled, False, color, 3 if selected else 1, lineType=cv2.LINE_AA, shift=4)
            vertices = np.concatenate(polylines) * camera.scale
            seen = vertices[(vertices[:, 0] >= 0) & (vertices[:, 0] < width) & (vertices[:, 1] >= 0) & (vertices[:, 1] < height)]
            if len(seen):
                top = seen[np.argmin(seen[:, 1])]
                _text(image, cuboid.track_id, (int(top[0]), max(int(top[1]) - 4, 12)), color)
    _text(image, f"{camera.name}  {camera.offset_us / 1e3:+.0f} ms", (6, 16), (255, 255, 255))
    return image


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
