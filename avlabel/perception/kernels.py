"""Numba kernels of the perception stage. Private: arrays and scalars in, arrays out.

The public functions that call them (`cluster.py`, `ground.py`, `boxfit.py`) check and
convert their inputs; nothing here validates anything. Compiler options live in `_JIT`.

Clustering grid
---------------
DBSCAN runs on a voxel grid of side `eps / sqrt(3)` (a hair less), so that any two
points of one voxel are within `eps` of each other. The points are sorted by voxel
(lexicographic ix, iy, iz), and the voxels whose centres may hold points within `eps`
of a voxel are the 5 x 5 x 5 block around it. For a fixed (dx, dy) the block's voxels
(ix+dx, iy+dy, iz-2..iz+2) are contiguous in the sorted order, and their start moves
forward monotonically as we walk the sorted voxels, so 25 forward-only cursors find
every neighbouring voxel without hashing: linear after the sort.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = {"cache": True, "nogil": True}

# Offsets (dx, dy) of the 25 voxel columns around a voxel, and the z half-reach.
_REACH = 2


@njit(**_JIT)
def _lexicographic_less(cells: np.ndarray, index: int, x: int, y: int, z: int) -> bool:
    """cells[index] < (x, y, z) in lexicographic order."""
    if cells[index, 0] != x:
        return cells[index, 0] < x
    if cells[index, 1] != y:
        return cells[index, 1] < y
    return cells[index, 2] < z


@njit(**_JIT)
def _voxel_table(sorted_cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct voxels of points sorted by voxel: voxel coordinates (V, 3) int64 and
    point offsets (V + 1,) int64 (voxel v holds sorted points offsets[v]:offsets[v+1])."""
    count = sorted_cells.shape[0]
    starts = np.empty(count + 1, np.int64)
    voxels = 0
    for index in range(count):
        if (
            index == 0
            or sorted_cells[index, 0] != sorted_cells[index - 1, 0]
            or sorted_cells[index, 1] != sorted_cells[index - 1, 1]
            or sorted_cells[index, 2] != sorted_cells[index - 1, 2]
        ):
            starts[voxels] = index
            voxels += 1
    starts[voxels] = count
    offsets = starts[: voxels + 1].copy()
    coordinates = np.empty((voxels, 3), np.int64)
    for voxel in range(voxels):
        coordinates[voxel] = sorted_cells[offsets[voxel]]
    return coordinates, offsets


@njit(**_JIT)
def _voxel_neighbours(coordinates: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """For voxels sorted lexicographically (V, 3), every other voxel within `reach` cells
    along each axis, as CSR: neighbour_offsets (V + 1,), neighbours (E,) int64."""
    voxels = coordinates.shape[0]
    width = 2 * reach + 1
    columns = width * width
    cursors = np.zeros(columns, np.int64)
    counts = np.zeros(voxels + 1, np.int64)
    # Two passes over the same cursor walk: count, then fill.
    for fill in range(2):
        if fill == 1:
            total = 0
            for voxel in range(voxels):
                current = counts[voxel]
                counts[voxel] = total
                total += current
            counts[voxels] = total
            neighbours = np.empty(total, np.int64)
            cursors[:] = 0
        else:
            neighbours = np.empty(0, np.int64)
        for voxel in range(voxels):
            x = coordinates[voxel, 0]
            y = coordinates[voxel, 1]
            z = coordinates[voxel, 2]
            written = 0
            for column in range(columns):
                target_x = x + column // width - reach
                target_y = y + column % width - reach
                cursor = cursors[column]
                while cursor < voxels and _lexicographic_less(coordinates, cursor, target_x, target_y, z - reach):
                    cursor += 1
                cursors[column] = cursor
                other = cursor
                while (
                    other < voxels
                    and coordinates[other, 0] == target_x
                    and coordinates[other, 1] == target_y
                    and coordinates[other, 2] <= z + reach
                ):
                    if other != voxel:
                        if fill == 1:
                            neighbours[counts[voxel] + written] = other
                        written += 1
                    other += 1
            if fill == 0:
                counts[voxel] = written
    return counts, neighbours


@njit(**_JIT)
def _find(parents: np.ndarray, item: int) -> int:
    root = item
    while parents[root] != root:
        root = parents[root]
    while parents[item] != root:  # path compression
        following = parents[item]
        parents[item] = root
        item = following
    return root


@njit(**_JIT)
def _squared_distance(points: np.ndarray, first: int, second: int) -> float:
    dx = points[first, 0] - points[second, 0]
    dy = points[first, 1] - points[second, 1]
    dz = points[first, 2] - points[second, 2]
    return dx * dx + dy * dy + dz * dz


@njit(**_JIT)
def _dbscan_sorted(
    points: np.ndarray, sorted_cells: np.ndarray, order: np.ndarray, eps: float, min_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """DBSCAN over points already sorted by voxel of side <= eps / sqrt(3).

    points (N, 3) float64 and sorted_cells (N, 3) int64 in sorted order; order (N,) maps
    sorted position -> original index. Returns labels (N,) int64 and core (N,) bool, both
    in the original order, clusters numbered by their lowest-index core point (as
    scikit-learn numbers them), -1 for noise.
    """
    count = points.shape[0]
    labels_original = np.full(count, -1, np.int64)
    core_original = np.zeros(count, np.bool_)
    if count == 0:
        return labels_original, core_original
    squared_eps = eps * eps
    coordinates, offsets = _voxel_table(sorted_cells)
    voxels = coordinates.shape[0]
    neighbour_offsets, neighbours = _voxel_neighbours(coordinates, _REACH)

    # Core points: a voxel with min_points points is all core; otherwise count neighbours
    # (the point itself included) until min_points is reached.
    core = np.zeros(count, np.bool_)
    voxel_has_core = np.zeros(voxels, np.bool_)
    for voxel in range(voxels):
        start = offsets[voxel]
        stop = offsets[voxel + 1]
        own = stop - start
        if own >= min_points:
            core[start:stop] = True
            voxel_has_core[voxel] = True
            continue
        for point in range(start, stop):
            found = own
            for slot in range(neighbour_offsets[voxel], neighbour_offsets[voxel + 1]):
                other_voxel = neighbours[slot]
                for other in range(offsets[other_voxel], offsets[other_voxel + 1]):
                    if _squared_distance(points, point, other) <= squared_eps:
                        found += 1
                        if found >= min_points:
                            break
                if found >= min_points:
                    break
            if found >= min_points:
                core[point] = True
                voxel_has_core[voxel] = True

    # Core voxels are merged when any two of their core points are within eps.
    parents = np.arange(voxels)
    for voxel in range(voxels):
        if not voxel_has_core[voxel]:
            continue
        for slot in range(neighbour_offsets[voxel], neighbour_offsets[voxel + 1]):
            other_voxel = neighbours[slot]
            if other_voxel < voxel or not voxel_has_core[other_voxel]:
                continue
            root = _find(parents, voxel)
            other_root = _find(parents, other_voxel)
            if root == other_root:
                continue
            linked = False
            for point in range(offsets[voxel], offsets[voxel + 1]):
                if not core[point]:
                    continue
                for other in range(offsets[other_voxel], offsets[other_voxel + 1]):
                    if core[other] and _squared_distance(points, point, other) <= squared_eps:
                        linked = True
                        break
                if linked:
                    break
            if linked:
                if root < other_root:
                    parents[other_root] = root
                else:
                    parents[root] = other_root

    # Each point's cluster root: core points their voxel's; border points that of the
    # nearest core point within eps; the rest noise (-1).
    roots = np.full(count, -1, np.int64)
    for voxel in range(voxels):
        start = offsets[voxel]
        stop = offsets[voxel + 1]
        for point in range(start, stop):
            if core[point]:
                roots[point] = _find(parents, voxel)
                continue
            best = np.inf
            best_voxel = -1
            for slot in range(neighbour_offsets[voxel], neighbour_offsets[voxel + 1] + 1):
                other_voxel = voxel if slot == neighbour_offsets[voxel + 1] else neighbours[slot]
                if not voxel_has_core[other_voxel]:
                    continue
                for other in range(offsets[other_voxel], offsets[other_voxel + 1]):
                    if core[other]:
                        distance = _squared_distance(points, point, other)
                        if distance <= squared_eps and distance < best:
                            best = distance
                            best_voxel = other_voxel
            if best_voxel >= 0:
                roots[point] = _find(parents, best_voxel)

    # Back to the original order, clusters numbered by their lowest-index core point.
    root_original = np.empty(count, np.int64)
    for position in range(count):
        root_original[order[position]] = roots[position]
        core_original[order[position]] = core[position]
    numbers = np.full(voxels, -1, np.int64)
    clusters = 0
    for index in range(count):
        if core_original[index]:
            root = root_original[index]
            if numbers[root] < 0:
                numbers[root] = clusters
                clusters += 1
    for index in range(count):
        root = root_original[index]
        if root >= 0:
            labels_original[index] = numbers[root]
    return labels_original, core_original
