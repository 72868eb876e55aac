"""The camera model: the lens round-trips, and truth cuboids projected with the stored
calibration land on the objects the image shows."""

from __future__ import annotations

import cv2
import numpy as np

from avlabel.io.logstore import DriveLog
from avlabel.sim import LOG_START_US, simulation_world
from avlabel.sim.camera import pixel_rays, render
from avlabel.sim.raycast import StaticScene
from avlabel.sim.rig import CAMERAS, calibration
from avlabel.structs import box_corners

from sim_helpers import PROFILE, SECONDS, SEED, world_from_ego_at


def test_pixel_rays_project_back_onto_their_pixels():
    for name in CAMERAS:
        camera = calibration(name, (960, 600))
        rays = pixel_rays(camera)
        projected, _ = cv2.projectPoints(rays.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), camera.intrinsics, camera.distortion)
        columns, rows = np.meshgrid(np.arange(960), np.arange(600))
        error = np.hypot(projected[:, 0, 0] - columns.ravel(), projected[:, 0, 1] - rows.ravel())
        assert error.max() < 0.01, name
        # the distortion is noticeable: corners move tens of pixels
        pinhole = rays[:, :2] / rays[:, 2:] * np.diag(camera.intrinsics)[:2] + camera.intrinsics[:2, 2]
        assert np.abs(pinhole[0] - projected[0, 0]).max() > 20.0, name


def _box_at(truth, track_id: str, time_us: float) -> np.ndarray | None:
    """The truth box of a track linearly interpolated to time_us (None if not bracketed)."""
    stamps = truth.timestamps_us
    after = int(np.searchsorted(stamps, time_us))
    if after == 0 or after == len(stamps):
        return None
    boxes = [next((c.box for c in truth.frames[i] if c.track_id == track_id), None) for i in (after - 1, after)]
    if boxes[0] is None or boxes[1] is None:
        return None
    weight = (time_us - stamps[after - 1]) / (stamps[after] - stamps[after - 1])
    box = boxes[0] * (1 - weight) + boxes[1] * weight
    box[6] = boxes[0][6] + weight * np.angle(np.exp(1j * (boxes[1][6] - boxes[0][6])))
    return box


def test_projected_truth_cuboids_cover_the_rendered_objects(simulated_log: DriveLog):
    """Re-render stored frames with the instance buffer; the stored image must match, and
    each visible object's pixels must lie inside the hull of its truth cuboid's corners
    projected with the stored intrinsics, distortion and poses (camera's log-clock time)."""
    scenario, _ = simulation_world(seed=SEED, profile=PROFILE, seconds=SECONDS)
    static = StaticScene(scenario.static_mesh)
    truth, poses = simulated_log.truth(), simulated_log.poses()
    checked, overlaps = 0, []
    for name in ("camera_front", "camera_front_left"):
        camera = simulated_log.calibrations[name]
        rays = pixel_rays(camera)
        stamps = np.asarray(simulated_log.timestamps(name))
        for index in (40, 110, 170):
            log_time_us = int(stamps[index]) - camera.clock_offset_us
            rendering = render(scenario, static, camera, rays, (log_time_us - LOG_START_US) / 1e6, None, shadows=False)
            stored = simulated_log.camera_image(index, name).image.astype(np.float64)
            assert np.abs(stored - rendering.image).mean() < 6.0  # the stored frame is this rendering (JPEG, sensor noise)
            world_from_camera = world_from_ego_at(poses, log_time_us)[0] @ camera.ego_from_sensor
            camera_from_world = np.linalg.inv(world_from_camera)
            for instance in np.unique(rendering.instance[rendering.instance >= 0]):
                mask = rendering.instance == instance
                if mask.sum() < 40:
                    continue
                box = _box_at(truth, str(instance), log_time_us)
                if box is None:
                    continue
                corners = box_corners(box) @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
                if corners[:, 2].min() < 0.5:
                    continue
                projected, _ = cv2.projectPoints(corners.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), camera.intrinsics, camera.distortion)
                hull = np.zeros(mask.shape, np.uint8)
                cv2.fillConvexPoly(hull, cv2.convexHull(projected.reshape(-1, 2).astype(np.float32)).round().astype(np.int32), 1)
                hull = cv2.dilate(hull, np.ones((5, 5), np.uint8)).astype(bool)  # 2 px for rasterising and lens curvature
                assert (mask & ~hull).sum() <= 0.02 * mask.sum(), (name, index, instance)
                overlaps.append(mask.sum() / hull.sum())
                checked += 1
    assert checked >= 5
    assert np.median(overlaps) > 0.3  # the hulls are tight, not huge
