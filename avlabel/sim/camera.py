"""Camera images rendered by casting one ray per pixel through the lens model.

Each pixel's ray comes from undistorting its centre with the camera's Brown-Conrady
coefficients (`cv2.undistortPointsIter`, iterated to convergence), so the rendered image is
distorted exactly as `cv2.projectPoints` with the stored calibration predicts. The shutter
is global: the camera pose and every object are taken at the capture instant (log clock).

Shading: material colour (objects: their instance colour times the part's tint) lit by an
ambient term plus a Lambertian sun term, optionally with cast shadows; road paint and
facade windows are painted from the hit position; asphalt, grass and sidewalks get a
little texture; the sky is a vertical gradient; distant surfaces fade into haze; the sensor
adds slight vignetting and noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from avlabel.sim.actors import instance_color
from avlabel.sim.lidar import sensor_poses
from avlabel.sim.materials import COLOR_OF_MATERIAL, IS_OBJECT_PART, SEMANTIC_OF_MATERIAL, TINT_OF_MATERIAL
from avlabel.sim.raycast import ObjectScene, StaticScene, surface_materials
from avlabel.sim.scenario import Scenario
from avlabel.structs import Calibration

_SUN = np.array([0.45, 0.55, 0.70]) / np.linalg.norm([0.45, 0.55, 0.70])  # map frame, towards the sun
_AMBIENT, _DIFFUSE = 0.42, 0.62
_SKY_HORIZON, _SKY_ZENITH = np.array([0.80, 0.85, 0.90]), np.array([0.34, 0.52, 0.80])
_HAZE_DISTANCE = 700.0
_OBJECT_RANGE = 160.0  # objects farther than this are not placed in the camera's scene


@dataclass(frozen=True, slots=True)
class Rendering:
    """image (H, W, 3) uint8 RGB and instance (H, W) int32 (-1 where no object is seen)."""

    image: np.ndarray
    instance: np.ndarray


def pixel_rays(calibration: Calibration) -> np.ndarray:
    """Unit ray directions (H*W, 3) in the camera frame (x right, y down, z forward) through
    the centre of every pixel, row by row."""
    width, height = calibration.image_size
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    pixels = np.stack([columns.ravel(), rows.ravel()], axis=1).reshape(-1, 1, 2)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-12)
    normalized = cv2.undistortPointsIter(pixels, calibration.intrinsics, calibration.distortion, None, None, criteria).reshape(-1, 2)
    rays = np.column_stack([normalized, np.ones(len(normalized))])
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def render(scenario: Scenario, static: StaticScene, calibration: Calibration, rays: np.ndarray, time: float,
           rng: np.random.Generator | None, *, shadows: bool) -> Rendering:
    """The image of camera `calibration` at log time `time` (seconds). rays: `pixel_rays`.
    rng None renders without sensor noise."""
    width, height = calibration.image_size
    rotations, origins = sensor_poses(scenario, calibration.ego_from_sensor, np.array([time]))
    directions = rays @ rotations[0].T
    ray_origins = np.broadcast_to(origins[0], directions.shape)

    # ---- what each pixel sees
    hits = static.cast(ray_origins, directions)
    half_angle = float(np.arccos(np.clip(rays[:, 2].min(), -1.0, 1.0)))
    objects = ObjectScene(scenario, time, origins[0], _OBJECT_RANGE, rotations[0][:, 2], half_angle)
    hits.take_nearer(objects.cast(ray_origins, directions))
    hit = np.flatnonzero(np.isfinite(hits.distance))
    points = ray_origins[hit] + directions[hit] * hits.distance[hit, None]
    surface_materials(scenario, points, hits, hit)

    # ---- colour and light
    material = hits.material[hit]
    color = COLOR_OF_MATERIAL[material].copy()
    is_object = IS_OBJECT_PART[material] & (hits.instance[hit] >= 0)
    if is_object.any():
        palette = _palette(int(scenario.table.instance.max()) + 1)
        color[is_object] = palette[hits.instance[hit][is_object]] * TINT_OF_MATERIAL[material[is_object], None]
    color *= _texture(points, SEMANTIC_OF_MATERIAL[material], is_object)[:, None]
    sun = scenario.world_from_map[:3, :3] @ _SUN
    lambert = np.clip(hits.normal[hit] @ sun, 0.0, 1.0)
    if shadows:
        lit = lambert > 0
        lit_rows = np.flatnonzero(lit)
        start = points[lit_rows] + hits.normal[hit][lit_rows] * 0.02
        towards = np.broadcast_to(sun, start.shape)
        blocked = np.isfinite(static.cast(start, towards, 400.0).distance) | objects.occludes(start, towards, np.full(len(start), 400.0))
        lambert[lit_rows[blocked]] = 0.0
    color = color * (_AMBIENT + _DIFFUSE * lambert)[:, None]
    haze = 1.0 - np.exp(-hits.distance[hit] / _HAZE_DISTANCE)
    color = color * (1.0 - haze[:, None]) + _SKY_HORIZON * haze[:, None]

    # ---- sky where nothing was hit
    image = np.empty((len(directions), 3))
    image[hit] = color
    sky = np.flatnonzero(~np.isfinite(hits.distance))
    elevation = np.clip(directions[sky, 2], 0.0, 1.0) ** 0.6
    image[sky] = _SKY_HORIZON * (1.0 - elevation[:, None]) + _SKY_ZENITH * elevation[:, None]

    # ---- sensor: vignetting and noise
    image = image.reshape(height, width, 3) * _vignette(width, height)[..., None]
    if rng is not None:
        image += rng.normal(0.0, 0.005, image.shape)
    instance = hits.instance.reshape(height, width).astype(np.int32)
    return Rendering(np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8), instance)


@lru_cache(maxsize=8)
def _vignette(width: int, height: int) -> np.ndarray:
    """(height, width) brightness factor: 12 % darker in the corners."""
    row, column = np.mgrid[0:height, 0:width]
    radius = np.hypot((column - width / 2) / (width / 2), (row - height / 2) / (height / 2))
    return 1.0 - 0.12 * radius**2


@lru_cache(maxsize=8)
def _palette(count: int) -> np.ndarray:
    """(count, 3) instance colours, RGB 0..1, indexed by instance id."""
    return np.array([instance_color(instance) for instance in range(count)])


def _texture(points: np.ndarray, semantic: np.ndarray, is_object: np.ndarray) -> np.ndarray:
    """Brightness factor per hit: blotchy value noise on ground surfaces and vegetation."""
    def value_noise(scale: float) -> np.ndarray:
        cell = np.floor(points[:, :2] / scale)
        return np.mod(np.sin(cell[:, 0] * 12.9898 + cell[:, 1] * 78.233) * 43758.5453, 1.0)

    noise = 0.55 * value_noise(0.35) + 0.45 * value_noise(1.7)
    strength = np.where(is_object, 0.0, np.where(semantic >= 4, 0.08, 0.22))  # buildings, poles, vegetation: faint
    return 1.0 + strength * (noise - 0.5)
