"""numba kernels of the sync stage: arrays and scalars in, arrays out. Callers check inputs."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def deskew_kernel(
    xyz: np.ndarray,
    time_offsets_us: np.ndarray,
    knot_start_us: float,
    step_us: float,
    rotations: np.ndarray,
    translations: np.ndarray,
    out: np.ndarray,
) -> None:
    """out[i] = linear blend, between the knots around point i's time, of R_k @ xyz[i] + t_k.

    xyz (N, 3) float32, time_offsets_us (N,) float32, rotations (K, 3, 3) float64,
    translations (K, 3) float64 with K >= 2, out (N, 3) float32 (may be a view).
    """
    last = rotations.shape[0] - 2
    for index in range(xyz.shape[0]):
        position = (time_offsets_us[index] - knot_start_us) / step_us
        lower = int(np.floor(position))
        lower = min(max(lower, 0), last)
        fraction = position - lower
        x, y, z = float(xyz[index, 0]), float(xyz[index, 1]), float(xyz[index, 2])
        for row in range(3):
            at_lower = rotations[lower, row, 0] * x + rotations[lower, row, 1] * y + rotations[lower, row, 2] * z + translations[lower, row]
            upper = lower + 1
            at_upper = rotations[upper, row, 0] * x + rotations[upper, row, 1] * y + rotations[upper, row, 2] * z + translations[upper, row]
            out[index, row] = at_lower + fraction * (at_upper - at_lower)
