"""`avlabel project` and render_overlay on the tiny log: an image, and one-line errors."""

import os
import subprocess
import sys

import numpy as np
import pytest

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
    # Points changed some pixels; the truth car (orange, class colour) changed more.
    assert (no_boxes != plain).any(axis=2).sum() > 500
    orange = np.all(overlay == (255, 158, 0), axis=2).sum()
    assert orange > 100 and np.all(no_boxes == (255, 158, 0), axis=2).sum() == 0


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


def test_cli_project_writes_a_png_and_refuses_bad_sensors(tiny_log, tmp_path):
    out = tmp_path / "overlay.png"
    result = avlabel("project", tiny_log, "--frame", 1, "--camera", "camera_front", "--out", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for camera, message in (("lidar_top", "is a lidar, not a camera"), ("nope", "no sensor named 'nope'")):
        result = avlabel("project", tiny_log, "--frame", 1, "--camera", camera, "--out", tmp_path / "bad.png")
        assert result.returncode == 2 and message in result.stderr
        assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    result = avlabel("project", tiny_log, "--frame", 99, "--camera", "camera_front", "--out", tmp_path / "bad.png")
    assert result.returncode == 2 and "0..4" in result.stderr
    assert not (tmp_path / "bad.png").exists()
