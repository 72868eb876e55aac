"""Scale sensor-fusion export: frames and cuboids parsed back and compared with the log."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from avlabel.geometry.transforms import matrix_from_quaternion
from avlabel.io.exporters import export_scale
from avlabel.io.exporters.scale import avlabel_yaw, scale_yaw
from avlabel.io.logstore import DriveLog
from avlabel.structs import Cuboid, LabelFrame, Labels, wrap_angle
from tinylog import write_tiny_log


def test_scale_yaw_is_a_quarter_turn_behind():
    assert scale_yaw(math.pi / 2) == pytest.approx(0.0)  # heading +y is Scale's zero
    assert scale_yaw(0.0) == pytest.approx(-math.pi / 2)
    assert scale_yaw(-3.0) == pytest.approx(wrap_angle(-3.0 - math.pi / 2))
    assert avlabel_yaw(scale_yaw(2.5)) == pytest.approx(2.5)


def test_export_parses_back_to_the_same_boxes(tmp_path):
    path = write_tiny_log(tmp_path / "tiny.h5")
    with DriveLog(path) as log:
        truth = log.truth()
        ignore = Cuboid("dc", "dc", "ignore", [5, 5, 1], [2, 2, 2], 0.0, source="truth", attributes={"ignore": True})
        first = LabelFrame(truth.frames[0].timestamp_us, truth.frames[0].cuboids + (ignore,))
        labels = Labels((first,) + truth.frames[1:], truth.metadata)
        result = export_scale(labels, log, tmp_path / "scale")
        sweep = log.sweep(0)
        stored_image, _ = log.encoded_image(0, "camera_front")
        camera = log.calibrations["camera_front"]
    assert result.frames == 5 and result.cuboids == 8 and result.skipped == 1
    annotations = json.loads((tmp_path / "scale" / "annotations.json").read_text())
    assert len(annotations) == 5
    for frame, annotated in zip(truth.frames, annotations):
        parsed = {
            cuboid["uuid"]: [cuboid["position"]["x"], cuboid["position"]["y"], cuboid["position"]["z"],
                             cuboid["dimensions"]["y"], cuboid["dimensions"]["x"], cuboid["dimensions"]["z"], avlabel_yaw(cuboid["yaw"])]
            for cuboid in annotated["cuboids"]
        }
        assert set(parsed) == {cuboid.track_id for cuboid in frame}
        for cuboid in frame:
            np.testing.assert_allclose(parsed[cuboid.track_id][:6], cuboid.box[:6], atol=1e-12)
            assert abs(wrap_angle(parsed[cuboid.track_id][6] - cuboid.yaw)) < 1e-12
    car = annotations[0]["cuboids"][0]
    assert car["label"] == "car" and car["yaw"] == pytest.approx(0.1 - math.pi / 2) and car["stationary"] is False
    assert car["dimensions"] == {"x": 1.9, "y": 4.5, "z": 1.6} and car["numberOfPoints"] == 120

    task = json.loads((tmp_path / "scale" / "task.json").read_text())
    assert task["attachments"][0] == "frames/000000.json" and task["labels"] == ["car", "pedestrian"]
    frame = json.loads((tmp_path / "scale" / "frames" / "000000.json").read_text())
    # The tiny log's ego is at x = 1 m at 1.0 s, the LiDAR 0.9 m ahead and 1.8 m up, level.
    assert frame["timestamp"] == 1_000_000_000
    assert frame["device_position"] == pytest.approx({"x": 1.9, "y": 0.0, "z": 1.8})
    assert frame["device_heading"] == pytest.approx({"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0})
    points = frame["points"]
    assert len(points) == 2000
    # Every point is placed with the pose at its own time (10 m/s along x).
    offsets = sweep.points[:, 4].astype(np.float64)
    world_x = np.array([point["x"] for point in points])
    np.testing.assert_allclose(world_x, sweep.points[:, 0] + 0.9 + 1.0 + offsets * 1e-5, atol=2e-4)
    assert all(0.0 <= point["i"] <= 1.0 for point in points)
    assert points[0]["t"] == (1_000_000 + int(round(offsets[0]))) * 1000
    (image,) = frame["images"]
    assert (tmp_path / "scale" / image["image_url"]).read_bytes() == stored_image
    assert image["camera_model"] == "brown_conrady"
    assert [image[k] for k in ("k1", "k2", "p1", "p2", "k3")] == pytest.approx(camera.distortion.tolist())
    assert (image["fx"], image["fy"], image["cx"], image["cy"], image["skew"]) == (300.0, 300.0, 160.0, 100.0, 0.0)
    heading = image["heading"]
    rotation = matrix_from_quaternion([heading["w"], heading["x"], heading["y"], heading["z"]])
    np.testing.assert_allclose(rotation, camera.ego_from_sensor[:3, :3], atol=1e-12)  # level ego: world axes = ego axes
    capture_time = image["timestamp"] / 1000  # us, log clock
    assert image["position"]["x"] == pytest.approx(1.5 + (capture_time - 900_000) * 1e-5)
