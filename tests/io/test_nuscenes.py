"""nuScenes: export a log as a dataroot the devkit loads, import it back, and the conventions."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from avlabel.io.errors import InputError
from avlabel.io.exporters.nuscenes import export_nuscenes
from avlabel.io.formats import nuscenes as formats
from avlabel.io.importers import import_nuscenes
from avlabel.io.importers.nuscenes import _radar_detections
from avlabel.io.logstore import DriveLog
from avlabel.structs import wrap_angle
from tinylog import write_tiny_log

nuscenes = pytest.importorskip("nuscenes")
from nuscenes.nuscenes import NuScenes  # noqa: E402


@pytest.fixture
def exported(tmp_path):
    log_path = write_tiny_log(tmp_path / "tiny.h5")
    with DriveLog(log_path) as log:
        result = export_nuscenes(log.truth(), log, tmp_path / "dataroot", version="v1.0-mini")
    return log_path, tmp_path / "dataroot", result


def test_devkit_loads_the_exported_dataroot(exported):
    _, dataroot, result = exported
    assert result.frames == 5 and result.cuboids == 8 and result.skipped == 0
    nusc = NuScenes(version="v1.0-mini", dataroot=str(dataroot), verbose=False)
    (scene,) = nusc.scene
    assert scene["name"] == "tiny" and scene["nbr_samples"] == 5
    sample = nusc.get("sample", scene["first_sample_token"])
    assert set(sample["data"]) == {"LIDAR_TOP", "radar_front", "camera_front"}
    lidar = nusc.get("sample_data", sample["data"]["LIDAR_TOP"])
    assert lidar["timestamp"] == sample["timestamp"] == 1_000_000 and lidar["is_key_frame"]
    from nuscenes.utils.data_classes import LidarPointCloud, RadarPointCloud

    assert LidarPointCloud.from_file(str(dataroot / lidar["filename"])).points.shape == (4, 2000)
    radar = nusc.get("sample_data", sample["data"]["radar_front"])
    assert RadarPointCloud.from_file(str(dataroot / radar["filename"])).points.shape == (18, 7)  # default filters keep all
    # The devkit's box of an annotation is the cuboid: centre, (w, l, h), yaw.
    annotation = nusc.get("sample_annotation", sample["anns"][0])
    box = nusc.get_box(annotation["token"])
    np.testing.assert_allclose(box.center, [10.0, 2.0, 0.8])
    np.testing.assert_allclose(box.wlh, [1.9, 4.5, 1.6])
    assert box.orientation.yaw_pitch_roll[0] == pytest.approx(0.1)
    assert annotation["category_name"] == "vehicle.car"
    assert [nusc.get("attribute", t)["name"] for t in annotation["attribute_tokens"]] == ["vehicle.moving"]
    np.testing.assert_allclose(nusc.box_velocity(annotation["token"])[:2], [10.0, 0.0], atol=1e-9)


def test_results_json_is_a_detection_submission(exported):
    _, dataroot, _ = exported
    from nuscenes.eval.common.loaders import load_prediction
    from nuscenes.eval.detection.data_classes import DetectionBox

    boxes, meta = load_prediction(str(dataroot / "results.json"), 500, DetectionBox)
    nusc = NuScenes(version="v1.0-mini", dataroot=str(dataroot), verbose=False)
    assert set(boxes.sample_tokens) == {sample["token"] for sample in nusc.sample}
    assert meta["use_lidar"] is True
    first = boxes[nusc.scene[0]["first_sample_token"]][0]
    assert first.detection_name == "car" and first.attribute_name == "vehicle.moving"
    assert first.size == (1.9, 4.5, 1.6) and first.velocity == (10.0, 0.0) and first.detection_score == 1.0


def test_round_trip_keeps_sensors_poses_and_truth(exported, tmp_path):
    log_path, dataroot, _ = exported
    imported = import_nuscenes(dataroot, tmp_path / "back.h5", version="v1.0-mini", scene="tiny")
    with DriveLog(log_path) as before, DriveLog(imported) as after:
        assert after.sensors("lidar") == ["LIDAR_TOP"] and after.sensors("radar") == ["radar_front"] and after.sensors("camera") == ["camera_front"]
        names = {"LIDAR_TOP": "lidar_top", "radar_front": "radar_front", "camera_front": "camera_front"}
        for new_name, old_name in names.items():
            old, new = before.calibrations[old_name], after.calibrations[new_name]
            np.testing.assert_allclose(new.ego_from_sensor, old.ego_from_sensor, atol=1e-9)
            assert new.clock_offset_us == 0
            # Stamps are on the log clock now.
            np.testing.assert_array_equal(after.timestamps(new_name), before.timestamps(old_name) - old.clock_offset_us)
        np.testing.assert_allclose(after.calibrations["camera_front"].intrinsics, before.calibrations["camera_front"].intrinsics)
        assert after.calibrations["camera_front"].distortion_model == "none"
        # The world origin is the first ego pose: the tiny log's ego is at x = 1 m at 1.0 s.
        origin = np.array([1.0, 0.0, 0.0])
        poses = after.poses()
        np.testing.assert_allclose(poses.world_from_ego[:, 0, 3], (poses.timestamps_us - 900_000) * 1e-5 - 1.0, atol=1e-9)
        for index in range(5):
            old_sweep, new_sweep = before.sweep(index), after.sweep(index)
            # De-skewed to the sweep time: the tiny log drives +x at 10 m/s without turning.
            expected = old_sweep.points[:, :3].astype(np.float64)
            expected[:, 0] += old_sweep.points[:, 4] * 1e-5
            np.testing.assert_allclose(new_sweep.points[:, :3], expected, atol=2e-5)
            np.testing.assert_array_equal(new_sweep.points[:, 3], old_sweep.points[:, 3])
            np.testing.assert_array_equal(new_sweep.points[:, 5], old_sweep.points[:, 5])
            assert (new_sweep.points[:, 4] == 0).all()
            np.testing.assert_allclose(after.radar_scan(index, "radar_front").detections, before.radar_scan(index, "radar_front").detections, atol=1e-5)
        old_image = cv2.undistort(before.camera_image(2, "camera_front").image, before.calibrations["camera_front"].intrinsics, before.calibrations["camera_front"].distortion)
        assert np.abs(after.camera_image(2, "camera_front").image.astype(int) - old_image.astype(int)).mean() < 3.0
        truth_before, truth_after = before.truth(), after.truth()
    np.testing.assert_array_equal(truth_after.timestamps_us, truth_before.timestamps_us)
    tracks = {}
    for frame_before, frame_after in zip(truth_before.frames, truth_after.frames):
        assert len(frame_before) == len(frame_after)
        for old, new in zip(sorted(frame_before, key=lambda c: c.label), sorted(frame_after, key=lambda c: c.label)):
            assert new.label == old.label and new.source == "truth" and new.num_points == old.num_points
            np.testing.assert_allclose(new.center + origin, old.center, atol=1e-9)
            np.testing.assert_allclose(new.size, old.size, atol=1e-12)
            assert abs(wrap_angle(new.yaw - old.yaw)) < 1e-9
            if old.velocity is not None:
                np.testing.assert_allclose(new.velocity, old.velocity, atol=1e-6)
            tracks.setdefault(old.track_id, set()).add(new.track_id)
    assert all(len(new_ids) == 1 for new_ids in tracks.values()) and len({next(iter(v)) for v in tracks.values()}) == len(tracks)


def test_import_reads_nuscenes_conventions(exported, tmp_path):
    """Hand-set records: size (w, l, h), rotation quaternion (w, x, y, z), radar vx, vy."""
    _, dataroot, _ = exported
    annotations_path = dataroot / "v1.0-mini" / "sample_annotation.json"
    annotations = json.loads(annotations_path.read_text())
    annotations[0]["size"] = [2.0, 5.0, 1.5]
    annotations[0]["rotation"] = [np.cos(0.25), 0.0, 0.0, np.sin(0.25)]  # yaw 0.5 about z
    annotations_path.write_text(json.dumps(annotations))
    radar_path = dataroot / "radar.pcd"
    rows = np.zeros(4, dtype=formats.RADAR_DTYPE)
    rows["x"], rows["y"] = [10.0, 3.0, 0.0, 10.0], [0.0, 4.0, 0.0, 0.0]
    # Towards the radar; 2 m/s away; at the sensor itself; crossing (no Doppler).
    rows["vx"], rows["vy"] = [-3.0, 1.2, 1.0, 0.0], [0.0, 1.6, 0.0, 5.0]
    rows["rcs"] = [5.0, -2.5, 0.0, 1.0]
    formats.write_radar_pcd(radar_path, rows)
    np.testing.assert_allclose(_radar_detections(radar_path), [[10, 0, 0, -3, 5], [3, 4, 0, 2, -2.5], [0, 0, 0, 0, 0], [10, 0, 0, 0, 1]], atol=1e-6)
    formats.write_radar_pcd(radar_path, rows[:0])
    assert _radar_detections(radar_path).shape == (0, 5)
    with DriveLog(import_nuscenes(dataroot, tmp_path / "back.h5", scene="tiny")) as log:
        first = next(c for frame in log.truth() for c in frame if c.id == annotations[0]["token"])
    np.testing.assert_allclose(first.size, [5.0, 2.0, 1.5])
    assert first.yaw == pytest.approx(0.5)


def test_unknown_scene_and_version_are_one_line_errors(exported, tmp_path):
    _, dataroot, _ = exported
    with pytest.raises(InputError, match=r"scene 'scene-0061' does not exist \(valid: tiny\)") as error:
        import_nuscenes(dataroot, tmp_path / "x.h5", scene="scene-0061")
    assert "\n" not in str(error.value)
    with pytest.raises(InputError, match=r"v1.0-trainval: no such table folder .* versions found: v1.0-mini"):
        import_nuscenes(dataroot, tmp_path / "x.h5", version="v1.0-trainval", scene="tiny")
    assert not (tmp_path / "x.h5").exists()
