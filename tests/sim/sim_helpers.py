"""Pose look-ups the sim tests share: stored 100 Hz poses interpolated at any log time."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from avlabel.structs import PoseSeries

# The shared session log (see conftest.py).
SECONDS, SEED, PROFILE = 20.0, 5, "test"


def world_from_ego_at(poses: PoseSeries, times_us: np.ndarray) -> np.ndarray:
    """(N, 4, 4) world_from_ego at log times (N,) µs: linear translation, SLERP rotation."""
    times_us = np.atleast_1d(np.asarray(times_us, dtype=np.float64))
    stamps = poses.timestamps_us.astype(np.float64)
    slerp = Slerp(stamps, Rotation.from_matrix(poses.world_from_ego[:, :3, :3]))
    result = np.tile(np.eye(4), (len(times_us), 1, 1))
    result[:, :3, :3] = slerp(np.clip(times_us, stamps[0], stamps[-1])).as_matrix()
    for axis in range(3):
        result[:, axis, 3] = np.interp(times_us, stamps, poses.world_from_ego[:, axis, 3])
    return result
