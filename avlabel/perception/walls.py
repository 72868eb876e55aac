"""Peeling walls off clusters: a pedestrian by a facade or a car against a garden wall
joins the wall's cluster at any usable radius, and the joint cluster is too large for
any class. Such clusters lose their dominant vertical plane (a line in the bird's-eye
view, found by RANSAC) and what is left is clustered again, so the object comes free.
"""

from __future__ import annotations

import numpy as np

from avlabel.perception import boxfit, cluster, kernels

_HYPOTHESES = 32
_SAMPLE = 800


def peel_walls(
    xyz: np.ndarray,
    labels: np.ndarray,
    *,
    largest: float,
    eps: float,
    min_points: int,
    tolerance: float,
    min_length: float,
    rounds: int,
) -> np.ndarray:
    """Labels (N,) after peeling walls off clusters whose bird's-eye bounding box
    diagonal exceeds `largest` (metres).

    xyz (N, 3) ego frame; labels (N,) contiguous cluster labels, -1 noise. In each round,
    every oversize cluster's best bird's-eye line (most points within `tolerance`) is a
    wall when its inliers span at least `min_length` along it; wall points become noise
    (-1) and the rest of each peeled cluster is clustered again with DBSCAN(eps,
    min_points). Deterministic (fixed random seed)."""
    labels = np.asarray(labels, dtype=np.int64).copy()
    random = np.random.default_rng(0)
    for _ in range(rounds):
        order, offsets = boxfit.cluster_order(labels)
        if len(offsets) < 2:
            break
        statistics = kernels._cluster_statistics(xyz, xyz[:, 2], xyz[:, 2], order, offsets)
        oversize = np.flatnonzero(np.hypot(statistics[:, 1] - statistics[:, 0], statistics[:, 3] - statistics[:, 2]) > largest)
        if len(oversize) == 0:
            break
        peeled = []
        for cluster_index in oversize:
            members = order[offsets[cluster_index] : offsets[cluster_index + 1]]
            wall = _wall_inliers(xyz[members, :2], tolerance, min_length, random)
            if wall is not None:
                labels[members[wall]] = -2  # wall: out of every cluster from now on
                peeled.append(cluster_index)
        if not peeled:
            break
        rest = np.flatnonzero(np.isin(labels, peeled))
        if len(rest):
            parts = cluster.dbscan(xyz[rest], eps, min_points)
            labels[rest] = np.where(parts >= 0, parts + int(labels.max()) + 1, -1)
        labels = _contiguous(labels)
    labels[labels < -1] = -1
    return labels


def _wall_inliers(xy: np.ndarray, tolerance: float, min_length: float, random: np.random.Generator) -> np.ndarray | None:
    """Mask of the points (M, 2) near the best RANSAC line, or None when that line's
    inliers span less than min_length."""
    count = len(xy)
    if count < 10:
        return None
    sample = xy if count <= _SAMPLE else xy[random.choice(count, _SAMPLE, replace=False)]
    first = sample[random.integers(0, len(sample), _HYPOTHESES)]
    second = sample[random.integers(0, len(sample), _HYPOTHESES)]
    direction = second - first
    norms = np.hypot(direction[:, 0], direction[:, 1])
    usable = norms > 0.5
    if not usable.any():
        return None
    first, direction = first[usable], direction[usable] / norms[usable, None]
    normal = np.column_stack([-direction[:, 1], direction[:, 0]])
    distance = np.abs((sample[None, :, 0] - first[:, None, 0]) * normal[:, None, 0] + (sample[None, :, 1] - first[:, None, 1]) * normal[:, None, 1])
    best = int(np.argmax((distance < tolerance).sum(axis=1)))
    inliers = np.abs((xy[:, 0] - first[best, 0]) * normal[best, 0] + (xy[:, 1] - first[best, 1]) * normal[best, 1]) < tolerance
    along = (xy[inliers, 0] - first[best, 0]) * direction[best, 0] + (xy[inliers, 1] - first[best, 1]) * direction[best, 1]
    if len(along) < 10 or np.ptp(along) < min_length:
        return None
    return inliers


def _contiguous(labels: np.ndarray) -> np.ndarray:
    """Renumber labels >= 0 to 0..K-1 in the order of their values; negatives kept."""
    clustered = labels >= 0
    if clustered.any():
        present = np.zeros(int(labels.max()) + 1, bool)
        present[labels[clustered]] = True
        labels[clustered] = (np.cumsum(present) - 1)[labels[clustered]]
    return labels
