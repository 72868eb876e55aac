"""Numba kernels for rotated boxes. Private: arrays and scalars in, arrays and scalars out.

The public functions in `avlabel.geometry.iou` check and convert their inputs; nothing here
validates anything. Boxes are rows [x, y, z, length, width, height, yaw] (avlabel's one box
form, see `avlabel.structs.cuboid`), float64, sizes > 0.

Bird's-eye footprints
---------------------
A footprint is the box's 4 ground-plane corners, counter-clockwise:

    (+l/2, +w/2) -> (-l/2, +w/2) -> (-l/2, -w/2) -> (+l/2, -w/2)      in the box's own frame

rotated by yaw and moved to the centre. Every pair is computed relative to the first box's
centre, so that world-frame coordinates of thousands of metres cost no precision.

Intersection: Sutherland-Hodgman clipping of one convex quadrilateral by the other (the
result has at most 8 vertices), then the shoelace area. Points on a clipping edge count as
inside, so identical and touching boxes are exact (touching: area 0).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_JIT = {"cache": True, "nogil": True}

# Largest polygon met while clipping a quadrilateral by 4 half-planes (4 + 4), with room.
_MAX_VERTICES = 16


@njit(**_JIT)
def _footprint(box: np.ndarray, origin_x: float, origin_y: float, out: np.ndarray) -> None:
    """Write the counter-clockwise ground corners (4, 2) of `box`, relative to the origin."""
    cos_yaw = math.cos(box[6])
    sin_yaw = math.sin(box[6])
    half_length = 0.5 * box[3]
    half_width = 0.5 * box[4]
    centre_x = box[0] - origin_x
    centre_y = box[1] - origin_y
    signs_forward = (1.0, -1.0, -1.0, 1.0)
    signs_left = (1.0, 1.0, -1.0, -1.0)
    for corner in range(4):
        forward = signs_forward[corner] * half_length
        left = signs_left[corner] * half_width
        out[corner, 0] = centre_x + cos_yaw * forward - sin_yaw * left
        out[corner, 1] = centre_y + sin_yaw * forward + cos_yaw * left


@njit(**_JIT)
def _polygon_area(vertices: np.ndarray, count: int) -> float:
    """Signed shoelace area of the first `count` vertices (positive when counter-clockwise)."""
    if count < 3:
        return 0.0
    twice_area = 0.0
    for index in range(count):
        following = index + 1 if index + 1 < count else 0
        twice_area += vertices[index, 0] * vertices[following, 1] - vertices[following, 0] * vertices[index, 1]
    return 0.5 * twice_area


@njit(**_JIT)
def _clipped_area(subject: np.ndarray, clip: np.ndarray, current: np.ndarray, following: np.ndarray) -> float:
    """Area of the convex quadrilateral `subject` clipped by the convex quadrilateral `clip`
    (both (4, 2), counter-clockwise). `current` and `following` are (_MAX_VERTICES, 2) scratch."""
    count = 4
    for index in range(4):
        current[index, 0] = subject[index, 0]
        current[index, 1] = subject[index, 1]
    for edge in range(4):
        start_x = clip[edge, 0]
        start_y = clip[edge, 1]
        end_x = clip[(edge + 1) % 4, 0]
        end_y = clip[(edge + 1) % 4, 1]
        edge_x = end_x - start_x
        edge_y = end_y - start_y
        output = 0
        for index in range(count):
            previous = index - 1 if index > 0 else count - 1
            previous_x = current[previous, 0]
            previous_y = current[previous, 1]
            point_x = current[index, 0]
            point_y = current[index, 1]
            # Cross product: >= 0 means on or left of the edge, i.e. inside.
            previous_side = edge_x * (previous_y - start_y) - edge_y * (previous_x - start_x)
            point_side = edge_x * (point_y - start_y) - edge_y * (point_x - start_x)
            if point_side >= 0.0:
                if previous_side < 0.0:
                    fraction = previous_side / (previous_side - point_side)
                    following[output, 0] = previous_x + fraction * (point_x - previous_x)
                    following[output, 1] = previous_y + fraction * (point_y - previous_y)
                    output += 1
                following[output, 0] = point_x
                following[output, 1] = point_y
                output += 1
            elif previous_side >= 0.0:
                fraction = previous_side / (previous_side - point_side)
                following[output, 0] = previous_x + fraction * (point_x - previous_x)
                following[output, 1] = previous_y + fraction * (point_y - previous_y)
                output += 1
        count = output
        if count < 3:
            return 0.0
        for index in range(count):
            current[index, 0] = following[index, 0]
            current[index, 1] = following[index, 1]
    area = _polygon_area(current, count)
    return area if area > 0.0 else 0.0


@njit(**_JIT)
def _may_overlap(first: np.ndarray, second: np.ndarray) -> bool:
    """False when the footprints' circumscribed circles are apart (then the overlap is 0)."""
    reach = 0.5 * (math.hypot(first[3], first[4]) + math.hypot(second[3], second[4]))
    return math.hypot(first[0] - second[0], first[1] - second[1]) < reach


@njit(**_JIT)
def _intersection_area(first: np.ndarray, second: np.ndarray, scratch: np.ndarray) -> float:
    """Ground-plane intersection area (m^2) of two boxes. scratch: (4 + 4 + 2*_MAX_VERTICES, 2)."""
    if not _may_overlap(first, second):
        return 0.0
    first_corners = scratch[0:4]
    second_corners = scratch[4:8]
    _footprint(first, first[0], first[1], first_corners)
    _footprint(second, first[0], first[1], second_corners)
    return _clipped_area(first_corners, second_corners, scratch[8 : 8 + _MAX_VERTICES], scratch[8 + _MAX_VERTICES :])


@njit(**_JIT)
def _height_overlap(first: np.ndarray, second: np.ndarray) -> float:
    top = min(first[2] + 0.5 * first[5], second[2] + 0.5 * second[5])
    bottom = max(first[2] - 0.5 * first[5], second[2] - 0.5 * second[5])
    return top - bottom if top > bottom else 0.0


@njit(**_JIT)
def _cross(origin_x: float, origin_y: float, a_x: float, a_y: float, b_x: float, b_y: float) -> float:
    return (a_x - origin_x) * (b_y - origin_y) - (a_y - origin_y) * (b_x - origin_x)


@njit(**_JIT)
def _hull_area(points: np.ndarray, hull: np.ndarray) -> float:
    """Area of the convex hull of points (K, 2) (Andrew's monotone chain). hull: (2K, 2) scratch."""
    # Order by x, then y (insertion sort: a handful of points).
    count_points = points.shape[0]
    order = np.arange(count_points)
    for position in range(1, count_points):
        index = order[position]
        cursor = position - 1
        while cursor >= 0 and (
            points[order[cursor], 0] > points[index, 0]
            or (points[order[cursor], 0] == points[index, 0] and points[order[cursor], 1] > points[index, 1])
        ):
            order[cursor + 1] = order[cursor]
            cursor -= 1
        order[cursor + 1] = index
    count = 0
    for position in range(points.shape[0]):
        index = order[position]
        while count >= 2 and _cross(hull[count - 2, 0], hull[count - 2, 1], hull[count - 1, 0], hull[count - 1, 1], points[index, 0], points[index, 1]) <= 0.0:
            count -= 1
        hull[count, 0] = points[index, 0]
        hull[count, 1] = points[index, 1]
        count += 1
    lower = count + 1
    for position in range(points.shape[0] - 2, -1, -1):
        index = order[position]
        while count >= lower and _cross(hull[count - 2, 0], hull[count - 2, 1], hull[count - 1, 0], hull[count - 1, 1], points[index, 0], points[index, 1]) <= 0.0:
            count -= 1
        hull[count, 0] = points[index, 0]
        hull[count, 1] = points[index, 1]
        count += 1
    return _polygon_area(hull, count - 1)


@njit(**_JIT)
def _pair_measures(first: np.ndarray, second: np.ndarray, scratch: np.ndarray, points: np.ndarray, hull: np.ndarray, kind: int) -> float:
    """One measure of a pair: 0 intersection area, 1 BEV IoU, 2 3D IoU, 3 BEV GIoU."""
    intersection = _intersection_area(first, second, scratch)
    if kind == 0:
        return intersection
    first_area = first[3] * first[4]
    second_area = second[3] * second[4]
    if kind == 1:
        return intersection / (first_area + second_area - intersection)
    if kind == 2:
        volume = intersection * _height_overlap(first, second)
        return volume / (first_area * first[5] + second_area * second[5] - volume)
    union = first_area + second_area - intersection
    _footprint(first, first[0], first[1], points[0:4])
    _footprint(second, first[0], first[1], points[4:8])
    enclosing = _hull_area(points, hull)
    return intersection / union - (enclosing - union) / enclosing


@njit(**_JIT)
def _pairwise(first: np.ndarray, second: np.ndarray, kind: int) -> np.ndarray:
    """(N, M) measure `kind` (see _pair_measures) between first (N, 7) and second (M, 7)."""
    result = np.empty((first.shape[0], second.shape[0]))
    scratch = np.empty((8 + 2 * _MAX_VERTICES, 2))
    points = np.empty((8, 2))
    hull = np.empty((16, 2))
    for row in range(first.shape[0]):
        for column in range(second.shape[0]):
            result[row, column] = _pair_measures(first[row], second[column], scratch, points, hull, kind)
    return result


@njit(**_JIT)
def _paired(first: np.ndarray, second: np.ndarray, kind: int) -> np.ndarray:
    """(N,) measure `kind` between first[i] and second[i], both (N, 7)."""
    result = np.empty(first.shape[0])
    scratch = np.empty((8 + 2 * _MAX_VERTICES, 2))
    points = np.empty((8, 2))
    hull = np.empty((16, 2))
    for row in range(first.shape[0]):
        result[row] = _pair_measures(first[row], second[row], scratch, points, hull, kind)
    return result


@njit(**_JIT)
def _pairwise_center_distance(first: np.ndarray, second: np.ndarray, dimensions: int) -> np.ndarray:
    """(N, M) Euclidean distance between centres over the first `dimensions` axes (2: BEV, 3: 3D)."""
    result = np.empty((first.shape[0], second.shape[0]))
    for row in range(first.shape[0]):
        for column in range(second.shape[0]):
            total = 0.0
            for axis in range(dimensions):
                difference = first[row, axis] - second[column, axis]
                total += difference * difference
            result[row, column] = math.sqrt(total)
    return result
