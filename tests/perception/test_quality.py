"""Proposal quality on a short simulated log, pinned loosely so that regressions show.

The full figures (several seeds, more sweeps) come from scripts/measure_proposals.py;
this runs one 0.6 s default-profile log (seed 21: neither a tuning nor a measuring seed).
"""

from __future__ import annotations

import numpy as np
import pytest

from avlabel.io.logstore import DriveLog
from avlabel.perception.quality import measure_log
from avlabel.perception.settings import PerceptionConfig

simulator = pytest.importorskip("avlabel.sim")


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    path = tmp_path_factory.mktemp("quality") / "seed21.h5"
    simulator.simulate(path, seconds=0.6, seed=21, profile="default", progress=False)
    with DriveLog(path) as log:
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
