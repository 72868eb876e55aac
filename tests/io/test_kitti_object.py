"""KITTI object: import from folders the tests write, export, and round trips both ways."""

from __future__ import annotations

import numpy as np
import pytest

from avlabel.io.errors import InputError
from avlabel.io.exporters import export_kitti
from avlabel.io.formats import kitti
from avlabel.io.importers import import_kitti_object
from avlabel.io.importers.kitti_object import VELODYNE_HEIGHT_M
from avlabel.io.logstore import DriveLog
from avlabel.structs import wrap_angle
from tinylog import write_tiny_log
from kitti_folders import DONT_CARE_BOX_2D, SCENE_BOXES, rect0_from_velodyne, write_kitti_object_folder


def _simple_folder(root, label_lines):
    """One frame, camera 0 = velodyne turned to look forward, no rectification, K = 700 px."""
    for folder in ("velodyne", "calib", "image_2", "label_2"):
        (root / folder).mkdir(parents=True)
    np.zeros((10, 4), "<f4").tofile(root / "velodyne" / "000000.bin")
    projection = "700 0 600 0 0 700 180 0 0 0 1 0"
    (root / "calib" / "000000.txt").write_text(
        f"P0: {projection}\nP1: {projection}\nP2: {projection}\nP3: {projection}\n"
        "R0_rect: 1 0 0 0 1 0 0 0 1\nTr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 0\nTr_imu_to_velo: 1 0 0 0 0 1 0 0 0 0 1 0\n"
    )
    import cv2

    cv2.imwrite(str(root / "image_2" / "000000.png"), np.zeros((360, 1200, 3), np.uint8))
    (root / "label_2" / "000000.txt").write_text("\n".join(label_lines) + "\n")
    return root


def test_labels_become_world_boxes_pinned(tmp_path):
    # Bottom centre (2, 1.5, 20) in the camera, 1.5 m tall: centre (2, 0.75, 20) in the camera is
    # velodyne (20, -2, -0.75), ego (20, -2, 0.98). rotation_y 0 = along camera +x = velodyne -y.
    folder = _simple_folder(tmp_path / "kitti", [
        "Car 0.00 0 0.0 0 0 10 10 1.50 1.80 4.00 2.00 1.50 20.00 0.00",
        "Van 0.00 0 0.0 0 0 10 10 2.00 1.90 5.00 -3.00 1.70 10.00 -1.5707963",
    ])
    with DriveLog(import_kitti_object(folder, tmp_path / "log.h5")) as log:
        assert not log.sequential
        car, van = log.truth().frames[0].cuboids
    np.testing.assert_allclose(car.box, [20.0, -2.0, 1.73 - 0.75, 4.0, 1.8, 1.5, -np.pi / 2], atol=1e-9)
    assert car.label == "car" and car.source == "truth" and car.attributes["kitti_type"] == "Car"
    # rotation_y = -pi/2: heading along camera +z = straight ahead, yaw 0.
    np.testing.assert_allclose(van.box, [10.0, 3.0, 1.73 - 0.7, 5.0, 1.9, 2.0, 0.0], atol=1e-6)
    assert van.label == "car" and van.attributes["kitti_type"] == "Van"


def test_import_recovers_velodyne_boxes_with_a_real_calibration(tmp_path):
    folder = write_kitti_object_folder(tmp_path / "kitti", frames=2, image_3=True)
    with DriveLog(import_kitti_object(folder, tmp_path / "log.h5")) as log:
        assert log.sensors("camera") == ["image_2", "image_3"] and log.sensors("lidar") == ["velodyne"]
        np.testing.assert_array_equal(log.timestamps("velodyne"), [0, 1_000_000])
        poses = log.poses()
        np.testing.assert_array_equal(poses.world_from_ego, np.tile(np.eye(4), (2, 1, 1)))
        truth = log.truth()
        sweep = log.sweep(1)
        camera = log.calibrations["image_2"]
        image = log.camera_image(1, "image_2")
    assert sweep.points.shape[1] == 6 and (sweep.points[:, 4] == 0).all() and (sweep.points[:, 5] == -1).all()
    assert image.size == (1242, 375) and camera.image_size == (1242, 375)
    np.testing.assert_allclose(camera.intrinsics[0, 0], 721.5377)
    for frame_index, frame in enumerate(truth.frames):
        assert frame.attributes["kitti_frame"] == f"{frame_index:06d}"
        objects = [cuboid for cuboid in frame.cuboids if cuboid.label != "ignore"]
        assert [cuboid.label for cuboid in objects] == ["car", "pedestrian", "cyclist"]
        for (_, box), cuboid in zip(SCENE_BOXES, objects):
            expected = box + np.array([0.5 * frame_index, 0, VELODYNE_HEIGHT_M, 0, 0, 0, 0])
            np.testing.assert_allclose(cuboid.center, expected[:3], atol=1e-6)
            np.testing.assert_allclose(cuboid.size, expected[3:6], atol=1e-9)
            assert abs(wrap_angle(cuboid.yaw - expected[6])) < 2e-4  # KITTI keeps yaw only: the camera's tilt costs ~1e-4 rad
            assert cuboid.num_points >= 300  # the test scene puts 400 points on every box surface


def test_dont_care_is_an_ignore_region_over_the_image_region(tmp_path):
    folder = write_kitti_object_folder(tmp_path / "kitti", frames=1)
    with DriveLog(import_kitti_object(folder, tmp_path / "log.h5")) as log:
        ignore = [cuboid for cuboid in log.truth().frames[0].cuboids if cuboid.label == "ignore"]
        camera = log.calibrations["image_2"]
    assert len(ignore) == 1
    region = ignore[0]
    assert region.attributes["ignore"] is True and region.attributes["box_2d"] == list(DONT_CARE_BOX_2D)
    near, far = region.attributes["depth_range_m"]
    assert 1.0 <= near < far <= 80.0
    # The region's viewing ray at mid depth lies inside the box.
    left, top, right, bottom = DONT_CARE_BOX_2D
    ray = np.linalg.inv(camera.intrinsics) @ np.array([(left + right) / 2, (top + bottom) / 2, 1.0])
    point = camera.ego_from_sensor[:3, :3] @ (ray * (near + far) / 2) + camera.ego_from_sensor[:3, 3]
    local = point - region.center
    cos, sin = np.cos(region.yaw), np.sin(region.yaw)
    along, across = cos * local[0] + sin * local[1], -sin * local[0] + cos * local[1]
    assert abs(along) <= region.size[0] / 2 and abs(across) <= region.size[1] / 2 and abs(local[2]) <= region.size[2] / 2


def test_frames_from_another_calibration_get_their_own_camera(tmp_path):
    folder = write_kitti_object_folder(tmp_path / "kitti", frames=3, second_calibration=True, dont_care=False)
    with DriveLog(import_kitti_object(folder, tmp_path / "log.h5")) as log:
        assert log.sensors("camera") == ["image_2", "image_2_calib1"]
        np.testing.assert_array_equal(log.timestamps("image_2"), [0, 1_000_000])
        np.testing.assert_array_equal(log.timestamps("image_2_calib1"), [2_000_000])
        assert log.calibrations["image_2_calib1"].intrinsics[0, 0] == pytest.approx(707.0493)


def test_kitti_folder_round_trip(tmp_path):
    """KITTI -> avlabel -> KITTI -> avlabel keeps points, images, calibration and truth."""
    folder = write_kitti_object_folder(tmp_path / "kitti", frames=2)
    first = import_kitti_object(folder, tmp_path / "first.h5")
    with DriveLog(first) as log:
        result = export_kitti(log.truth(), log, tmp_path / "exported")
    assert result.frames == 2 and result.cuboids == 8 and result.skipped == 0
    assert sorted(p.name for p in (tmp_path / "exported" / "label_2").iterdir()) == ["000000.txt", "000001.txt"]
    second = import_kitti_object(tmp_path / "exported", tmp_path / "second.h5")
    with DriveLog(first) as before, DriveLog(second) as after:
        for index in range(2):
            np.testing.assert_array_equal(before.sweep(index).points, after.sweep(index).points)
            assert before.encoded_image(index, "image_2") == after.encoded_image(index, "image_2")
        calibration_before, calibration_after = before.calibrations["image_2"], after.calibrations["image_2"]
        np.testing.assert_allclose(calibration_after.intrinsics, calibration_before.intrinsics, atol=1e-9)
        np.testing.assert_allclose(calibration_after.ego_from_sensor, calibration_before.ego_from_sensor, atol=1e-9)
        truth_before, truth_after = before.truth(), after.truth()
    for frame_before, frame_after in zip(truth_before.frames, truth_after.frames):
        assert [c.label for c in frame_before] == [c.label for c in frame_after]
        assert [c.attributes["kitti_type"] for c in frame_before] == [c.attributes["kitti_type"] for c in frame_after]
        for cuboid_before, cuboid_after in zip(frame_before, frame_after):
            if cuboid_before.label == "ignore":  # rebuilt from the same 2D region and the same points
                assert cuboid_after.attributes["box_2d"] == pytest.approx(cuboid_before.attributes["box_2d"], abs=1e-6)
                np.testing.assert_allclose(cuboid_after.box, cuboid_before.box, atol=1e-4)
                continue
            np.testing.assert_allclose(cuboid_after.center, cuboid_before.center, atol=2e-6)
            np.testing.assert_allclose(cuboid_after.size, cuboid_before.size, atol=2e-6)
            assert abs(wrap_angle(cuboid_after.yaw - cuboid_before.yaw)) < 2e-6
            # Ground points sit exactly on the box bottoms: a micrometre moves some across.
            assert abs(cuboid_after.num_points - cuboid_before.num_points) <= 0.1 * cuboid_before.num_points


def test_log_exported_to_kitti_imports_back(tmp_path):
    """A moving, distorted-camera log -> KITTI -> avlabel: visible truth lands in the same place."""
    path = write_tiny_log(tmp_path / "tiny.h5")
    with DriveLog(path) as log:
        truth = log.truth()
        result = export_kitti(truth, log, tmp_path / "kitti")
        poses, lidar = log.poses(), log.calibrations["lidar_top"]
        camera = log.calibrations["camera_front"]
    assert result.frames == 5 and result.cuboids == 5 and result.skipped == 3  # the pedestrian is outside image_2
    lines = kitti.read_object_labels(tmp_path / "kitti" / "label_2" / "000002.txt")
    assert len(lines) == 1 and lines[0].type == "Car" and lines[0].score is None
    label = lines[0]
    assert label.alpha == pytest.approx(wrap_angle(label.rotation_y - np.arctan2(label.location[0], label.location[2])), abs=1e-6)
    left, top, right, bottom = label.box_2d
    assert 0 <= left < right <= camera.image_size[0] - 1 and 0 <= top < bottom <= camera.image_size[1] - 1
    with DriveLog(import_kitti_object(tmp_path / "kitti", tmp_path / "back.h5")) as back:
        imported = back.truth()
        assert back.calibrations["image_2"].distortion_model == "none"
        np.testing.assert_allclose(back.calibrations["image_2"].intrinsics, camera.intrinsics)
    for frame, frame_back in zip(truth.frames, imported.frames):
        # The imported world is the ground below the LiDAR at the frame time.
        index = int(np.searchsorted(poses.timestamps_us, frame.timestamp_us))
        world_from_new_world = poses.world_from_ego[index] @ lidar.ego_from_sensor
        world_from_new_world[:3, 3] -= world_from_new_world[:3, 2] * VELODYNE_HEIGHT_M
        (car,) = [c for c in frame if c.label == "car"]
        (car_back,) = frame_back.cuboids
        np.testing.assert_allclose(world_from_new_world[:3, :3] @ car_back.center + world_from_new_world[:3, 3], car.center, atol=1e-5)
        np.testing.assert_allclose(car_back.size, car.size, atol=1e-6)
        assert abs(wrap_angle(car_back.yaw - car.yaw)) < 1e-5


def test_bad_kitti_inputs_are_one_line_errors(tmp_path):
    folder = write_kitti_object_folder(tmp_path / "kitti", frames=1)
    calib = folder / "calib" / "000000.txt"
    good = calib.read_text()
    calib.write_text("".join(line + "\n" for line in good.splitlines() if not line.startswith("Tr_velo_to_cam")))
    with pytest.raises(InputError, match=r"000000\.txt: Tr_velo_to_cam: missing matrix") as error:
        import_kitti_object(folder, tmp_path / "log.h5")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "log.h5").exists()
    calib.write_text(good.replace("R0_rect: ", "R0_rect: 1 "))
    with pytest.raises(InputError, match=r"line 5 \(R0_rect\): expected 9 numbers for a 3x3 matrix, got 10"):
        import_kitti_object(folder, tmp_path / "log.h5")
    calib.write_text(good)
    (folder / "label_2" / "000000.txt").write_text("Car 0.00 0 -1.5 10 20 30 40 1.5 1.6 3.9\n")
    with pytest.raises(InputError, match=r"label_2/000000\.txt: line 1: expected 15 fields .* got 11"):
        import_kitti_object(folder, tmp_path / "log.h5")
    (folder / "label_2" / "000000.txt").write_text("Car 0.00 0 -1.5 10 20 30 40 1.5 abc 3.9 1 2 3 0.1\n")
    with pytest.raises(InputError, match=r"line 1: field width = 'abc' is not a number"):
        import_kitti_object(folder, tmp_path / "log.h5")
    (folder / "label_2" / "000000.txt").write_text("")
    (folder / "velodyne" / "000000.bin").write_bytes(b"\x00" * 10)
    with pytest.raises(InputError, match="not a whole number of points"):
        import_kitti_object(folder, tmp_path / "log.h5")


def test_rect0_helper_matches_calibration_reader(tmp_path):
    folder = write_kitti_object_folder(tmp_path / "kitti", frames=1)
    calibration = kitti.read_object_calibration(folder / "calib" / "000000.txt")
    np.testing.assert_allclose(calibration.rect0_from_velodyne(), rect0_from_velodyne(), atol=1e-12)
    assert not (tmp_path / "log.h5").exists()  # nothing half-written is left behind


def test_machine_labels_keep_their_score(tmp_path):
    from dataclasses import replace

    from avlabel.structs import LabelFrame, Labels

    path = write_tiny_log(tmp_path / "tiny.h5")
    with DriveLog(path) as log:
        truth = log.truth()
        auto = Labels(tuple(
            LabelFrame(frame.timestamp_us, tuple(replace(c, source="auto", score=0.7) for c in frame)) for frame in truth.frames
        ))
        export_kitti(auto, log, tmp_path / "kitti")
    line = (tmp_path / "kitti" / "label_2" / "000000.txt").read_text().split()
    assert len(line) == 16 and float(line[15]) == pytest.approx(0.7)
    with DriveLog(import_kitti_object(tmp_path / "kitti", tmp_path / "back.h5")) as back:
        (car,) = back.truth().frames[0].cuboids
    assert car.source == "auto" and car.score == pytest.approx(0.7)
