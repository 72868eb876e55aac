"""Projection into cameras: OpenCV's lens models, the ego-motion chain, near-plane clipping."""

import cv2
import numpy as np
import pytest

from avlabel.geometry.projection import (
    camera_from_ego,
    colorize_points,
    distort,
    project_camera_points,
    project_cuboid_corners,
    project_cuboids,
    project_points,
    project_segments,
    valid_radius,
)
from avlabel.geometry.transforms import invert_rigid, make_transform, transform_from_yaw, transform_points
from avlabel.structs import Calibration

# Camera looking along ego +x: camera z = ego x, camera x = -ego y, camera y = -ego z.
EGO_FROM_FORWARD_CAMERA = np.array([[0, 0, 1, 1.5], [-1, 0, 0, 0], [0, -1, 0, 1.5], [0, 0, 0, 1]], dtype=float)
INTRINSICS = np.array([[800.0, 0, 640], [0, 790.0, 360], [0, 0, 1]])


def camera(model="brown_conrady", distortion=(-0.28, 0.09, 0.0012, -0.0008, -0.012), ego_from_camera=EGO_FROM_FORWARD_CAMERA):
    return Calibration(
        "cam", "camera", ego_from_camera, intrinsics=INTRINSICS, distortion_model=model,
        distortion=np.array(distortion if model != "none" else []), image_size=(1280, 720),
    )


def random_points_in_view(count, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(2, 60, count), rng.uniform(-50, 50, count), rng.uniform(-3, 6, count)])


def test_brown_conrady_matches_cv2_project_points_to_a_micro_pixel():
    calibration = camera()
    points_ego = random_points_in_view(20000)
    uv, depth, kept = project_points(points_ego, calibration)
    assert 1000 < len(kept) < 20000
    camera_from_ego_matrix = camera_from_ego(calibration)
    rotation_vector, _ = cv2.Rodrigues(camera_from_ego_matrix[:3, :3])
    reference, _ = cv2.projectPoints(points_ego[kept], rotation_vector, camera_from_ego_matrix[:3, 3], INTRINSICS, calibration.distortion)
    assert np.abs(uv - reference[:, 0]).max() < 1e-6
    np.testing.assert_allclose(depth, transform_points(camera_from_ego_matrix, points_ego[kept])[:, 2])


def test_fisheye_matches_cv2_fisheye():
    calibration = camera("fisheye", (0.05, -0.01, 0.002, -0.0003))
    points_camera = transform_points(camera_from_ego(calibration), random_points_in_view(5000, seed=1))
    uv, _, kept = project_camera_points(points_camera, calibration)
    reference, _ = cv2.fisheye.projectPoints(points_camera[kept][:, None, :], np.zeros(3), np.zeros(3), INTRINSICS, calibration.distortion)
    assert len(kept) > 500 and np.abs(uv - reference[:, 0]).max() < 1e-6


def test_hand_built_pinhole_camera():
    calibration = camera("none")
    # 10 m ahead, 1 m left, at camera height: u = 640 - 800 * 1/10, v = 360.
    uv, depth, kept = project_points(np.array([[11.5, 1.0, 1.5], [-5.0, 0.0, 1.5], [11.5, 100.0, 1.5]]), calibration)
    np.testing.assert_allclose(uv, [[560.0, 360.0]])
    np.testing.assert_allclose(depth, [10.0])
    assert kept.tolist() == [0]  # behind the camera and off the image are dropped


def test_chain_through_world_uses_the_camera_time_pose():
    calibration = camera()
    world_from_ego_lidar = transform_from_yaw(0.3, (100.0, 50.0, 0.0))
    world_from_ego_camera = transform_from_yaw(0.32, (100.4, 50.2, 0.01))  # the ego moved on
    points_world = transform_points(world_from_ego_lidar, random_points_in_view(3000, seed=2))
    points_lidar_ego = transform_points(invert_rigid(world_from_ego_lidar), points_world)
    uv, _, kept = project_points(points_lidar_ego, calibration, world_from_ego_lidar, world_from_ego_camera)
    # The same world points seen straight from the camera-time ego frame.
    direct_uv, _, direct_kept = project_points(transform_points(invert_rigid(world_from_ego_camera), points_world), calibration)
    np.testing.assert_array_equal(kept, direct_kept)
    np.testing.assert_allclose(uv, direct_uv, atol=1e-9)
    # Ignoring the motion would be off by pixels.
    stale_uv, _, stale_kept = project_points(points_lidar_ego, calibration)
    common = np.intersect1d(kept, stale_kept)
    assert np.median(np.abs(uv[np.searchsorted(kept, common)] - stale_uv[np.searchsorted(stale_kept, common)])) > 2.0


def test_strong_distortion_does_not_fold_far_points_into_the_image():
    calibration = camera(distortion=(-0.3, 0.0, 0.0, 0.0, 0.0))
    limit = valid_radius(calibration)
    assert limit == pytest.approx(1 / np.sqrt(0.9), abs=1e-3)  # r - 0.3 r^3 peaks at r^2 = 1/0.9
    # A point at r = 1.9 (62 degrees off-axis, to the right) lands mirrored on the image's left half.
    point_camera = np.array([[1.9, 0.0, 1.0]])
    raw_u = INTRINSICS[0, 0] * distort(point_camera[:, :2], "brown_conrady", calibration.distortion)[0, 0] + 640
    assert 0 <= raw_u < 640
    assert len(project_camera_points(point_camera, calibration)[2]) == 0


def test_segments_are_clipped_at_the_near_plane_in_3d():
    calibration = camera("none")
    # From 5 m in front to 5 m behind, 1 m to the right of the axis.
    polylines = project_segments(np.array([[1.0, 0.0, 5.0]]), np.array([[1.0, 0.0, -5.0]]), calibration, near_m=0.5)
    assert len(polylines) == 1
    line = polylines[0]
    np.testing.assert_allclose(line[0], [640 + 800 * 1.0 / 5.0, 360])
    np.testing.assert_allclose(line[-1], [640 + 800 * 1.0 / 0.5, 360], rtol=1e-6)  # ends on the near plane, not mirrored
    assert project_segments(np.array([[0.0, 0.0, -1.0]]), np.array([[0.0, 1.0, -2.0]]), calibration) == []


def test_cuboid_partly_behind_the_camera_draws_only_its_front_part():
    calibration = camera()
    # A long truck alongside: half of it behind the camera plane.
    box = np.array([[1.5, -3.0, 1.0, 12.0, 2.5, 3.0, 0.0]])
    wireframe = project_cuboids(box, calibration, np.eye(4))[0]
    assert 4 <= len(wireframe) <= 12
    for polyline in wireframe:
        points_ok = np.isfinite(polyline).all() and np.abs(polyline).max() < 1e5
        assert points_ok
    # Every drawn vertex lies right of the centre column (the truck is on the right).
    assert min(polyline[:, 0].min() for polyline in wireframe) > 640
    behind = np.array([[-20.0, 0.0, 1.0, 4.0, 2.0, 1.5, 0.0]])
    assert project_cuboids(behind, calibration, np.eye(4)) == [[]]


def test_cuboid_corners_match_cv2():
    calibration = camera()
    world_from_ego = transform_from_yaw(-1.0, (5.0, 7.0, 0.2))
    box_ego = np.array([15.0, 2.0, 0.8, 4.5, 1.9, 1.6, 0.4])
    center_world = transform_points(world_from_ego, box_ego[None, :3])[0]
    box_world = np.concatenate([center_world, box_ego[3:6], [box_ego[6] - 1.0]])
    pixels, valid = project_cuboid_corners(box_world, calibration, world_from_ego)
    from avlabel.structs import box_corners

    camera_from_world = camera_from_ego(calibration) @ invert_rigid(world_from_ego)
    rotation_vector, _ = cv2.Rodrigues(camera_from_world[:3, :3])
    reference, _ = cv2.projectPoints(box_corners(box_world), rotation_vector, camera_from_world[:3, 3], INTRINSICS, calibration.distortion)
    assert valid.all() and np.abs(pixels[0] - reference[:, 0]).max() < 1e-6


def test_colorize_points_reads_the_pixel_under_each_point():
    calibration = camera("none")
    image = np.zeros((720, 1280, 3), np.uint8)
    image[:, 640:] = (255, 0, 0)  # right half red
    points = np.array([[11.5, -1.0, 1.5], [11.5, 1.0, 1.5], [-3.0, 0.0, 0.0]])
    colors, seen = colorize_points(points, image, calibration)
    assert seen.tolist() == [True, True, False]
    assert colors.tolist() == [[255, 0, 0], [0, 0, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="720x1280"):
        colorize_points(points, image[:10], calibration)


def test_projecting_into_a_non_camera_is_a_clear_error():
    lidar = Calibration("lidar_top", "lidar", make_transform(np.eye(3), (0, 0, 2)))
    with pytest.raises(ValueError, match="'lidar_top' is a lidar, not a camera"):
        project_points(np.zeros((1, 3)), lidar)
