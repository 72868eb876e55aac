"""The CLI as users meet it: a subprocess, its output and exit code."""

import json
import os
import subprocess
import sys

from tinylog import write_tiny_log


def avlabel(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "avlabel.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_info_prints_streams_and_validates(tiny_log):
    result = avlabel("info", tiny_log, "--deep")
    assert result.returncode == 0, result.stderr
    assert "lidar_top" in result.stdout and "10.0" in result.stdout and "2,000 points/sweep" in result.stdout
    assert "valid (every frame read)" in result.stdout
    as_json = json.loads(avlabel("info", tiny_log, "--json").stdout)
    assert as_json["streams"]["camera_front"]["image_size"] == [320, 200]


def test_bad_log_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "junk.h5").write_text("junk")
    result = avlabel("info", tmp_path / "junk.h5")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "junk.h5" in result.stderr and "Traceback" not in result.stderr


def test_truth_writes_a_labels_file(tiny_log, tmp_path):
    result = avlabel("truth", tiny_log, "--out", tmp_path / "truth.json")
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "truth.json").read_text())
    assert document["schema"] == "avlabel.labels/1" and document["frames"][1]["cuboids"][0]["source"] == "truth"
    bare = write_tiny_log(tmp_path / "bare.h5", truth=False)
    result = avlabel("truth", bare, "--out", tmp_path / "none.json")
    assert result.returncode == 2 and "no ground truth" in result.stderr


def test_run_exit_code_reflects_failures(tmp_path):
    good = write_tiny_log(tmp_path / "good.h5")
    (tmp_path / "bad.h5").write_bytes(b"\x89HDF\r\n")
    result = avlabel("run", good, tmp_path / "bad.h5", "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "1 of 2 logs done" in result.stdout and "FAILED" in result.stderr and "bad.h5" in result.stderr
    assert avlabel("run", good, "--out", tmp_path / "out2").returncode == 0


def test_view_refuses_a_negative_memory_budget_in_one_line(tiny_log):
    result = avlabel("view", tiny_log, "--annotator", "ci", "--memory-gib", "-1", "--screenshot", "never.png")
    assert result.returncode == 2
    assert "--memory-gib" in result.stderr and "Traceback" not in result.stderr
