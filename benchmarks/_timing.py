"""Timing shared by the benchmarks (imported by name: scripts run from benchmarks/)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def median_seconds(function: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls of `function`, in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))
