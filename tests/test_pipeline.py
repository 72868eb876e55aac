import json

import pytest

from avlabel.config import Config, config_from_document, load_config
from avlabel.io.errors import InputError
from avlabel.io.labels_file import read_labels
from avlabel.io.logstore import DriveLog
from avlabel.pipeline import run_logs
from tinylog import write_tiny_log


def test_run_writes_labels_and_manifest_per_log(tmp_path):
    logs = [write_tiny_log(tmp_path / f"log{index}.h5", seed=index) for index in range(2)]
    summary = run_logs(logs, tmp_path / "out", Config())
    assert not summary.failed
    for log_path in logs:
        folder = tmp_path / "out" / log_path.stem
        labels = read_labels(folder / "labels.json")
        with DriveLog(log_path) as log:
            assert list(labels.timestamps_us) == list(log.timestamps("lidar_top"))
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["schema"] == "avlabel.manifest/1" and manifest["log_name"] == log_path.stem
        stages = {stage["name"]: stage for stage in manifest["stages"]}
        assert list(stages)[:2] == ["sync", "propose"]
        assert stages["sync"]["report"]["streams"]["camera_front"]["matched"] == 5
        assert stages["propose"]["proposals"] == labels.num_cuboids()
        assert manifest["config"]["pipeline"]["engine"] == "local"
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["failed"] == 0


def test_a_bad_log_is_reported_and_the_others_finish(tmp_path):
    good = write_tiny_log(tmp_path / "good.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(good.read_bytes()[:5000])
    missing = tmp_path / "missing.h5"
    summary = run_logs([bad, good, missing], tmp_path / "out", Config(), workers=2)
    assert [result.ok for result in summary.results] == [False, True, False]
    assert summary.results[0].error.startswith(str(bad)) and "\n" not in summary.results[0].error
    assert "no such file" in summary.results[2].error
    assert (tmp_path / "out" / "good" / "labels.json").exists()
    assert not (tmp_path / "out" / "bad").exists()  # nothing half-written


def test_same_output_folder_twice_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    first = write_tiny_log(tmp_path / "x.h5")
    second = write_tiny_log(tmp_path / "a" / "x.h5")
    with pytest.raises(InputError, match="same folder 'x'"):
        run_logs([first, second], tmp_path / "out", Config())


def test_unknown_lidar_in_config_fails_that_log(tmp_path):
    config = config_from_document({"pipeline": {"lidar": "lidar_rear"}})
    summary = run_logs([write_tiny_log(tmp_path / "x.h5")], tmp_path / "out", config)
    assert "no LiDAR named 'lidar_rear'" in summary.failed[0].error


def test_config_errors_name_the_field(tmp_path):
    (tmp_path / "bad.toml").write_text("[pipeline]\nworkers = 'many'\n")
    with pytest.raises(InputError, match="pipeline.workers"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "typo.toml").write_text("[pipline]\n")
    with pytest.raises(InputError, match="pipline"):
        load_config(tmp_path / "typo.toml")
    (tmp_path / "broken.toml").write_text("[pipeline\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_config(tmp_path / "broken.toml")
    assert load_config() == Config()
