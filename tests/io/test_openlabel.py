"""ASAM OpenLABEL export: structure, the cuboid's quaternion form, and the file read back."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from avlabel.io.errors import InputError
from avlabel.io.exporters import export_openlabel, read_openlabel
from avlabel.io.logstore import DriveLog
from avlabel.structs import Cuboid, LabelFrame, Labels
from tinylog import write_tiny_log


def test_openlabel_document_and_round_trip(tmp_path):
    path = write_tiny_log(tmp_path / "tiny.h5")
    with DriveLog(path) as log:
        truth = log.truth()
        nested = Cuboid("x", "9", "ignore", [3, 3, 1], [1, 2, 3], -1.0, source="human", score=0.5,
                        attributes={"ignore": True, "review": {"by": "ann", "edits": 2}, "tags": [1, 2]})
        labels = Labels(truth.frames[:-1] + (LabelFrame(truth.frames[-1].timestamp_us, truth.frames[-1].cuboids + (nested,)),), truth.metadata)
        result = export_openlabel(labels, log, tmp_path / "labels.openlabel.json")
        calibrations = log.calibrations
        poses = log.poses()
    assert result.frames == 5 and result.cuboids == 9
    root = json.loads((tmp_path / "labels.openlabel.json").read_text())["openlabel"]
    assert root["metadata"]["schema_version"] == "1.0.0"
    assert root["coordinate_systems"]["world"]["type"] == "scene_cs" and root["coordinate_systems"]["ego"]["parent"] == "world"
    for sensor in ("lidar_top", "camera_front", "radar_front"):
        system = root["coordinate_systems"][sensor]
        assert system["parent"] == "ego" and system["type"] == "sensor_cs"
        np.testing.assert_allclose(np.reshape(system["pose_wrt_parent"]["matrix4x4"], (4, 4)), calibrations[sensor].ego_from_sensor)
    intrinsics = root["streams"]["camera_front"]["stream_properties"]["intrinsics_pinhole"]
    assert intrinsics["camera_matrix_3x4"] == [300, 0, 160, 0, 0, 300, 100, 0, 0, 0, 1, 0]
    assert (intrinsics["width_px"], intrinsics["height_px"]) == (320, 200) and len(intrinsics["distortion_coeffs_1xN"]) == 5
    assert root["streams"]["lidar_top"]["type"] == "lidar" and root["streams"]["gnss"]["type"] == "gps_imu"
    first = root["frames"]["0"]
    assert first["frame_properties"]["timestamp"] == 1.0
    world_from_ego = np.reshape(first["frame_properties"]["transforms"]["ego_to_world"]["transform_src_to_dst"]["matrix4x4"], (4, 4))
    np.testing.assert_allclose(world_from_ego, poses.world_from_ego[10])  # the pose at 1.0 s
    assert first["frame_properties"]["streams"]["camera_front"]["stream_properties"]["sync"]["frame_stream"] == 0
    (car,) = first["objects"].values()
    value = car["object_data"]["cuboid"][0]["val"]
    # Quaternion form: centre, (qx, qy, qz, qw) of yaw 0.1 about z, size (length, width, height).
    np.testing.assert_allclose(value, [10, 2, 0.8, 0, 0, math.sin(0.05), math.cos(0.05), 4.5, 1.9, 1.6], atol=1e-12)
    assert root["objects"]["0"]["type"] == "car" and root["objects"]["0"]["frame_intervals"] == [{"frame_start": 0, "frame_end": 4}]
    assert root["objects"]["1"]["frame_intervals"] == [{"frame_start": 1, "frame_end": 2}, {"frame_start": 4, "frame_end": 4}]
    assert root["frame_intervals"] == [{"frame_start": 0, "frame_end": 4}]

    back = read_openlabel(tmp_path / "labels.openlabel.json")
    np.testing.assert_array_equal(back.timestamps_us, labels.timestamps_us)
    for frame, frame_back in zip(labels.frames, back.frames):
        assert len(frame) == len(frame_back)
        for cuboid, cuboid_back in zip(frame, frame_back):
            assert (cuboid_back.id, cuboid_back.track_id, cuboid_back.label, cuboid_back.source) == (cuboid.id, cuboid.track_id, cuboid.label, cuboid.source)
            np.testing.assert_allclose(cuboid_back.box, cuboid.box, atol=1e-12)
            assert cuboid_back.score == cuboid.score and cuboid_back.num_points == cuboid.num_points
            assert cuboid_back.attributes == cuboid.attributes
            if cuboid.velocity is None:
                assert cuboid_back.velocity is None
            else:
                np.testing.assert_array_equal(cuboid_back.velocity, cuboid.velocity)


def test_reading_bad_openlabel_is_one_line(tmp_path):
    (tmp_path / "bad.json").write_text('{"labels": []}')
    with pytest.raises(InputError, match="openlabel: missing top-level object"):
        read_openlabel(tmp_path / "bad.json")
    (tmp_path / "bad.json").write_text('{"openlabel": {"frames": {"0": {"frame_properties": {"timestamp": 1}, "objects": '
                                       '{"0": {"object_data": {"cuboid": [{"name": "b", "val": [1, 2, 3]}]}}}}}}}')
    with pytest.raises(InputError, match=r"frames\.0: ValueError: cuboid val: expected 10 values"):
        read_openlabel(tmp_path / "bad.json")
