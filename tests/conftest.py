"""Shared fixtures. The builders live in tinylog.py so tests import them by a unique name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinylog import write_tiny_log


@pytest.fixture
def tiny_log(tmp_path: Path) -> Path:
    return write_tiny_log(tmp_path / "tiny.h5")
