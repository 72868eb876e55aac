"""Density clustering of point clouds: DBSCAN on a voxel grid (numba), near-linear.

`dbscan(points, eps, min_points)` is a contract used by outside benchmarks: it has
exactly DBSCAN's semantics as scikit-learn defines them:

- a point is *core* when at least `min_points` points, itself included, lie within
  `eps` (Euclidean, distance <= eps);
- core points within `eps` of each other are in the same cluster (transitively), so the
  partition of core points is the same as scikit-learn's, and clusters are numbered
  as scikit-learn numbers them (in the order of their lowest-index core point);
- a non-core point within `eps` of a core point is a *border* point and joins the
  cluster of its nearest such core point (scikit-learn takes whichever cluster reached it
  first; both are "a neighbouring cluster");
- everything else is noise, label -1.

`euclidean_clusters` is the min_points = 1 special case (connected components of the
eps-graph), and `range_adaptive_dbscan` grows eps with range for sparse far objects.
"""

from __future__ import annotations

import math

import numpy as np

from avlabel.perception import kernels

# A voxel a hair smaller than eps / sqrt(3), so that two points of one voxel are within
# eps of each other whatever the rounding.
_VOXEL_SHRINK = 1.0 - 1e-9


def dbscan(points: np.ndarray, eps: float, min_points: int) -> np.ndarray:
    """Cluster labels of points (N, 3) (any float dtype, any frame): (N,) int64, -1 noise.

    eps: neighbourhood radius in the points' unit (metres), > 0.
    min_points: neighbours (the point itself included) that make a point core, >= 1.
    Raises ValueError on NaN/inf coordinates, a wrong shape, or bad eps / min_points.
    """
    points = _checked_points(points)
    eps = _checked_eps(eps)
    min_points = _checked_min_points(min_points)
    labels, _ = _dbscan(points, eps, min_points)
    return labels


def dbscan_with_core(points: np.ndarray, eps: float, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """As `dbscan`, also returning the core mask (N,) bool."""
    points = _checked_points(points)
    return _dbscan(points, _checked_eps(eps), _checked_min_points(min_points))


def euclidean_clusters(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Connected components of the graph joining points (N, 3) within `tolerance`:
    (N,) int64 labels, every point in a cluster (DBSCAN with min_points 1)."""
    return dbscan(points, tolerance, 1)


def range_adaptive_dbscan(
    points: np.ndarray,
    eps: float,
    min_points: int,
    *,
    eps_per_metre: float,
    band_width: float = 10.0,
    origin: np.ndarray | None = None,
) -> np.ndarray:
    """DBSCAN whose radius grows with horizontal range from `origin` (the sensor, ego
    frame), for objects that far away get only a few widely spaced beams.

    The radius at range r is max(eps, eps_per_metre * r). Points are clustered in range
    bands `band_width` wide, each with the radius of its far edge, and a band's clusters
    are merged with the previous band's where they share points (bands overlap by that
    radius), so an object across a band boundary stays whole. Returns (N,) int64 labels.
    """
    points = _checked_points(points)
    eps = _checked_eps(eps)
    min_points = _checked_min_points(min_points)
    if not math.isfinite(eps_per_metre) or eps_per_metre < 0:
        raise ValueError(f"eps_per_metre: expected a finite number >= 0, got {eps_per_metre!r}")
    if not math.isfinite(band_width) or band_width <= 0:
        raise ValueError(f"band_width: expected a finite number > 0 (metres), got {band_width!r}")
    origin = np.zeros(3) if origin is None else np.asarray(origin, dtype=np.float64).reshape(3)
    count = len(points)
    if count == 0 or eps_per_metre == 0.0:
        return dbscan(points, eps, min_points)
    ranges = np.hypot(points[:, 0] - origin[0], points[:, 1] - origin[1])
    labels = np.full(count, -1, np.int64)
    parents: list[int] = []
    band_start = 0.0
    maximum = float(ranges.max())
    # Out to where the radius starts to grow, one band: the radius is eps throughout.
    first_stop = max(band_width, math.ceil(eps / eps_per_metre / band_width) * band_width)
    while band_start <= maximum:
        band_stop = first_stop if band_start == 0.0 else band_start + band_width
        radius = max(eps, eps_per_metre * band_stop)
        # Overlap with the previous band so that clusters crossing the boundary share points.
        selected = np.flatnonzero((ranges >= band_start - radius) & (ranges < band_stop))
        if len(selected):
            band_labels, _ = _dbscan(kernels._take_rows(points, selected), radius, min_points)
            base = len(parents)
            clusters = int(band_labels.max()) + 1
            parents.extend(range(base, base + clusters))
            clustered = band_labels >= 0
            indices, new = selected[clustered], base + band_labels[clustered]
            old = labels[indices]
            # Clusters of this band that share points with the previous band's are one.
            shared = old >= 0
            if shared.any():
                span = base + clusters
                for key in np.unique(old[shared] * span + new[shared]).tolist():
                    _union(parents, key // span, key % span)
            # Points get this band's label unless they lie in the overlap and had one.
            take = (old < 0) | (ranges[indices] >= band_start)
            labels[indices[take]] = new[take]
        band_start = band_stop
    if not parents:
        return labels
    roots = np.asarray(parents, dtype=np.int64)
    while True:  # follow every chain to its root at once
        deeper = roots[roots]
        if np.array_equal(deeper, roots):
            break
        roots = deeper
    clustered = labels >= 0
    labels[clustered] = roots[labels[clustered]]
    _, labels[clustered] = np.unique(labels[clustered], return_inverse=True)
    return labels


def _dbscan(points: np.ndarray, eps: float, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Checked points (N, 3) float64 -> labels (N,) int64, core (N,) bool."""
    count = len(points)
    if count == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.bool_)
    side = eps / math.sqrt(3.0) * _VOXEL_SHRINK
    low, high = kernels._bounds(points)
    span = float((high - low).max())
    if span / side > 2.0**60:
        raise ValueError(f"eps={eps} is too small for a cloud spanning {span:.3g}: shift and scale the points, or raise eps")
    cells, extent = kernels._voxel_cells(points, low, side)
    if float(extent[0]) * float(extent[1]) * float(extent[2]) < 2.0**62:
        order = kernels._radix_order(cells, extent)
    else:
        order = np.lexsort((cells[:, 2], cells[:, 1], cells[:, 0]))
    return kernels._dbscan_sorted(kernels._take_rows(points, order), kernels._take_rows(cells, order), order, float(eps), int(min_points))


def _checked_points(points: np.ndarray) -> np.ndarray:
    array = np.asarray(points)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"points: expected a numeric (N, 3) array, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"points: expected shape (N, 3), got {array.shape} (pass points[:, :3] for wider rows)")
    array = np.asarray(array, dtype=np.float64)
    if array.size and not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array).all(axis=1)))
        raise ValueError(f"points: {bad} point(s) have NaN or infinite coordinates; drop them first (np.isfinite(points).all(axis=1))")
    return array


def _checked_eps(eps: float) -> float:
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise ValueError(f"eps: expected a positive number (metres), got {eps!r}")
    eps = float(eps)
    if not math.isfinite(eps) or eps <= 0.0:
        raise ValueError(f"eps: expected a finite number > 0 (metres), got {eps!r}")
    return eps


def _checked_min_points(min_points: int) -> int:
    if isinstance(min_points, (bool, np.bool_)) or not isinstance(min_points, (int, np.integer)):
        raise ValueError(f"min_points: expected an integer >= 1, got {min_points!r}")
    if min_points < 1:
        raise ValueError(f"min_points: expected an integer >= 1 (it counts the point itself), got {min_points}")
    return int(min_points)


def _root(parents: list[int], item: int) -> int:
    while parents[item] != item:
        parents[item] = parents[parents[item]]
        item = parents[item]
    return item


def _union(parents: list[int], first: int, second: int) -> None:
    first, second = _root(parents, first), _root(parents, second)
    if first != second:
        parents[max(first, second)] = min(first, second)
