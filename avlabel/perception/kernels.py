"""Numba kernels of the perception stage. Private: arrays and scalars in, arrays out.

The public functions that call them (`cluster.py`, `ground.py`, `boxfit.py`) check and
convert their inputs; nothing here validates anything. Compiler options live in `_JIT`.

Clustering grid
---------------
DBSCAN runs on a voxel grid of side `eps / sqrt(3)` (a hair less), so that any two
points of one voxel are within `eps` of each other. The points are sorted by voxel
(lexicographic ix, iy, iz), and the voxels that may hold points within `eps` of a voxel
are the 5 x 5 x 5 block around it. Voxels of one (ix, iy) form a column, contiguous and
sorted by iz; for a fixed dx the columns (ix+dx, iy-2..iy+2) are contiguous in the
sorted column list and their start only moves forward as we walk the columns, so five
forward-only cursors find every neighbouring column without hashing: linear after the
sort.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = {"cache": True, "nogil": True}

# Offsets (dx, dy) of the 25 voxel columns around a voxel, and the z half-reach.
_REACH = 2


@njit(**_JIT)
def _bounds(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis minimum and maximum (3,) of points (N >= 1, 3)."""
    low = points[0, :3].astype(np.float64)
    high = low.copy()
    for point in range(1, points.shape[0]):
        for axis in range(3):
            value = points[point, axis]
            if value < low[axis]:
                low[axis] = value
            elif value > high[axis]:
                high[axis] = value
    return low, high


@njit(**_JIT)
def _take_rows(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """values[order] for a 2-D array, as a contiguous copy (NumPy's row gather is slow
    for narrow rows)."""
    columns = values.shape[1]
    result = np.empty((order.shape[0], columns), values.dtype)
    for row in range(order.shape[0]):
        source = order[row]
        for column in range(columns):
            result[row, column] = values[source, column]
    return result


@njit(**_JIT)
def _group_by_label(labels: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Counting sort of indices by label 0..groups-1 (-1 dropped): order (M,), offsets
    (groups + 1,), group g = order[offsets[g]:offsets[g+1]], ascending index within."""
    offsets = np.zeros(groups + 1, np.int64)
    for label in labels:
        if label >= 0:
            offsets[label + 1] += 1
    for group in range(groups):
        offsets[group + 1] += offsets[group]
    cursor = offsets[:-1].copy()
    order = np.empty(offsets[groups], np.int64)
    for index in range(labels.shape[0]):
        label = labels[index]
        if label >= 0:
            order[cursor[label]] = index
            cursor[label] += 1
    return order, offsets


@njit(**_JIT)
def _voxel_cells(points: np.ndarray, low: np.ndarray, side: float) -> tuple[np.ndarray, np.ndarray]:
    """Voxel indices (N, 3) int64 >= 0 of points (N, 3) on a grid of `side` anchored at
    `low` (the cloud's minimum), and the grid's extent (3,) in voxels."""
    count = points.shape[0]
    cells = np.empty((count, 3), np.int64)
    extent = np.zeros(3, np.int64)
    for point in range(count):
        for axis in range(3):
            cell = np.int64(np.floor((points[point, axis] - low[axis]) / side))
            cells[point, axis] = cell
            if cell + 1 > extent[axis]:
                extent[axis] = cell + 1
    return cells, extent


@njit(**_JIT)
def _radix_order(cells: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """Permutation sorting voxel indices (N, 3) lexicographically, by LSD radix sort of
    the key (ix * ny + iy) * nz + iz (the caller checks that it fits in int64)."""
    count = cells.shape[0]
    keys = (cells[:, 0] * extent[1] + cells[:, 1]) * extent[2] + cells[:, 2]
    largest = extent[0] * extent[1] * extent[2]
    order = np.arange(count)
    scratch = np.empty(count, np.int64)
    bits = 11
    buckets = 1 << bits
    mask = buckets - 1
    shift = 0
    while (largest >> shift) > 0:
        counts = np.zeros(buckets + 1, np.int64)
        for index in range(count):
            counts[((keys[order[index]] >> shift) & mask) + 1] += 1
        for bucket in range(buckets):
            counts[bucket + 1] += counts[bucket]
        for index in range(count):
            digit = (keys[order[index]] >> shift) & mask
            scratch[counts[digit]] = order[index]
            counts[digit] += 1
        order, scratch = scratch, order
        shift += bits
    return order


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
def _column_table(coordinates: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Voxel columns (same ix, iy) of voxels sorted lexicographically (V, 3), and each
    column's neighbouring columns (|dx|, |dy| <= reach, itself included).

    Returns column_of_voxel (V,), column_offsets (C + 1,) (column c holds voxels
    column_offsets[c]:column_offsets[c+1], sorted by iz), and the neighbour columns as
    CSR: neighbour_offsets (C + 1,), neighbours (E,). For a fixed dx the neighbours
    (ix+dx, iy-reach..iy+reach) are contiguous in the sorted column list and their start
    only moves forward, so one cursor per dx finds them without hashing."""
    voxels = coordinates.shape[0]
    column_of_voxel = np.empty(voxels, np.int64)
    starts = np.empty(voxels + 1, np.int64)
    columns = 0
    for voxel in range(voxels):
        if voxel == 0 or coordinates[voxel, 0] != coordinates[voxel - 1, 0] or coordinates[voxel, 1] != coordinates[voxel - 1, 1]:
            starts[columns] = voxel
            columns += 1
        column_of_voxel[voxel] = columns - 1
    starts[columns] = voxels
    column_offsets = starts[: columns + 1].copy()
    width = 2 * reach + 1
    cursors = np.zeros(width, np.int64)
    neighbour_offsets = np.zeros(columns + 1, np.int64)
    capacity = columns * 9 + 16
    neighbours = np.empty(capacity, np.int64)
    total = 0
    for column in range(columns):
        x = coordinates[column_offsets[column], 0]
        y = coordinates[column_offsets[column], 1]
        for step in range(width):
            target_x = x + step - reach
            cursor = cursors[step]
            while cursor < columns:
                other_x = coordinates[column_offsets[cursor], 0]
                if other_x > target_x or (other_x == target_x and coordinates[column_offsets[cursor], 1] >= y - reach):
                    break
                cursor += 1
            cursors[step] = cursor
            other = cursor
            while other < columns and coordinates[column_offsets[other], 0] == target_x and coordinates[column_offsets[other], 1] <= y + reach:
                if total == capacity:
                    grown = np.empty(capacity * 2, np.int64)
                    grown[:capacity] = neighbours
                    neighbours = grown
                    capacity *= 2
                neighbours[total] = other
                total += 1
                other += 1
        neighbour_offsets[column + 1] = total
    return column_of_voxel, column_offsets, neighbour_offsets, neighbours[:total].copy()


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

    The voxels that may hold points within eps of a voxel are those of its 5 x 5 x 5
    block: the 25 neighbouring columns, within 2 voxels up or down.
    """
    count = points.shape[0]
    labels_original = np.full(count, -1, np.int64)
    core_original = np.zeros(count, np.bool_)
    if count == 0:
        return labels_original, core_original
    squared_eps = eps * eps
    coordinates, offsets = _voxel_table(sorted_cells)
    voxels = coordinates.shape[0]
    column_of_voxel, column_offsets, neighbour_offsets, neighbour_columns = _column_table(coordinates, _REACH)

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
        column = column_of_voxel[voxel]
        z = coordinates[voxel, 2]
        for point in range(start, stop):
            found = own
            for slot in range(neighbour_offsets[column], neighbour_offsets[column + 1]):
                other_column = neighbour_columns[slot]
                for other_voxel in range(column_offsets[other_column], column_offsets[other_column + 1]):
                    step = coordinates[other_voxel, 2] - z
                    if step < -_REACH or other_voxel == voxel:
                        continue
                    if step > _REACH:
                        break
                    for other in range(offsets[other_voxel], offsets[other_voxel + 1]):
                        if _squared_distance(points, point, other) <= squared_eps:
                            found += 1
                            if found >= min_points:
                                break
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
        column = column_of_voxel[voxel]
        z = coordinates[voxel, 2]
        for slot in range(neighbour_offsets[column], neighbour_offsets[column + 1]):
            other_column = neighbour_columns[slot]
            if other_column < column:
                continue
            for other_voxel in range(column_offsets[other_column], column_offsets[other_column + 1]):
                step = coordinates[other_voxel, 2] - z
                if step < -_REACH or other_voxel <= voxel:
                    continue
                if step > _REACH:
                    break
                if not voxel_has_core[other_voxel]:
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
        column = column_of_voxel[voxel]
        z = coordinates[voxel, 2]
        for point in range(start, stop):
            if core[point]:
                roots[point] = _find(parents, voxel)
                continue
            best = np.inf
            best_voxel = -1
            for slot in range(neighbour_offsets[column], neighbour_offsets[column + 1]):
                other_column = neighbour_columns[slot]
                for other_voxel in range(column_offsets[other_column], column_offsets[other_column + 1]):
                    step = coordinates[other_voxel, 2] - z
                    if step < -_REACH:
                        continue
                    if step > _REACH:
                        break
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


# --------------------------------------------------------------------------- ground


@njit(**_JIT)
def _fit_plane(points: np.ndarray, indices: np.ndarray, count: int, centre_x: float, centre_y: float) -> tuple[np.ndarray, float, float]:
    """Least-squares height plane z = a x + b y + c through points[indices[:count]]
    (coordinates taken relative to (centre_x, centre_y) for conditioning).

    Returns the unit normal (3,) (normal z > 0), the offset d of n . p + d = 0 in the
    original coordinates, and the mean squared vertical residual (m^2); a degenerate
    point set (collinear) gives a zero normal."""
    sxx = sxy = syy = sx = sy = sxz = syz = sz = szz = 0.0
    for slot in range(count):
        point = indices[slot]
        x = points[point, 0] - centre_x
        y = points[point, 1] - centre_y
        z = points[point, 2]
        sxx += x * x
        sxy += x * y
        syy += y * y
        sx += x
        sy += y
        sxz += x * z
        syz += y * z
        sz += z
        szz += z * z
    n = float(count)
    # Normal equations [[sxx sxy sx] [sxy syy sy] [sx sy n]] [a b c] = [sxz syz sz].
    determinant = sxx * (syy * n - sy * sy) - sxy * (sxy * n - sy * sx) + sx * (sxy * sy - syy * sx)
    scale = (sxx + syy + n) ** 3
    if abs(determinant) <= 1e-12 * scale:
        return np.zeros(3), 0.0, np.inf
    a = (sxz * (syy * n - sy * sy) - sxy * (syz * n - sy * sz) + sx * (syz * sy - syy * sz)) / determinant
    b = (sxx * (syz * n - sz * sy) - sxz * (sxy * n - sy * sx) + sx * (sxy * sz - syz * sx)) / determinant
    c = (sxx * (syy * sz - sy * syz) - sxy * (sxy * sz - sy * sxz) + sx * (sxy * syz - syy * sxz)) / determinant
    # Mean squared residual from the sums: E[(z - a x - b y - c)^2].
    residual = (szz - a * sxz - b * syz - c * sz) / n
    norm = np.sqrt(a * a + b * b + 1.0)
    normal = np.array([-a / norm, -b / norm, 1.0 / norm])
    # z = a (x - cx) + b (y - cy) + c  <=>  n . p + d = 0 with d = -(c - a cx - b cy) / norm.
    offset = -(c - a * centre_x - b * centre_y) / norm
    return normal, offset, max(residual, 0.0)


@njit(**_JIT)
def _ground_bins(
    points: np.ndarray,
    order: np.ndarray,
    offsets: np.ndarray,
    bin_centres: np.ndarray,
    inner_bins: np.ndarray,
    seed_count: int,
    seed_height: float,
    plane_distance: float,
    iterations: int,
    min_bin_points: int,
    min_normal_z: float,
    max_flatness: float,
    step_tolerance: float,
    max_slope: float,
    min_bend_cosine: float,
    ground_height_at_origin: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Region-wise ground planes over a polar grid, grown outward from the ego.

    points (N, >=3) ego frame; bin b holds points order[offsets[b]:offsets[b+1]].
    Bins are ordered ring by ring outward; inner_bins[b] is the bin of the previous ring
    that overlaps b's centre angle (-1 for the first ring). bin_centres (B, 2) are the
    bins' centre points (x, y). A bin's plane is accepted only when upright, flat, and
    continuous with its inner neighbour (height at the centre within step_tolerance plus
    max_slope times the distance, normals within arccos(min_bend_cosine)); otherwise the
    bin inherits the inner plane.

    Returns planes (B, 4) [nx, ny, nz, d] and accepted (B,) bool.
    """
    bins = offsets.shape[0] - 1
    planes = np.zeros((bins, 4))
    accepted = np.zeros(bins, np.bool_)
    scratch = np.empty(points.shape[0], np.int64)
    heights = np.empty(points.shape[0])
    for bin_index in range(bins):
        start = offsets[bin_index]
        stop = offsets[bin_index + 1]
        inner = inner_bins[bin_index]
        centre_x = bin_centres[bin_index, 0]
        centre_y = bin_centres[bin_index, 1]
        # The reference: the inner neighbour's plane, or flat ground at the ego.
        if inner >= 0:
            reference = planes[inner]
            distance = np.hypot(centre_x - bin_centres[inner, 0], centre_y - bin_centres[inner, 1])
        else:
            reference = np.array([0.0, 0.0, 1.0, -ground_height_at_origin])
            distance = np.hypot(centre_x, centre_y)
        reference_height = -(reference[3] + reference[0] * centre_x + reference[1] * centre_y) / reference[2]
        planes[bin_index] = reference
        count = stop - start
        if count < min_bin_points:
            continue
        # Seeds: heights measured from the reference plane (so a slope does not favour
        # its downhill side); points within seed_height of the mean of the seed_count
        # lowest, ignoring those far below the reference (multipath, noise).
        lowest_floor = -step_tolerance - max_slope * distance
        kept = 0
        for slot in range(start, stop):
            point = order[slot]
            relative = points[point, 2] + (reference[3] + reference[0] * points[point, 0] + reference[1] * points[point, 1]) / reference[2]
            if relative >= lowest_floor:
                heights[kept] = relative
                kept += 1
        if kept < min_bin_points:
            continue
        taken = min(seed_count, kept)
        lowest = np.partition(heights[:kept], taken - 1)[:taken]
        ceiling = lowest.mean() + seed_height
        selected = 0
        for slot in range(start, stop):
            point = order[slot]
            relative = points[point, 2] + (reference[3] + reference[0] * points[point, 0] + reference[1] * points[point, 1]) / reference[2]
            if lowest_floor <= relative <= ceiling:
                scratch[selected] = point
                selected += 1
        if selected < 3:
            continue
        normal, offset, flatness = _fit_plane(points, scratch, selected, centre_x, centre_y)
        for _ in range(iterations):
            selected = 0
            for slot in range(start, stop):
                point = order[slot]
                signed = normal[0] * points[point, 0] + normal[1] * points[point, 1] + normal[2] * points[point, 2] + offset
                if abs(signed) < plane_distance:
                    scratch[selected] = point
                    selected += 1
            if selected < 3:
                break
            normal, offset, flatness = _fit_plane(points, scratch, selected, centre_x, centre_y)
        if selected < 3 or normal[2] < min_normal_z or flatness > max_flatness:  # zero normal: degenerate
            continue
        bend = normal[0] * reference[0] + normal[1] * reference[1] + normal[2] * reference[2]
        if bend < min_bend_cosine:  # tilted away from the inner plane: a wall's foot, a ramp of clutter
            continue
        height = -(offset + normal[0] * centre_x + normal[1] * centre_y) / normal[2]
        if abs(height - reference_height) > step_tolerance + max_slope * distance:
            continue
        planes[bin_index, 0] = normal[0]
        planes[bin_index, 1] = normal[1]
        planes[bin_index, 2] = normal[2]
        planes[bin_index, 3] = offset
        accepted[bin_index] = True
    return planes, accepted


@njit(**_JIT)
def _height_above_planes(points: np.ndarray, bin_of_point: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """Vertical height (N,) of each point above its bin's plane [nx, ny, nz, d] (metres);
    NaN for points outside the grid (bin -1)."""
    count = points.shape[0]
    heights = np.empty(count)
    for point in range(count):
        if bin_of_point[point] < 0:
            heights[point] = np.nan
            continue
        plane = planes[bin_of_point[point]]
        ground = -(plane[3] + plane[0] * points[point, 0] + plane[1] * points[point, 1]) / plane[2]
        heights[point] = points[point, 2] - ground
    return heights


@njit(**_JIT)
def _fast_atan2(y: float, x: float) -> float:
    """atan2 within 3e-4 rad (a polynomial on [0, 1]), for binning by bearing."""
    absolute_x = abs(x)
    absolute_y = abs(y)
    largest = max(absolute_x, absolute_y)
    if largest == 0.0:
        return 0.0
    ratio = min(absolute_x, absolute_y) / largest
    square = ratio * ratio
    angle = ((-0.0464964749 * square + 0.15931422) * square - 0.327622764) * square * ratio + ratio
    if absolute_y > absolute_x:
        angle = 0.5 * np.pi - angle
    if x < 0.0:
        angle = np.pi - angle
    if y < 0.0:
        angle = -angle
    return angle


@njit(**_JIT)
def _polar_bins(
    points: np.ndarray, ring_edges: np.ndarray, sectors: np.ndarray, first_bin: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin of every point (N, >=2) of the polar grid (rings by range, sectors by angle
    from -pi), and a counting sort by bin. Returns bin_of_point (N,) int64 (-1 outside
    the rings), order (M,) int64 of the M binned points sorted by bin, and offsets
    (B + 1,) int64 into order."""
    count = points.shape[0]
    rings = sectors.shape[0]
    bins = first_bin[rings]
    bin_of_point = np.full(count, -1, np.int64)
    sizes = np.zeros(bins + 1, np.int64)
    inner_edge = ring_edges[0]
    outer_edge = ring_edges[rings]
    two_pi = 2.0 * np.pi
    for point in range(count):
        x = points[point, 0]
        y = points[point, 1]
        distance = np.sqrt(x * x + y * y)
        if distance < inner_edge or distance >= outer_edge:
            continue
        ring = np.searchsorted(ring_edges, distance, side="right") - 1
        sector_count = sectors[ring]
        sector = int((_fast_atan2(y, x) + np.pi) / two_pi * sector_count)
        if sector >= sector_count:
            sector = sector_count - 1
        bin_index = first_bin[ring] + sector
        bin_of_point[point] = bin_index
        sizes[bin_index + 1] += 1
    for bin_index in range(bins):
        sizes[bin_index + 1] += sizes[bin_index]
    offsets = sizes.copy()
    order = np.empty(offsets[bins], np.int64)
    for point in range(count):
        bin_index = bin_of_point[point]
        if bin_index >= 0:
            order[sizes[bin_index]] = point
            sizes[bin_index] += 1
    return bin_of_point, order, offsets


# --------------------------------------------------------------------------- box fitting

CRITERION_AREA, CRITERION_CLOSENESS, CRITERION_VARIANCE = 0, 1, 2


@njit(**_JIT)
def _rectangle_cost(
    first: np.ndarray, second: np.ndarray, count: int, criterion: int, closeness_floor: float
) -> float:
    """Cost (lower is better) of the rectangle aligned with axes (first, second) that
    bounds `count` projected points, after Zhang et al.'s search-based L-shape fitting."""
    low1 = high1 = first[0]
    low2 = high2 = second[0]
    for slot in range(1, count):
        low1 = min(low1, first[slot])
        high1 = max(high1, first[slot])
        low2 = min(low2, second[slot])
        high2 = max(high2, second[slot])
    if criterion == 0:
        return (high1 - low1) * (high2 - low2)
    # Per axis, the edge the points hug (the smaller sum of squared distances).
    near_low1 = near_high1 = near_low2 = near_high2 = 0.0
    for slot in range(count):
        near_low1 += (first[slot] - low1) ** 2
        near_high1 += (high1 - first[slot]) ** 2
        near_low2 += (second[slot] - low2) ** 2
        near_high2 += (high2 - second[slot]) ** 2
    edge1 = low1 if near_low1 <= near_high1 else high1
    edge2 = low2 if near_low2 <= near_high2 else high2
    if criterion == 1:
        closeness = 0.0
        for slot in range(count):
            distance = min(abs(first[slot] - edge1), abs(second[slot] - edge2))
            closeness += 1.0 / max(distance, closeness_floor)
        return -closeness
    # Variance: each point belongs to its nearer edge; sum of the two variances.
    sum1 = square1 = sum2 = square2 = 0.0
    count1 = count2 = 0
    for slot in range(count):
        distance1 = abs(first[slot] - edge1)
        distance2 = abs(second[slot] - edge2)
        if distance1 < distance2:
            sum1 += distance1
            square1 += distance1 * distance1
            count1 += 1
        else:
            sum2 += distance2
            square2 += distance2 * distance2
            count2 += 1
    variance = 0.0
    if count1 > 0:
        variance += square1 / count1 - (sum1 / count1) ** 2
    if count2 > 0:
        variance += square2 / count2 - (sum2 / count2) ** 2
    return variance


@njit(**_JIT)
def _fit_rectangles(
    points: np.ndarray,
    order: np.ndarray,
    offsets: np.ndarray,
    angle_step: float,
    criterion: int,
    closeness_floor: float,
    max_fit_points: int,
    selected: np.ndarray,
) -> np.ndarray:
    """Best bird's-eye rectangle of each selected cluster by search over angles in [0, pi/2).

    points (N, >=2) ego frame; cluster k holds points order[offsets[k]:offsets[k+1]];
    clusters with selected[k] False are skipped (their row stays zero).
    Coarse search every angle_step, then a search at a tenth of the step within one coarse
    step of the best.
    Returns (K, 6): centre x, y, extent along the angle, extent across it, the angle in
    [0, pi/2), and the fraction of points within 0.2 m of the rectangle's boundary.
    """
    clusters = offsets.shape[0] - 1
    result = np.zeros((clusters, 6))
    largest = 0
    for cluster in range(clusters):
        largest = max(largest, offsets[cluster + 1] - offsets[cluster])
    sample_x = np.empty(min(largest, max_fit_points) + 1)
    sample_y = np.empty(min(largest, max_fit_points) + 1)
    first = np.empty(min(largest, max_fit_points) + 1)
    second = np.empty(min(largest, max_fit_points) + 1)
    coarse = max(1, int(np.round(0.5 * np.pi / angle_step)))
    step = 0.5 * np.pi / coarse
    for cluster in range(clusters):
        start = offsets[cluster]
        size = offsets[cluster + 1] - start
        if size == 0 or not selected[cluster]:
            continue
        stride = (size + max_fit_points - 1) // max_fit_points
        count = 0
        centre_x = 0.0
        centre_y = 0.0
        for slot in range(start, start + size, stride):
            centre_x += points[order[slot], 0]
            centre_y += points[order[slot], 1]
            count += 1
        centre_x /= count
        centre_y /= count
        count = 0
        for slot in range(start, start + size, stride):
            sample_x[count] = points[order[slot], 0] - centre_x
            sample_y[count] = points[order[slot], 1] - centre_y
            count += 1
        best_angle = 0.0
        best_cost = np.inf
        for refine in range(2):
            if refine == 0:
                angles = np.arange(coarse) * step
            else:
                angles = best_angle + np.arange(-10, 11) * (step / 10.0)
            for angle in angles:
                cos = np.cos(angle)
                sin = np.sin(angle)
                for slot in range(count):
                    first[slot] = cos * sample_x[slot] + sin * sample_y[slot]
                    second[slot] = -sin * sample_x[slot] + cos * sample_y[slot]
                cost = _rectangle_cost(first, second, count, criterion, closeness_floor)
                if cost < best_cost:
                    best_cost = cost
                    best_angle = angle
        best_angle = best_angle % (0.5 * np.pi)
        # The rectangle: bounds of all the cluster's points along the best axes.
        cos = np.cos(best_angle)
        sin = np.sin(best_angle)
        low1 = low2 = np.inf
        high1 = high2 = -np.inf
        for slot in range(start, start + size):
            x = points[order[slot], 0] - centre_x
            y = points[order[slot], 1] - centre_y
            along = cos * x + sin * y
            across = -sin * x + cos * y
            low1 = min(low1, along)
            high1 = max(high1, along)
            low2 = min(low2, across)
            high2 = max(high2, across)
        near = 0
        for slot in range(start, start + size):
            x = points[order[slot], 0] - centre_x
            y = points[order[slot], 1] - centre_y
            along = cos * x + sin * y
            across = -sin * x + cos * y
            edge = min(min(along - low1, high1 - along), min(across - low2, high2 - across))
            if edge < 0.2:
                near += 1
        middle1 = 0.5 * (low1 + high1)
        middle2 = 0.5 * (low2 + high2)
        result[cluster, 0] = centre_x + cos * middle1 - sin * middle2
        result[cluster, 1] = centre_y + sin * middle1 + cos * middle2
        result[cluster, 2] = high1 - low1
        result[cluster, 3] = high2 - low2
        result[cluster, 4] = best_angle
        result[cluster, 5] = near / size
    return result


# --------------------------------------------------------------------------- surface roughness


@njit(**_JIT)
def _range_roughness(
    points: np.ndarray, order: np.ndarray, offsets: np.ndarray, min_triples: int, selected: np.ndarray
) -> np.ndarray:
    """How ragged each cluster's surface is along the scan lines (metres).

    points (N, 6) POINT_FIELDS (ring in column 5, t_offset_us in column 4); cluster k
    holds points order[offsets[k]:offsets[k+1]]. Along each ring, in firing order, the points on a solid surface lie on a smooth curve:
    each point is within the range noise of the chord of its two neighbours (bird's-eye),
    whatever the angle of incidence and however many returns between them were lost
    (glass, dark paint); foliage, which beams enter to random depths, puts them far off
    it. Returns the median chord distance per cluster (K,), NaN when the cluster has
    fewer than `min_triples` consecutive triples on one ring or rings are unknown (-1),
    or is not `selected` (K,) bool. (The range's second difference, used before, read
    cars seen at a grazing angle, with lost returns, as foliage.)"""
    clusters = offsets.shape[0] - 1
    result = np.full(clusters, np.nan)
    for cluster in range(clusters):
        start = offsets[cluster]
        size = offsets[cluster + 1] - start
        if size < min_triples + 2 or not selected[cluster]:
            continue
        keys = np.empty(size)
        unknown = False
        for slot in range(size):
            point = order[start + slot]
            ring = points[point, 5]
            if ring < 0:
                unknown = True
                break
            keys[slot] = ring * 1e7 + points[point, 4]  # t_offset spans +-1e5 us
        if unknown:
            continue
        sorted_slots = np.argsort(keys)
        deviation = np.empty(size)
        triples = 0
        for slot in range(size - 2):
            first = sorted_slots[slot]
            middle = sorted_slots[slot + 1]
            last = sorted_slots[slot + 2]
            if points[order[start + first], 5] != points[order[start + last], 5]:
                continue
            # Distance of the middle point from the chord of its neighbours (bird's-eye).
            a, b, c = order[start + first], order[start + middle], order[start + last]
            chord_x = points[c, 0] - points[a, 0]
            chord_y = points[c, 1] - points[a, 1]
            chord = np.sqrt(chord_x * chord_x + chord_y * chord_y)
            if chord < 1e-6:
                continue
            deviation[triples] = abs(chord_x * (points[b, 1] - points[a, 1]) - chord_y * (points[b, 0] - points[a, 0])) / chord
            triples += 1
        if triples >= min_triples:
            result[cluster] = np.median(deviation[:triples])
    return result


@njit(**_JIT)
def _cluster_statistics(xyz: np.ndarray, heights: np.ndarray, intensity: np.ndarray, order: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per cluster (K, 7): x min, x max, y min, y max, lowest and highest height above
    ground, mean intensity; cluster k holds points order[offsets[k]:offsets[k+1]]."""
    clusters = offsets.shape[0] - 1
    result = np.zeros((clusters, 7))
    for cluster in range(clusters):
        start = offsets[cluster]
        stop = offsets[cluster + 1]
        if stop == start:
            continue
        first = order[start]
        x_low = x_high = xyz[first, 0]
        y_low = y_high = xyz[first, 1]
        h_low = h_high = heights[first]
        total = 0.0
        for slot in range(start, stop):
            point = order[slot]
            x_low = min(x_low, xyz[point, 0])
            x_high = max(x_high, xyz[point, 0])
            y_low = min(y_low, xyz[point, 1])
            y_high = max(y_high, xyz[point, 1])
            h_low = min(h_low, heights[point])
            h_high = max(h_high, heights[point])
            total += intensity[point]
        result[cluster, 0] = x_low
        result[cluster, 1] = x_high
        result[cluster, 2] = y_low
        result[cluster, 3] = y_high
        result[cluster, 4] = h_low
        result[cluster, 5] = h_high
        result[cluster, 6] = total / (stop - start)
    return result


@njit(**_JIT)
def _cluster_polar_extents(xyz: np.ndarray, order: np.ndarray, offsets: np.ndarray, sensor_x: float, sensor_y: float) -> np.ndarray:
    """Per cluster (K, 4), seen from the sensor in bird's-eye view: [bearing_low,
    bearing_high, range_low, range_high], the bearings (radians) unwrapped around the
    centroid's bearing (so bearing_high - bearing_low is the angular width, even across
    +-pi) and the ranges horizontal, metres."""
    clusters = offsets.shape[0] - 1
    result = np.zeros((clusters, 4))
    for cluster in range(clusters):
        start = offsets[cluster]
        stop = offsets[cluster + 1]
        if stop == start:
            continue
        centre_x = 0.0
        centre_y = 0.0
        for slot in range(start, stop):
            centre_x += xyz[order[slot], 0]
            centre_y += xyz[order[slot], 1]
        centre_x = centre_x / (stop - start) - sensor_x
        centre_y = centre_y / (stop - start) - sensor_y
        centre_bearing = np.arctan2(centre_y, centre_x)
        cos, sin = np.cos(centre_bearing), np.sin(centre_bearing)
        low = np.inf
        high = -np.inf
        near = np.inf
        far = 0.0
        for slot in range(start, stop):
            x = xyz[order[slot], 0] - sensor_x
            y = xyz[order[slot], 1] - sensor_y
            # bearing relative to the centroid's: atan2 of the point in the rotated frame
            relative = np.arctan2(-sin * x + cos * y, cos * x + sin * y)
            low = min(low, relative)
            high = max(high, relative)
            distance = np.sqrt(x * x + y * y)
            near = min(near, distance)
            far = max(far, distance)
        result[cluster, 0] = centre_bearing + low
        result[cluster, 1] = centre_bearing + high
        result[cluster, 2] = near
        result[cluster, 3] = far
    return result


# --------------------------------------------------------------------------- free space


@njit(**_JIT)
def _bird_grid(xy: np.ndarray, cell: float, reach: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Counting sort of points (N, >=2) into a square bird's-eye grid of `cell` metres
    covering [-reach, reach)^2: order (M,) and offsets (side^2 + 1,) per cell (row-major,
    x major), and the side in cells. Points outside are left out."""
    side = int(np.ceil(2.0 * reach / cell))
    cells = np.full(xy.shape[0], -1, np.int64)
    offsets = np.zeros(side * side + 1, np.int64)
    for point in range(xy.shape[0]):
        column = int(np.floor((xy[point, 0] + reach) / cell))
        row = int(np.floor((xy[point, 1] + reach) / cell))
        if 0 <= column < side and 0 <= row < side:
            cells[point] = column * side + row
            offsets[cells[point] + 1] += 1
    for index in range(side * side):
        offsets[index + 1] += offsets[index]
    cursor = offsets[:-1].copy()
    order = np.empty(offsets[side * side], np.int64)
    for point in range(xy.shape[0]):
        if cells[point] >= 0:
            order[cursor[cells[point]]] = point
            cursor[cells[point]] += 1
    return order, offsets, side


@njit(**_JIT)
def _conflicts(
    xy: np.ndarray, heights: np.ndarray, owner: np.ndarray, order: np.ndarray, offsets: np.ndarray, side: int, cell: float, reach: float,
    boxes: np.ndarray, owners: np.ndarray, margin: float,
) -> np.ndarray:
    """How many points contradict each box being a solid object on the ground.

    boxes (B, 6) [x, y, length, width, yaw, top] bird's-eye, top in metres above ground;
    owners (B,) the cluster each box was fitted to. A point contradicts a box when it lies
    inside the box shrunk by `margin` on every side, no higher than its top (heights (N,)
    above ground), and is not the box's own (owner (N,) != owners[b]): another object's
    point, or ground seen where the box would stand. xy (N, >=2) with the grid from
    `_bird_grid(xy, cell, reach)`. Returns (B,) counts."""
    count = boxes.shape[0]
    result = np.zeros(count, np.int64)
    for box in range(count):
        x, y, length, width, yaw, top = boxes[box, 0], boxes[box, 1], boxes[box, 2], boxes[box, 3], boxes[box, 4], boxes[box, 5]
        half_length = length / 2.0 - margin
        half_width = width / 2.0 - margin
        if half_length <= 0.0 or half_width <= 0.0:
            continue
        cos, sin = np.cos(yaw), np.sin(yaw)
        radius = np.sqrt(half_length * half_length + half_width * half_width)
        first_column = max(int(np.floor((x - radius + reach) / cell)), 0)
        last_column = min(int(np.floor((x + radius + reach) / cell)), side - 1)
        first_row = max(int(np.floor((y - radius + reach) / cell)), 0)
        last_row = min(int(np.floor((y + radius + reach) / cell)), side - 1)
        found = 0
        for column in range(first_column, last_column + 1):
            for row in range(first_row, last_row + 1):
                index = column * side + row
                for slot in range(offsets[index], offsets[index + 1]):
                    point = order[slot]
                    if owner[point] == owners[box] and owners[box] >= 0:
                        continue
                    if heights[point] > top:
                        continue
                    dx = xy[point, 0] - x
                    dy = xy[point, 1] - y
                    if abs(cos * dx + sin * dy) <= half_length and abs(-sin * dx + cos * dy) <= half_width:
                        found += 1
        result[box] = found
    return result



# --------------------------------------------------------------------------- occlusion


@njit(**_JIT)
def _bearing_column(x: float, y: float, origin: np.ndarray, column_width: float, columns: int) -> int:
    """Bearing column of a point seen from `origin`: [-pi, pi) cut into `columns` slices."""
    return min(int((_fast_atan2(y - origin[1], x - origin[0]) + np.pi) / column_width), columns - 1)


@njit(**_JIT)
def _foot_hidden(
    points: np.ndarray, heights: np.ndarray, members: np.ndarray, offsets: np.ndarray, selected: np.ndarray, origin: np.ndarray,
    column_width: float, margin: float, gap: float, min_height: float,
) -> np.ndarray:
    """Share of each cluster's bearing columns in which something nearer hides its foot.

    points (N, >=3) and heights (N,) above ground (NaN unknown), sensor `origin` (3,), one
    frame; cluster k holds points members[offsets[k]:offsets[k+1]]. Around the sensor,
    bearing columns are `column_width` radians wide; in a column the cluster's lowest
    point is seen at elevation e (angle above the sensor's horizon). The column is hidden
    below when a point standing on the ground (height >= min_height) lies nearer than the
    cluster's nearest point by more than `gap` metres at elevation e - `margin` or higher:
    the beams under e were stopped before they reached the lower part (a car behind a
    hedge or a parked car). Flat ground in front never hides anything (it is below
    min_height), and the cluster's own points are never nearer than its nearest point.
    Returns (K,) shares in [0, 1], NaN for clusters not `selected` (K,) bool."""
    columns = max(int(np.ceil(2.0 * np.pi / column_width)), 1)
    # Occluders by column (see `_bearing_index`): their range and the tangent of their elevation.
    occluders = np.flatnonzero(heights >= min_height)
    order, column_offsets = _bearing_index(points[occluders], origin, column_width)
    ranges = np.empty(order.shape[0])
    slopes = np.empty(order.shape[0])
    for slot in range(order.shape[0]):
        point = occluders[order[slot]]
        dx = points[point, 0] - origin[0]
        dy = points[point, 1] - origin[1]
        ranges[slot] = np.sqrt(dx * dx + dy * dy)
        slopes[slot] = (points[point, 2] - origin[2]) / max(ranges[slot], 1e-6)
    tan_margin = np.tan(margin)
    clusters = offsets.shape[0] - 1
    result = np.full(clusters, np.nan)
    for cluster in range(clusters):
        start, stop = offsets[cluster], offsets[cluster + 1]
        if stop == start or not selected[cluster]:
            continue
        size = stop - start
        own_columns = np.empty(size, np.int64)
        own_slopes = np.empty(size)
        nearest = np.inf
        for slot in range(size):
            point = members[start + slot]
            dx = points[point, 0] - origin[0]
            dy = points[point, 1] - origin[1]
            distance = np.sqrt(dx * dx + dy * dy)
            nearest = min(nearest, distance)
            own_columns[slot] = _bearing_column(points[point, 0], points[point, 1], origin, column_width, columns)
            own_slopes[slot] = (points[point, 2] - origin[2]) / max(distance, 1e-6)
        by_column = np.argsort(own_columns)
        seen = 0
        hidden = 0
        rank = 0
        while rank < size:
            column = own_columns[by_column[rank]]
            lowest = np.inf
            while rank < size and own_columns[by_column[rank]] == column:
                lowest = min(lowest, own_slopes[by_column[rank]])
                rank += 1
            seen += 1
            # tan(e - margin) from tan(e): the elevation an occluder must reach.
            needed = (lowest - tan_margin) / (1.0 + lowest * tan_margin)
            for slot in range(column_offsets[column], column_offsets[column + 1]):
                if ranges[slot] < nearest - gap and slopes[slot] >= needed:
                    hidden += 1
                    break
        result[cluster] = hidden / seen
    return result


@njit(**_JIT)
def _bearing_index(points: np.ndarray, origin: np.ndarray, column_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Counting sort of points (N, >=2) by bearing column from `origin` (see
    `_bearing_column`): order (N,) and offsets (C + 1,)."""
    columns = max(int(np.ceil(2.0 * np.pi / column_width)), 1)
    count = points.shape[0]
    column_of = np.empty(count, np.int64)
    sizes = np.zeros(columns + 1, np.int64)
    for point in range(count):
        column_of[point] = _bearing_column(points[point, 0], points[point, 1], origin, column_width, columns)
        sizes[column_of[point] + 1] += 1
    for column in range(columns):
        sizes[column + 1] += sizes[column]
    offsets = sizes.copy()
    order = np.empty(count, np.int64)
    for point in range(count):
        order[sizes[column_of[point]]] = point
        sizes[column_of[point]] += 1
    return order, offsets


@njit(**_JIT)
def _seen_through(
    points: np.ndarray, owner: np.ndarray, order: np.ndarray, offsets: np.ndarray, origin: np.ndarray, column_width: float,
    boxes: np.ndarray, owners: np.ndarray, depth: float,
) -> np.ndarray:
    """How many points were seen through each box: the beam to the point crossed the box's
    footprint between its bottom and top height (entering and leaving it within that
    span), so a solid object there would have stopped it (two parked cars side by side:
    the gap between their fronts shows what is behind; one car's pieces never do).

    points (N, >=3) ego frame, owner (N,) the cluster of each point (-1 none), with the
    bearing index (order, offsets) of `_bearing_index(points, origin, column_width)`;
    boxes (B, 7) [x, y, length, width, yaw, z_low, z_high] bird's-eye rectangles with the
    z span of their points; owners (B, 2) the clusters whose points make the box (never
    counted). A point counts when its beam crossed the whole footprint and it lies at
    least `depth` metres beyond (points within the footprint may be the object's own
    other pieces). Returns (B,) counts."""
    columns = offsets.shape[0] - 1
    result = np.zeros(boxes.shape[0], np.int64)
    for box in range(boxes.shape[0]):
        x, y, length, width, yaw, z_low, z_high = boxes[box, 0], boxes[box, 1], boxes[box, 2], boxes[box, 3], boxes[box, 4], boxes[box, 5], boxes[box, 6]
        cos, sin = np.cos(yaw), np.sin(yaw)
        # Bearing interval of the corners, relative to the centre's bearing.
        centre_bearing = np.arctan2(y - origin[1], x - origin[0])
        low, high = np.inf, -np.inf
        for corner in range(4):
            along = length / 2.0 if corner < 2 else -length / 2.0
            across = width / 2.0 if corner % 2 == 0 else -width / 2.0
            corner_x = x + cos * along - sin * across
            corner_y = y + sin * along + cos * across
            relative = np.arctan2(corner_y - origin[1], corner_x - origin[0]) - centre_bearing
            relative = (relative + np.pi) % (2.0 * np.pi) - np.pi
            low = min(low, relative)
            high = max(high, relative)
        first = int(np.floor((centre_bearing + low + np.pi) / column_width))
        last = int(np.floor((centre_bearing + high + np.pi) / column_width))
        # The ray origin in the box frame.
        local_x = cos * (origin[0] - x) + sin * (origin[1] - y)
        local_y = -sin * (origin[0] - x) + cos * (origin[1] - y)
        found = 0
        for step in range(first, last + 1):
            column = step % columns
            for slot in range(offsets[column], offsets[column + 1]):
                point = order[slot]
                if owner[point] >= 0 and (owner[point] == owners[box, 0] or owner[point] == owners[box, 1]):
                    continue
                dx = points[point, 0] - origin[0]
                dy = points[point, 1] - origin[1]
                direction_x = cos * dx + sin * dy
                direction_y = -sin * dx + cos * dy
                # Slab test of the segment origin -> point (parameter 0..1) against the box.
                enter, leave = 0.0, 1.0
                inside = True
                for axis in range(2):
                    start = local_x if axis == 0 else local_y
                    delta = direction_x if axis == 0 else direction_y
                    half = length / 2.0 if axis == 0 else width / 2.0
                    if abs(delta) < 1e-12:
                        if abs(start) > half:
                            inside = False
                        continue
                    t_one = (-half - start) / delta
                    t_two = (half - start) / delta
                    enter = max(enter, min(t_one, t_two))
                    leave = min(leave, max(t_one, t_two))
                if not inside or enter > leave or (1.0 - leave) * np.sqrt(dx * dx + dy * dy) < depth:
                    continue
                # The whole crossing within the band: a beam that enters at the body's
                # lower edge and leaves below it went under the car, not through it.
                entry_height = origin[2] + enter * (points[point, 2] - origin[2])
                exit_height = origin[2] + leave * (points[point, 2] - origin[2])
                if z_low <= entry_height <= z_high and z_low <= exit_height <= z_high:
                    found += 1
        result[box] = found
    return result
