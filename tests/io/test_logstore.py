import shutil

import h5py
import numpy as np
import pytest

from avlabel.io.errors import LogError
from avlabel.io.logstore import DriveLog, DriveLogWriter, PointTruth
from avlabel.structs import Calibration, CameraImage, LidarSweep
from tinylog import make_calibrations, make_truth, write_tiny_log


def test_round_trip_every_stream(tmp_path):
    path = write_tiny_log(tmp_path / "log.h5", seed=3)
    rng = np.random.default_rng(3)  # the same draws write_tiny_log made for sweep 0
    expected_points = np.column_stack([
        rng.uniform(-30, 30, (2000, 3)), rng.uniform(0, 1, 2000), rng.uniform(-50_000, 50_000, 2000), rng.integers(0, 32, 2000),
    ]).astype(np.float32)
    with DriveLog(path) as log:
        assert log.name == "log"
        assert log.origin_lat_lon_alt == (48.1, 11.5, 520.0)
        assert log.calibrations == {c.sensor: c for c in make_calibrations()}
        assert log.sensors("lidar") == ["lidar_top"] and log.sensors("camera") == ["camera_front"]
        sweep = log.sweep(0)
        np.testing.assert_array_equal(sweep.points, expected_points)
        assert sweep.timestamp_us == 1_000_000
        assert len(log.point_truth(4).semantic) == len(log.sweep(4))
        assert log.radar_scan(2, "radar_front").detections.shape == (7, 5)
        np.testing.assert_array_equal(log.radar_truth(2, "radar_front"), [1, -1, -1, 2, -1, 1, -1])
        image = log.camera_image(1, "camera_front")
        assert image.size == (320, 200) and tuple(image.image[0, 0]) == (120, 170, 230)  # png is lossless
        assert log.truth() == make_truth(1_000_000 + np.arange(5) * 100_000)
        assert len(log.poses()) == 60 and len(log.gnss()) == 6 and len(log.imu()) == 60
        log.validate(deep=True)


def test_summary_reports_rates_offsets_and_gaps(tiny_log):
    with DriveLog(tiny_log) as log:
        summary = log.summary()
    lidar = summary["streams"]["lidar_top"]
    assert lidar["rate_hz"] == pytest.approx(10.0) and lidar["points"] == 10_000 and lidar["gaps"] == 0
    assert summary["streams"]["camera_front"]["clock_offset_us"] == -3100
    assert summary["truth_tracks"] == 2 and summary["truth_frames"] == 5


def test_reading_a_frame_does_not_read_other_frames(tiny_log, monkeypatch):
    reads = []
    original = h5py.Dataset.__getitem__

    def counting(self, selection):
        if self.name.endswith("/points"):
            reads.append(selection)
        return original(self, selection)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting)
    with DriveLog(tiny_log) as log:
        log.sweep(3)
    assert reads == [slice(6000, 8000)]


def test_writer_leaves_nothing_behind_on_failure(tmp_path):
    path = tmp_path / "broken.h5"
    with pytest.raises(RuntimeError):
        with DriveLogWriter(path, name="broken") as log:
            log.add_calibration(Calibration("lidar_top", "lidar", np.eye(4)))
            raise RuntimeError("simulated crash")
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_data_before_calibration_and_backwards_time(tmp_path):
    with DriveLogWriter(tmp_path / "a.h5", name="a") as log:
        with pytest.raises(ValueError, match="calibration"):
            log.add_lidar_sweep(LidarSweep("lidar_top", 0, np.zeros((1, 6), np.float32)))
        log.add_calibration(Calibration("lidar_top", "lidar", np.eye(4)))
        log.add_lidar_sweep(LidarSweep("lidar_top", 100, np.zeros((1, 6), np.float32)))
        with pytest.raises(ValueError, match="increase strictly"):
            log.add_lidar_sweep(LidarSweep("lidar_top", 100, np.zeros((1, 6), np.float32)))
        with pytest.raises(ValueError, match="does not match"):
            log.add_lidar_sweep(LidarSweep("lidar_top", 200, np.zeros((2, 6), np.float32)), truth=PointTruth(np.zeros(1, np.uint8), np.zeros(1, np.int32)))


# ---------------------------------------------------------------- malformed logs: one clear line each


def _one_line(error: LogError) -> str:
    message = str(error)
    assert "\n" not in message
    return message


def test_missing_empty_and_foreign_files(tmp_path):
    with pytest.raises(LogError, match="no such file"):
        DriveLog(tmp_path / "nope.h5")
    (tmp_path / "empty.h5").write_bytes(b"")
    with pytest.raises(LogError, match="empty file"):
        DriveLog(tmp_path / "empty.h5")
    (tmp_path / "text.h5").write_text("not hdf5 at all\n" * 100)
    with pytest.raises(LogError, match="not a readable HDF5 file") as error:
        DriveLog(tmp_path / "text.h5")
    assert _one_line(error.value).startswith(str(tmp_path / "text.h5"))
    with h5py.File(tmp_path / "other.h5", "w") as other:
        other["x"] = np.zeros(3)
    with pytest.raises(LogError, match="not an avlabel drive log"):
        DriveLog(tmp_path / "other.h5")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, 0.99])
def test_truncated_log_gives_one_clear_line(tiny_log, tmp_path, keep):
    data = tiny_log.read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(LogError) as error:
        with DriveLog(truncated) as log:
            log.validate(deep=True)
    assert str(truncated) in _one_line(error.value)


def _edit(path, edit):
    with h5py.File(path, "r+") as file:
        edit(file)


@pytest.mark.parametrize(
    "edit, where, message",
    [
        (lambda f: f["lidar/lidar_top/timestamps_us"].__setitem__(2, 900_000), "lidar/lidar_top/timestamps_us", "increase strictly"),
        (lambda f: (f["lidar/lidar_top"].__delitem__("points"), f["lidar/lidar_top"].create_dataset("points", data=np.zeros((10_000, 6)))), "lidar/lidar_top/points", "expected dtype float32"),
        (lambda f: (f["lidar/lidar_top"].__delitem__("points"), f["lidar/lidar_top"].create_dataset("points", data=np.zeros((10_000, 4), np.float32))), "lidar/lidar_top/points", "expected shape"),
        (lambda f: f["lidar/lidar_top/point_offsets"].__setitem__(5, 7), "point_offsets", "offsets must rise"),
        (lambda f: f["calibration/camera_front"].__delitem__("intrinsics"), "calibration/camera_front", "no intrinsics"),
        (lambda f: f["calibration"].__delitem__("radar_front"), "radar/radar_front", "no radar calibration"),
        (lambda f: f.attrs.__setitem__("schema", "avlabel.log/99"), "/ attrs", "not supported"),
    ],
)
def test_malformed_structure_is_named(tiny_log, edit, where, message):
    _edit(tiny_log, edit)
    with pytest.raises(LogError, match=message) as error:
        DriveLog(tiny_log)
    assert where in _one_line(error.value)


def test_nan_points_are_reported_when_read(tiny_log):
    _edit(tiny_log, lambda f: f["lidar/lidar_top/points"].__setitem__((4100, 2), np.nan))
    with DriveLog(tiny_log) as log:
        log.sweep(0)
        with pytest.raises(LogError, match=r"lidar/lidar_top/points\[2\]: .*NaN"):
            log.sweep(2)
        with pytest.raises(LogError, match="NaN"):
            log.validate(deep=True)


def test_bad_pose_series_is_reported(tiny_log):
    _edit(tiny_log, lambda f: f["poses/world_from_ego"].__setitem__((3, 0, 0), 2.0))
    with DriveLog(tiny_log) as log:
        with pytest.raises(LogError, match="poses: .*not rotations"):
            log.poses()


def test_out_of_range_frame(tiny_log):
    with DriveLog(tiny_log) as log, pytest.raises(IndexError, match="out of range"):
        log.sweep(5)


def test_unknown_sensor_lists_the_known_ones(tiny_log):
    with DriveLog(tiny_log) as log, pytest.raises(LogError, match="the log has: camera_front, lidar_top, radar_front"):
        log.timestamps("lidar_rear")


def test_log_without_truth(tmp_path):
    with DriveLog(write_tiny_log(tmp_path / "bare.h5", truth=False)) as log:
        assert log.truth() is None and log.point_truth(0) is None and log.radar_truth(0, "radar_front") is None


def test_jpeg_images_decode_close_to_original(tmp_path):
    image = np.random.default_rng(1).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    image[:] = image.mean(axis=(0, 1)).astype(np.uint8)  # flat: JPEG keeps it almost exactly
    path = tmp_path / "jpeg.h5"
    with DriveLogWriter(path, name="jpeg") as log:
        log.add_calibration(Calibration("cam", "camera", np.eye(4), intrinsics=np.diag([50.0, 50.0, 1.0]), image_size=(80, 60)))
        log.add_camera_image(CameraImage("cam", 5, image))
    with DriveLog(path) as log:
        assert np.abs(log.camera_image(0, "cam").image.astype(int) - image).max() <= 2
        assert log.encoded_image(0, "cam")[1] == "jpeg"
