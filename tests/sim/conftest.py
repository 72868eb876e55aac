"""One simulated 20 s log (profile "test"), made once per test session and shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from avlabel.io.logstore import DriveLog
from avlabel.sim import simulate
from sim_helpers import PROFILE, SECONDS, SEED


@pytest.fixture(scope="session")
def simulated_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate(tmp_path_factory.mktemp("sim") / "town.h5", seconds=SECONDS, seed=SEED, profile=PROFILE)


@pytest.fixture(scope="session")
def simulated_log(simulated_path: Path) -> DriveLog:
    log = DriveLog(simulated_path)
    yield log
    log.close()
