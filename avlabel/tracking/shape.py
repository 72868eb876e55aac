"""One size per rigid object, and boxes of partial views re-centred at that size.

A box fitted to the LiDAR points of an object covers only what the sensor saw: when the
far side of an object is hidden, the fitted extent along that axis falls short and the
box centre sits too close to the ego. Over a track, the best-observed frames (most
points) tell the real size; every partial box can then be grown back to that size,
keeping the faces that looked towards the ego where they were.
"""

from __future__ import annotations

import math

import numpy as np

from avlabel.tracking.measurements import Detections
from avlabel.tracking.settings import ClassTracking

# At least this many of the best-observed observations vote for the size.
_FEWEST_FOR_QUANTILE = 3
# Metres over which the re-centring fades in as a face turns towards the ego.
_FACE_RAMP = 1.0


def weighted_quantile(values: np.ndarray, weights: np.ndarray, quantile: float) -> float:
    """Quantile of values (K,) under weights (K,) >= 0 (midpoint interpolation of the CDF)."""
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    cumulative = np.cumsum(weights) - 0.5 * weights
    return float(np.interp(quantile * weights.sum(), cumulative, values))


def consolidated_size(sizes: np.ndarray, num_points: np.ndarray, table: ClassTracking) -> np.ndarray:
    """(3,) one [length, width, height] from observed sizes (K, 3) and their point counts (K,).

    The best-observed `best_observed_fraction` of the observations (by points, at least 3)
    vote, weighted by points, for the `size_quantile` of each dimension, together with the
    class's `typical_size` voting with the weight of `size_prior_points` points: a track
    seen only sparsely or partly keeps close to the typical size (as the proposal stage
    completes partial views), a well-observed one has its own.
    """
    count = len(sizes)
    chosen = np.argsort(-num_points, kind="stable")[: max(_FEWEST_FOR_QUANTILE, math.ceil(table.best_observed_fraction * count))]
    weights = np.maximum(num_points[chosen].astype(np.float64), 1.0)
    chosen_sizes = sizes[chosen]
    if table.size_prior_points > 0:
        chosen_sizes = np.vstack([chosen_sizes, table.typical_size])
        weights = np.append(weights, table.size_prior_points)
    # weighted_quantile on each column at once
    order = np.argsort(chosen_sizes, axis=0)
    ordered_sizes = np.take_along_axis(chosen_sizes, order, axis=0)
    ordered_weights = weights[order]
    cumulative = np.cumsum(ordered_weights, axis=0) - 0.5 * ordered_weights
    target = table.size_quantile * weights.sum()
    return np.array([np.interp(target, cumulative[:, axis], ordered_sizes[:, axis]) for axis in range(3)])


def anchored_centres(boxes: np.ndarray, sizes: np.ndarray, ego_positions: np.ndarray) -> np.ndarray:
    """(K, 2) ground-plane centres of boxes (K, 7) grown (or shrunk) to sizes (K, 3) or (3,),
    keeping the faces that look towards the ego (ego_positions (K, 3), world frame) in place.

    A face across the box's length (or width) axis looks at the ego when the ego lies
    beyond it; the shift fades in over _FACE_RAMP metres. Without a pose (NaN) nothing moves.
    """
    sizes = np.broadcast_to(sizes, (len(boxes), 3))
    centres = boxes[:, :2].copy()
    known = np.isfinite(ego_positions[:, :2]).all(axis=1)
    if not known.any():
        return centres
    cos_yaw, sin_yaw = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    offset = ego_positions[:, :2] - boxes[:, :2]
    forward = cos_yaw * offset[:, 0] + sin_yaw * offset[:, 1]  # ego position along the box's length axis
    left = -sin_yaw * offset[:, 0] + cos_yaw * offset[:, 1]  # ... and across it
    shifts = []
    for along, observed, full in ((forward, boxes[:, 3], sizes[:, 0]), (left, boxes[:, 4], sizes[:, 1])):
        facing = np.clip((np.abs(along) - 0.5 * observed) / _FACE_RAMP, 0.0, 1.0)
        shifts.append(-np.sign(along) * facing * 0.5 * (full - observed))
    centres[:, 0] += cos_yaw * shifts[0] - sin_yaw * shifts[1]
    centres[:, 1] += sin_yaw * shifts[0] + cos_yaw * shifts[1]
    return np.where(known[:, None], centres, boxes[:, :2])


def track_measurements(rows: np.ndarray, detections: Detections, table: ClassTracking) -> tuple[np.ndarray, np.ndarray]:
    """The size (3,) of the track made of detection `rows` (K,), and its measurements (K, 7)
    with centres re-centred at that size when the class table asks for it."""
    size = consolidated_size(detections.seen_sizes[rows], detections.num_points[rows], table)
    measurements = detections.measurements[rows]  # a copy: fancy indexing
    if table.anchor_partial_views:
        measurements[:, :2] = anchored_centres(detections.boxes[rows], size, detections.ego_positions[detections.frame[rows]])
    return size, measurements
