"""`avlabel project` and render_overlay on the tiny log: an image, and one-line errors."""

import os
import subprocess
import sys

import numpy as np
import pytest

from avlabel.cli import main as cli_main
from avlabel.io.errors import InputError
from avlabel.io.logstore import DriveLog
from avlabel.structs import Cuboid, LabelFrame, Labels
from avlabel.sync.overlay import box_at, depth_colors, render_overlay
from avlabel.sync.settings import SyncConfig


def avlabel(*args):
    return subprocess.run(
        [sys.executable, "-m", "avlabel.cli", *map(str, args)], capture_output=True, text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def test_overlay_draws_points_and_truth_boxes(tiny_log):
    with DriveLog(tiny_log) as log:
        plain = log.camera_image(2, "camera_front").image
        overlay = render_overlay(log, 2, "camera_front")
        no_boxes = render_overlay(log, 2, "camera_front", Labels())
    assert overlay.shape == plain.shape and overlay.dtype == np.uint8
    # Points changed some pixels; the truth boxes changed others, drawn in class colours (car: orange).
    assert (no_boxes != plain).any(axis=2).sum() > 500
    boxes = (overlay != no_boxes).any(axis=2)
    near_orange = np.abs(overlay.astype(int) - (255, 158, 0)).sum(axis=2) < 90
    assert boxes.sum() > 100 and (boxes & near_orange).sum() > 50


def test_overlay_errors_are_one_clear_line(tiny_log):
    with DriveLog(tiny_log) as log:
        with pytest.raises(InputError, match="'radar_front' is a radar, not a camera"):
            render_overlay(log, 0, "radar_front")
        with pytest.raises(InputError, match="no sensor named 'camera_back'"):
            render_overlay(log, 0, "camera_back")
        with pytest.raises(InputError, match="no image within 5 ms of sweep 1"):
            render_overlay(log, 1, "camera_front", config=SyncConfig(tolerance_us={"camera": 5_000}))


def test_moving_boxes_are_carried_to_the_capture_time():
    cuboid = Cuboid("a", "1", "car", [1.0, 2.0, 0.5], [4, 2, 1.5], 0.0, velocity=[10.0, -2.0])
    np.testing.assert_allclose(box_at(cuboid, 20_000)[:3], [1.2, 1.96, 0.5])
    still = Cuboid("b", "2", "car", [1.0, 2.0, 0.5], [4, 2, 1.5], 0.0)
    np.testing.assert_allclose(box_at(still, 20_000), still.box)
    colors = depth_colors(np.array([0.5, 60.0, 500.0]))
    assert colors[0, 0] > 100 and colors[0, 2] < 50 and (colors[1] == colors[2]).all() and colors[1, 2] > 100


def test_cli_project_writes_a_png(tiny_log, tmp_path):
    out = tmp_path / "overlay.png"
    result = avlabel("project", tiny_log, "--frame", 1, "--camera", "camera_front", "--out", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("camera", "frame", "message"),
    [("lidar_top", 1, "is a lidar, not a camera"), ("nope", 1, "no sensor named 'nope'"), ("camera_front", 99, "0..4")],
)
def test_cli_project_refuses_bad_sensors_and_frames_in_one_line(tiny_log, tmp_path, capsys, camera, frame, message):
    code = cli_main(["project", str(tiny_log), "--frame", str(frame), "--camera", camera, "--out", str(tmp_path / "bad.png")])
    error = capsys.readouterr().err
    assert code == 2 and message in error and error.strip().count("\n") == 0 and "Traceback" not in error
    assert not (tmp_path / "bad.png").exists()


def test_cli_project_on_a_camera_without_intrinsics_is_one_line(tiny_log, tmp_path, capsys):
    import h5py

    with h5py.File(tiny_log, "a") as file:
        del file["calibration/camera_front/intrinsics"]
    code = cli_main(["project", str(tiny_log), "--frame", "0", "--camera", "camera_front", "--out", str(tmp_path / "x.png")])
    error = capsys.readouterr().err
    assert code == 2 and "camera_front" in error and "intrinsics" in error and error.strip().count("\n") == 0
