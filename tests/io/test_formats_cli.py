"""`avlabel import` and `avlabel export` as users meet them: subprocesses, output, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tinylog import write_tiny_log
from kitti_folders import write_kitti_object_folder


def avlabel(*args):
    return subprocess.run([sys.executable, "-m", "avlabel.cli", *map(str, args)], capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def _one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.mark.slow
def test_import_then_export_every_format(tmp_path):
    folder = write_kitti_object_folder(tmp_path / "kitti", frames=1)
    result = avlabel("import", "kitti-object", folder, tmp_path / "kitti.h5")
    assert result.returncode == 0, result.stderr
    assert "velodyne" in result.stdout and "image_2" in result.stdout and "truth: 4 cuboids" in result.stdout
    assert avlabel("truth", tmp_path / "kitti.h5", "--out", tmp_path / "truth.json").returncode == 0
    for format_name, out in (("kitti", "k"), ("nuscenes", "n"), ("scale", "s"), ("openlabel", "o.json")):
        result = avlabel("export", format_name, tmp_path / "truth.json", tmp_path / "kitti.h5", tmp_path / out)
        assert result.returncode == 0, result.stderr
        assert f"wrote {tmp_path / out}: {format_name}, 1 frames" in result.stdout
    assert json.loads((tmp_path / "o.json").read_text())["openlabel"]["metadata"]["schema_version"] == "1.0.0"
    # The exported scene is named after the log, which is named after the KITTI folder.
    result = avlabel("import", "nuscenes", tmp_path / "n", tmp_path / "n.h5", "--scene", "kitti")
    assert result.returncode == 0, result.stderr
    assert "LIDAR_TOP" in result.stdout and "truth: 3 cuboids" in result.stdout  # the DontCare region has no nuScenes form


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    folder = write_kitti_object_folder(tmp_path / "kitti", frames=1)
    calib = folder / "calib" / "000000.txt"
    good = calib.read_text()
    calib.write_text("".join(line + "\n" for line in good.splitlines() if not line.startswith("R0_rect")))
    _one_line_error(avlabel("import", "kitti-object", folder, tmp_path / "a.h5"), "000000.txt", "R0_rect: missing matrix")
    calib.write_text(good)
    (folder / "label_2" / "000000.txt").write_text("Pedestrian 0.00 0 1.0 10 20\n")
    _one_line_error(avlabel("import", "kitti-object", folder, tmp_path / "a.h5"), "label_2/000000.txt: line 1: expected 15 fields")
    assert not (tmp_path / "a.h5").exists()

    log = write_tiny_log(tmp_path / "tiny.h5")
    from avlabel.io.exporters import export_nuscenes
    from avlabel.io.logstore import DriveLog

    with DriveLog(log) as opened:
        export_nuscenes(opened.truth(), opened, tmp_path / "dataroot")
    _one_line_error(avlabel("import", "nuscenes", tmp_path / "dataroot", tmp_path / "n.h5", "--scene", "scene-0103"), "scene 'scene-0103' does not exist (valid: tiny)")
    _one_line_error(avlabel("export", "kitti", tmp_path / "missing.json", log, tmp_path / "out"), "missing.json", "no such file")
