"""Fit a cuboid to the LiDAR points inside it, with the proposal stage's box fitter.

The annotator's box says roughly where the object is and which way it faces; the points
inside it (grown by a margin, above the ground) say exactly where its surfaces are:

    select     points within the box grown by `margin` sideways and upwards, and at least
               `ground_clearance` above its bottom face (so the road does not count)
    fit        avlabel.perception.boxfit.fit_rectangle: the bird's-eye rectangle the points
               hug best (the same search the proposals use)
    orient     of the rectangle's four headings (its axes either way) the one nearest the
               annotator's heading: a fit cannot tell front from back
    complete   grow to at least the class's typical size away from the sensor, as the
               proposal stage does (what the LiDAR sees of an object is rarely all of it)
    height     bottom face kept where the annotator's box stands; top at the highest point

All in the world frame (the fitter is planar geometry, any frame will do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from avlabel.structs import wrap_angle

if TYPE_CHECKING:
    from avlabel.perception.settings import PerceptionConfig

GROUND_CLEARANCE_M = 0.2
MINIMUM_HEIGHT_M = 0.1


def selection_box(box: np.ndarray, margin: float, *, ground_clearance: float = GROUND_CLEARANCE_M) -> np.ndarray:
    """(7,) the region whose points a fit uses: `box` grown by `margin` in length, width and
    upwards, starting `ground_clearance` above the box's bottom face."""
    box = np.asarray(box, dtype=np.float64)
    bottom = box[2] - box[5] / 2 + ground_clearance
    top = box[2] + box[5] / 2 + margin
    return np.array([box[0], box[1], (bottom + top) / 2, box[3] + 2 * margin, box[4] + 2 * margin, max(top - bottom, 1e-3), box[6]])


def points_in_box(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(N,) bool: which points (N, >=3) lie inside box (7,) [x, y, z, l, w, h, yaw], same frame."""
    points = np.asarray(points)
    box = np.asarray(box, dtype=np.float64)
    offset = points[:, :3].astype(np.float64) - box[:3]
    cos, sin = np.cos(box[6]), np.sin(box[6])
    along = offset[:, 0] * cos + offset[:, 1] * sin
    across = -offset[:, 0] * sin + offset[:, 1] * cos
    return (np.abs(along) <= box[3] / 2) & (np.abs(across) <= box[4] / 2) & (np.abs(offset[:, 2]) <= box[5] / 2)


def fit_box_to_points(
    points: np.ndarray,
    hint_box: np.ndarray,
    label: str,
    sensor_xy: np.ndarray | None = None,
    *,
    config: "PerceptionConfig | None" = None,
) -> np.ndarray:
    """Box (7,) fitted to an object's points (N, 3) (already selected, see `selection_box`).

    hint_box (7,): the annotator's box (heading and bottom face are kept from it);
    label: its class (for the typical size); sensor_xy (2,): where the LiDAR was, world
    frame (None: complete evenly on both sides).
    """
    from avlabel.perception.boxfit import complete_to_size, fit_rectangle  # numba: loaded when first fitting
    from avlabel.perception.settings import PerceptionConfig

    config = config or PerceptionConfig()
    points = np.asarray(points, dtype=np.float64)
    hint_box = np.asarray(hint_box, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 3 or len(points) < 3:
        raise ValueError(f"fit_box_to_points: need at least 3 points (N, 3), got shape {points.shape}; move the box onto the object")
    centre, length, width, yaw = fit_rectangle(points[:, :2], config.box_fit)
    # orient: the rectangle heading nearest the annotator's
    headings = yaw + np.array([0.0, np.pi, np.pi / 2, -np.pi / 2])
    best = int(np.argmin(np.abs(wrap_angle(headings - hint_box[6]))))
    heading = float(wrap_angle(headings[best]))
    if best >= 2:
        length, width = width, length
    # complete to the class's typical size, away from the sensor
    prior = config.classes.get(label)
    target_length = max(length, prior.length) if prior is not None else length
    target_width = max(width, prior.width) if prior is not None else width
    origin = np.asarray(sensor_xy, dtype=np.float64).reshape(2) if sensor_xy is not None else np.asarray(centre, dtype=np.float64)
    centres, lengths, widths = complete_to_size(
        np.asarray(centre, dtype=np.float64).reshape(1, 2), np.array([length]), np.array([width]), np.array([heading]),
        np.array([target_length]), np.array([target_width]), origin,
    )
    # height: from the annotator's bottom face to the highest point
    bottom = hint_box[2] - hint_box[5] / 2
    height = max(float(points[:, 2].max()) - bottom, MINIMUM_HEIGHT_M)
    return np.array([centres[0, 0], centres[0, 1], bottom + height / 2, lengths[0], widths[0], height, heading])
