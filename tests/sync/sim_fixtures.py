"""A simulated drive through a left turn, shared by the sync tests that need exact truth.

Seed 5, 20 s, profile "test": the ego drives straight at about 9 m/s, stops, then turns
left at up to 0.46 rad/s from 16 s to 21 s. Simulating it takes a minute or two, so the
file is kept in pytest's cache, keyed by the simulator's and the store's source, and made
again only when they change. Test modules import these fixtures by name.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from avlabel.io.logstore import DriveLog
from sim_checks import PROFILE, SECONDS, SEED

SOURCES = ("avlabel/sim", "avlabel/io/logstore.py", "avlabel/structs")


def _source_key() -> str:
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256(f"{SEED}/{SECONDS}/{PROFILE}".encode())
    for source in SOURCES:
        path = root / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def turning_log_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from avlabel.sim import simulate

    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("avlabel_sync_sim")) if cache is not None else tmp_path_factory.mktemp("sim")
    path = folder / f"turning_{_source_key()}.h5"
    if not path.exists():
        for stale in folder.glob("turning_*.h5"):
            stale.unlink()
        simulate(path, seconds=SECONDS, seed=SEED, profile=PROFILE)
    return path


@pytest.fixture(scope="session")
def turning_log(turning_log_path: Path) -> DriveLog:
    log = DriveLog(turning_log_path)
    yield log
    log.close()


@pytest.fixture(scope="session")
def turning_world():
    """The simulator's scenario of that log (exact ego and object poses at any time)."""
    from avlabel.sim import simulation_world

    return simulation_world(seed=SEED, profile=PROFILE, seconds=SECONDS)[0]
