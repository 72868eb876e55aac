"""Projection of points and cuboids into cameras, lens distortion included.

The chain, for a point measured by the LiDAR and seen by a camera that fired at another
moment (as nuScenes' `map_pointcloud_to_image` does it):

    ego frame at the LiDAR time  --world_from_ego_lidar-->  world
    world  --inverse(world_from_ego_camera)-->  ego frame at the camera's capture time
    ego  --inverse(ego_from_camera)-->  camera frame (OpenCV: x right, y down, z forward)
    camera  --lens model-->  pixels (u right, v down; pixel centres at integer coordinates)

Lens models follow OpenCV exactly, evaluated here in vectorised NumPy (the tests hold
them to `cv2.projectPoints` / `cv2.fisheye.projectPoints` within 1e-6 px):

- brown_conrady (k1, k2, p1, p2, k3): with x = X/Z, y = Y/Z, r^2 = x^2 + y^2,
  x' = x (1 + k1 r^2 + k2 r^4 + k3 r^6) + 2 p1 x y + p2 (r^2 + 2 x^2), y' likewise.
- fisheye (k1..k4): theta = atan(r), theta_d = theta (1 + k1 theta^2 + ... + k4 theta^8),
  x' = x theta_d / r.
- none: x' = x.

Then [u, v, 1] = K [x', y', 1] (skew K[0, 1] included; OpenCV ignores it, all calibrations
we know of have it zero).

A polynomial lens model stops being one-to-one far outside the field of view: points there
fold back into the image. `valid_radius` finds where the radial mapping stops increasing,
and points beyond it are dropped, as are points closer than `near_m` in front of the camera.
"""

from __future__ import annotations

import functools
import numpy as np

from avlabel.geometry.transforms import invert_rigid
from avlabel.structs import Calibration, box_corners

DEFAULT_NEAR_M = 0.1

# Cuboid edges as corner index pairs (corner order in avlabel.structs.cuboid):
# the front face, the rear face, then the four edges joining them.
CUBOID_EDGES = (
    (0, 1), (1, 2), (2, 3), (3, 0),
    (4, 5), (5, 6), (6, 7), (7, 4),
    (0, 4), (1, 5), (2, 6), (3, 7),
)
# The front face's diagonals, drawn to show which way a box faces.
FRONT_DIAGONALS = ((0, 2), (1, 3))


# --------------------------------------------------------------------------- transforms


def camera_from_ego(calibration: Calibration) -> np.ndarray:
    """(4, 4) camera_from_ego of a camera calibration."""
    _require_camera(calibration)
    return invert_rigid(calibration.ego_from_sensor)


def camera_from_ego_at_lidar_time(
    calibration: Calibration,
    world_from_ego_lidar: np.ndarray | None = None,
    world_from_ego_camera: np.ndarray | None = None,
) -> np.ndarray:
    """(4, 4) transform taking points in the ego frame at the LiDAR time into the camera frame
    at the camera's capture time. With either pose None, the two times are taken as equal."""
    camera_from_ego_camera = camera_from_ego(calibration)
    if world_from_ego_lidar is None or world_from_ego_camera is None:
        return camera_from_ego_camera
    return camera_from_ego_camera @ invert_rigid(world_from_ego_camera) @ np.asarray(world_from_ego_lidar, dtype=np.float64)


# --------------------------------------------------------------------------- lens models


def distort(normalized: np.ndarray, model: str, coefficients: np.ndarray) -> np.ndarray:
    """Apply a lens model to (N, 2) normalised coordinates (X/Z, Y/Z); returns (N, 2) float64.

    model: "none", "brown_conrady" (k1, k2, p1, p2, k3) or "fisheye" (k1, k2, k3, k4), as OpenCV.
    """
    normalized = np.asarray(normalized, dtype=np.float64)
    x, y = normalized[:, 0], normalized[:, 1]
    if model == "none":
        return normalized.copy()
    if model == "brown_conrady":
        k1, k2, p1, p2, k3 = coefficients
        x_squared, y_squared, xy = x * x, y * y, x * y
        radius_squared = x_squared + y_squared
        radial = 1.0 + radius_squared * (k1 + radius_squared * (k2 + radius_squared * k3))
        distorted_x = x * radial + 2.0 * p1 * xy + p2 * (radius_squared + 2.0 * x_squared)
        distorted_y = y * radial + p1 * (radius_squared + 2.0 * y_squared) + 2.0 * p2 * xy
        return np.column_stack([distorted_x, distorted_y])
    if model == "fisheye":
        k1, k2, k3, k4 = coefficients
        radius = np.hypot(x, y)
        theta = np.arctan(radius)
        theta_squared = theta * theta
        theta_distorted = theta * (1.0 + theta_squared * (k1 + theta_squared * (k2 + theta_squared * (k3 + theta_squared * k4))))
        # theta_d / r -> 1 as r -> 0 (theta ~ r there).
        scale = np.divide(theta_distorted, radius, out=np.ones_like(radius), where=radius > 1e-12)
        return normalized * scale[:, None]
    raise ValueError(f"lens model {model!r}: expected none, brown_conrady or fisheye")


@functools.lru_cache(maxsize=64)
def _valid_radius_cached(model: str, coefficients: tuple[float, ...]) -> float:
    if model == "none":
        return np.inf
    if model == "fisheye":
        # theta_d(theta) on theta in [0, pi/2): first theta where it stops increasing.
        theta = np.linspace(0.0, np.pi / 2, 20001)[1:-1]
        k1, k2, k3, k4 = coefficients
        squared = theta * theta
        slope = 1 + 3 * k1 * squared + 5 * k2 * squared**2 + 7 * k3 * squared**3 + 9 * k4 * squared**4
        bad = np.flatnonzero(slope <= 0)
        return float(np.tan(theta[bad[0] - 1])) if bad.size else np.inf
    # brown_conrady: r (1 + k1 r^2 + k2 r^4 + k3 r^6) must keep increasing in r.
    k1, k2, _, _, k3 = coefficients
    radius = np.linspace(0.0, 20.0, 200001)[1:]
    squared = radius * radius
    slope = 1 + 3 * k1 * squared + 5 * k2 * squared**2 + 7 * k3 * squared**3
    bad = np.flatnonzero(slope <= 0)
    return float(radius[bad[0] - 1]) if bad.size else np.inf


def valid_radius(calibration: Calibration) -> float:
    """Largest normalised radius sqrt((X/Z)^2 + (Y/Z)^2) the camera's lens model maps one-to-one
    (inf when it never folds back within r <= 20, about 87 degrees off-axis)."""
    return _valid_radius_cached(calibration.distortion_model, tuple(float(value) for value in calibration.distortion))


def pixels_from_camera_points(points_camera: np.ndarray, calibration: Calibration) -> np.ndarray:
    """(N, 2) float64 pixels of (N, 3) camera-frame points with Z > 0, no masking."""
    points_camera = np.asarray(points_camera, dtype=np.float64)
    normalized = points_camera[:, :2] / points_camera[:, 2:3]
    distorted = distort(normalized, calibration.distortion_model, calibration.distortion)
    intrinsics = calibration.intrinsics
    u = intrinsics[0, 0] * distorted[:, 0] + intrinsics[0, 1] * distorted[:, 1] + intrinsics[0, 2]
    v = intrinsics[1, 1] * distorted[:, 1] + intrinsics[1, 2]
    return np.column_stack([u, v])


# --------------------------------------------------------------------------- points


def project_camera_points(
    points_camera: np.ndarray,
    calibration: Calibration,
    *,
    near_m: float = DEFAULT_NEAR_M,
    margin_px: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project (N, 3) camera-frame points; keep those in front, inside the lens model's valid
    radius and on the image (grown by `margin_px`).

    Returns uv (M, 2) float64 pixels, depth (M,) float64 metres along the optical axis, and
    kept (M,) int64 indices into the input rows.
    """
    _require_camera(calibration)
    points_camera = np.asarray(points_camera)
    if points_camera.ndim != 2 or points_camera.shape[1] < 3:
        raise ValueError(f"points: expected shape (N, 3), got {points_camera.shape}")
    depth = points_camera[:, 2].astype(np.float64)
    kept = np.flatnonzero(depth > near_m)
    inside = points_camera[kept, :3].astype(np.float64)
    normalized = inside[:, :2] / inside[:, 2:3]
    limit = valid_radius(calibration)
    if np.isfinite(limit):
        in_model = np.einsum("ij,ij->i", normalized, normalized) <= limit * limit
        kept, normalized = kept[in_model], normalized[in_model]
    distorted = distort(normalized, calibration.distortion_model, calibration.distortion)
    intrinsics = calibration.intrinsics
    u = intrinsics[0, 0] * distorted[:, 0] + intrinsics[0, 1] * distorted[:, 1] + intrinsics[0, 2]
    v = intrinsics[1, 1] * distorted[:, 1] + intrinsics[1, 2]
    width, height = calibration.image_size
    on_image = (u >= -0.5 - margin_px) & (u < width - 0.5 + margin_px) & (v >= -0.5 - margin_px) & (v < height - 0.5 + margin_px)
    kept = kept[on_image]
    return np.column_stack([u[on_image], v[on_image]]), depth[kept], kept


def project_points(
    points_ego: np.ndarray,
    camera_calibration: Calibration,
    world_from_ego_lidar: np.ndarray | None = None,
    world_from_ego_camera: np.ndarray | None = None,
    *,
    near_m: float = DEFAULT_NEAR_M,
    margin_px: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project points into a camera, honouring the ego motion between the two sensor times.

    points_ego: (N, >=3) rows whose first three columns are x, y, z in the ego frame at the
    LiDAR (reference) time. world_from_ego_lidar / world_from_ego_camera: (4, 4) ego poses at
    the LiDAR time and at the camera's capture time (both None: same moment).

    Returns uv (M, 2) float64 pixels, depth (M,) float64 metres along the optical axis, and
    kept (M,) int64 indices of the points that landed on the image, in input order.
    """
    points_ego = np.asarray(points_ego)
    if points_ego.ndim != 2 or points_ego.shape[1] < 3:
        raise ValueError(f"points_ego: expected shape (N, 3) or (N, C >= 3), got {points_ego.shape}")
    camera_from_lidar_ego = camera_from_ego_at_lidar_time(camera_calibration, world_from_ego_lidar, world_from_ego_camera)
    xyz = points_ego[:, :3]
    rotation, translation = camera_from_lidar_ego[:3, :3], camera_from_lidar_ego[:3, 3]
    # Depth first, so only points in front of the camera pay for the full transform.
    depth = xyz @ rotation[2].astype(xyz.dtype) + translation[2]
    in_front = np.flatnonzero(depth > near_m)
    points_camera = xyz[in_front].astype(np.float64) @ rotation.T + translation
    uv, depth_kept, kept = project_camera_points(points_camera, camera_calibration, near_m=near_m, margin_px=margin_px)
    return uv, depth_kept, in_front[kept]


def colorize_points(
    points_ego: np.ndarray,
    image: np.ndarray,
    camera_calibration: Calibration,
    world_from_ego_lidar: np.ndarray | None = None,
    world_from_ego_camera: np.ndarray | None = None,
    *,
    near_m: float = DEFAULT_NEAR_M,
) -> tuple[np.ndarray, np.ndarray]:
    """Colour of every point from a camera image (nearest pixel; no occlusion test).

    points_ego (N, >=3) in the ego frame at the LiDAR time; image (H, W, 3) uint8 RGB.
    Returns colors (N, 3) uint8 (zero where unseen) and seen (N,) bool.
    """
    width, height = camera_calibration.image_size
    if image.shape[:2] != (height, width):
        raise ValueError(f"image: expected {height}x{width} pixels for camera {camera_calibration.sensor!r}, got {image.shape[0]}x{image.shape[1]}")
    uv, _, kept = project_points(points_ego, camera_calibration, world_from_ego_lidar, world_from_ego_camera, near_m=near_m)
    columns = np.clip(np.rint(uv[:, 0]).astype(np.int64), 0, width - 1)
    rows = np.clip(np.rint(uv[:, 1]).astype(np.int64), 0, height - 1)
    colors = np.zeros((len(points_ego), 3), dtype=np.uint8)
    colors[kept] = image[rows, columns]
    seen = np.zeros(len(points_ego), dtype=bool)
    seen[kept] = True
    return colors, seen


# --------------------------------------------------------------------------- segments and cuboids


def project_segments(
    starts_camera: np.ndarray,
    ends_camera: np.ndarray,
    calibration: Calibration,
    *,
    near_m: float = DEFAULT_NEAR_M,
    samples: int = 16,
) -> list[np.ndarray]:
    """Project 3D segments (S, 3) -> (S, 3), camera frame, as 2D polylines.

    Each segment is first clipped against the plane Z = near_m (the part behind is cut off,
    in 3D, before any distortion), then sampled at `samples` + 1 points so that lens
    distortion bends it as the image does; samples beyond the lens model's valid radius
    break the polyline. Returns a list of (K, 2) float64 pixel polylines, K >= 2; a
    segment entirely behind the camera gives none. Polylines may leave the image: drawing
    clips them.
    """
    starts = np.asarray(starts_camera, dtype=np.float64).reshape(-1, 3)
    ends = np.asarray(ends_camera, dtype=np.float64).reshape(-1, 3)
    if starts.shape != ends.shape:
        raise ValueError(f"segments: {len(starts)} starts but {len(ends)} ends")
    start_depth, end_depth = starts[:, 2], ends[:, 2]
    visible = (start_depth > near_m) | (end_depth > near_m)
    starts, ends, start_depth, end_depth = starts[visible], ends[visible], start_depth[visible], end_depth[visible]
    if not len(starts):
        return []
    # Move the end lying behind the near plane onto it.
    crossing = np.divide(near_m - start_depth, end_depth - start_depth, out=np.zeros_like(start_depth), where=end_depth != start_depth)
    clipped_starts = np.where((start_depth <= near_m)[:, None], starts + crossing[:, None] * (ends - starts), starts)
    clipped_ends = np.where((end_depth <= near_m)[:, None], starts + crossing[:, None] * (ends - starts), ends)
    # A hair in front of the plane, so the clipped ends stay projectable.
    clipped_starts[:, 2] = np.maximum(clipped_starts[:, 2], near_m * (1 + 1e-9))
    clipped_ends[:, 2] = np.maximum(clipped_ends[:, 2], near_m * (1 + 1e-9))
    fractions = np.linspace(0.0, 1.0, samples + 1)
    sampled = clipped_starts[:, None, :] + fractions[None, :, None] * (clipped_ends - clipped_starts)[:, None, :]
    flat = sampled.reshape(-1, 3)
    normalized = flat[:, :2] / flat[:, 2:3]
    limit = valid_radius(calibration)
    in_model = (np.einsum("ij,ij->i", normalized, normalized) <= limit * limit) if np.isfinite(limit) else np.ones(len(flat), bool)
    pixels = pixels_from_camera_points(flat, calibration).reshape(len(sampled), samples + 1, 2)
    in_model = in_model.reshape(len(sampled), samples + 1)
    polylines = []
    for segment_pixels, segment_valid in zip(pixels, in_model):
        if segment_valid.all():
            polylines.append(segment_pixels)
            continue
        # Split at samples outside the lens model.
        edges = np.diff(np.concatenate([[0], segment_valid.astype(np.int8), [0]]))
        for begin, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            if end - begin >= 2:
                polylines.append(segment_pixels[begin:end])
    return polylines


def project_cuboids(
    boxes_world: np.ndarray,
    camera_calibration: Calibration,
    world_from_ego_camera: np.ndarray,
    *,
    near_m: float = DEFAULT_NEAR_M,
    samples_per_edge: int = 16,
    front_diagonals: bool = False,
) -> list[list[np.ndarray]]:
    """Wireframes of world-frame boxes (N, 7) in a camera.

    world_from_ego_camera: (4, 4) ego pose at the camera's capture time (the boxes should be
    placed at that moment too; see `avlabel.sync.overlay` for moving them there).
    Returns, per box, a list of (K, 2) float64 pixel polylines (12 edges, plus the two
    front-face diagonals when asked), clipped at the near plane; empty for a box wholly
    behind the camera.
    """
    boxes_world = np.asarray(boxes_world, dtype=np.float64).reshape(-1, 7)
    camera_from_world = camera_from_ego(camera_calibration) @ invert_rigid(world_from_ego_camera)
    pairs = np.array(CUBOID_EDGES + (FRONT_DIAGONALS if front_diagonals else ()), dtype=np.int64)
    wireframes = []
    for corners_world in box_corners(boxes_world).reshape(-1, 8, 3):
        corners_camera = corners_world @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
        wireframes.append(
            project_segments(corners_camera[pairs[:, 0]], corners_camera[pairs[:, 1]], camera_calibration, near_m=near_m, samples=samples_per_edge)
        )
    return wireframes


def project_cuboid_corners(
    boxes_world: np.ndarray, camera_calibration: Calibration, world_from_ego_camera: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of every box corner (N, 8, 2) float64 and whether each is in front of the
    camera and within the lens model (N, 8) bool; no image-bounds test."""
    boxes_world = np.asarray(boxes_world, dtype=np.float64).reshape(-1, 7)
    camera_from_world = camera_from_ego(camera_calibration) @ invert_rigid(world_from_ego_camera)
    corners = box_corners(boxes_world).reshape(-1, 3)
    corners_camera = corners @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
    in_front = corners_camera[:, 2] > DEFAULT_NEAR_M
    safe = np.where(in_front[:, None], corners_camera, (0.0, 0.0, 1.0))
    normalized = safe[:, :2] / safe[:, 2:3]
    limit = valid_radius(camera_calibration)
    valid = in_front & (np.einsum("ij,ij->i", normalized, normalized) <= limit * limit if np.isfinite(limit) else True)
    pixels = pixels_from_camera_points(safe, camera_calibration)
    return pixels.reshape(-1, 8, 2), valid.reshape(-1, 8)


def _require_camera(calibration: Calibration) -> None:
    if not isinstance(calibration, Calibration):
        raise ValueError(f"expected a Calibration, got {type(calibration).__name__}")
    if calibration.kind != "camera" or calibration.intrinsics is None:
        raise ValueError(f"sensor {calibration.sensor!r} is a {calibration.kind}, not a camera with intrinsics: cannot project into it")


__all__ = (
    "CUBOID_EDGES", "DEFAULT_NEAR_M", "FRONT_DIAGONALS", "camera_from_ego", "camera_from_ego_at_lidar_time", "colorize_points",
    "distort", "pixels_from_camera_points", "project_camera_points", "project_cuboid_corners", "project_cuboids",
    "project_points", "project_segments", "valid_radius",
)
