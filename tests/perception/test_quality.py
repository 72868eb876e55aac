"""Proposal quality on a short simulated log, pinned loosely so that regressions show.

The full figures (several seeds, more sweeps) come from scripts/measure_proposals.py;
this runs one 0.6 s default-profile log (seed 21: neither a tuning nor a measuring seed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avlabel.config import load_config
from avlabel.io.labels_file import read_labels
from avlabel.io.logstore import DriveLog
from avlabel.perception.quality import measure_labels, measure_log
from avlabel.perception.settings import PerceptionConfig
from avlabel.pipeline import run_log
from avlabel.structs import Labels

simulator = pytest.importorskip("avlabel.sim")


@pytest.fixture(scope="module")
def seed21(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("quality") / "seed21.h5"
    simulator.simulate(path, seconds=0.6, seed=21, profile="default", progress=False)
    return path


@pytest.fixture(scope="module")
def measured(seed21):
    with DriveLog(seed21) as log:
        return measure_log(log, PerceptionConfig())


@pytest.mark.slow
def test_ground_is_found(measured):
    assert measured.ground.f1 >= 0.95
    assert measured.ground.recall >= 0.98


@pytest.mark.slow
def test_cars_are_proposed(measured):
    detections = measured.detections
    assert detections.truth.get("car", 0) >= 10
    assert detections.recall("car") >= 0.7
    assert detections.precision("car") >= 0.75
    assert detections.median_yaw_error("car") <= 5.0


@pytest.mark.slow
def test_pedestrians_are_proposed(measured):
    detections = measured.detections
    if detections.truth.get("pedestrian", 0) < 5:
        pytest.skip("too few pedestrians in this short log")
    assert detections.recall("pedestrian") >= 0.7


@pytest.mark.slow
def test_score_means_something(measured):
    rows = measured.detections.precision_by_score((0.0, 0.5, 0.8, 1.01))
    precisions = [precision for _, precision, count in rows if count >= 5]
    assert precisions == sorted(precisions)
    assert np.isfinite(measured.seconds_per_sweep).all()


SAMPLE_LOG = Path(__file__).resolve().parents[2] / "sample_data" / "town_seed7.h5"


def test_labels_equal_to_the_truth_are_found_and_correct(seed21, measured):
    with DriveLog(seed21) as log:
        judged = measure_labels(log, log.truth())
        nothing = measure_labels(log, Labels(()))
    for label, count in judged.detections.truth.items():
        assert count > 0
        assert judged.detections.recall(label) == 1.0
        assert judged.detections.precision(label) == 1.0
        assert nothing.detections.recall(label) == 0.0
    assert judged.detections.truth == measured.detections.truth  # the same objects count as for the proposals


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE_LOG.exists(), reason="sample_data/town_seed7.h5 not present")
def test_the_pipelines_labels_on_the_sample_log(tmp_path):
    # The labels annotators get: proposals tracked across the log (0.945 / 1.0 for cars and
    # 0.795 / 0.981 for pedestrians when written), judged by the proposals' rules.
    result = run_log(SAMPLE_LOG, tmp_path, load_config())
    assert result.ok, result.error
    with DriveLog(SAMPLE_LOG) as log:
        detections = measure_labels(log, read_labels(result.labels_path)).detections
    assert detections.recall("car") >= 0.9
    assert detections.precision("car") >= 0.9
    assert detections.recall("pedestrian") >= 0.7
    assert detections.precision("pedestrian") >= 0.85
