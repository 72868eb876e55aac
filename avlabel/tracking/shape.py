"""One size per rigid object, and boxes of partial views re-centred at that size.

A box fitted to the LiDAR points of an object covers only what the sensor saw: when the
far side of an object is hidden, the fitted extent along that axis falls short and the
box centre sits too close to the ego. Over a track, the full views (many points, the
side in sight for the length) tell the real size; every partial box can then be grown
back to that size, keeping the faces that looked towards the ego where they were. A box
that took the object's width for its length is first described the other way round
(`reexpressed`).
"""

from __future__ import annotations

import numpy as np

from avlabel.tracking import kernels
from avlabel.tracking.settings import ClassTracking

# Partial views bound a size from below: this quantile of all observed extents.
_LOWER_BOUND_QUANTILE = 0.8
# Metres over which the re-centring fades in as a face turns towards the ego.
_FACE_RAMP = 1.0
# The smallest angle between the line of sight and a box's side that shows the side's length.
_SIDE_ANGLE = np.radians(15.0)


def consolidated_size(sizes: np.ndarray, num_points: np.ndarray, side_visible: np.ndarray, table: ClassTracking) -> np.ndarray:
    """(3,) one [length, width, height] from observed sizes (K, 3), their point counts (K,)
    and whether each observation saw the object's side (K,) bool.

    Only full views vote: an observation with at least `full_view_points` points votes for
    the width and height, and for the length too if it saw the side (a box seen head-on
    shows its width, not its length). The votes, weighted by points, and the class's
    `typical_size` with the weight of `size_prior_points` points, give the
    `size_quantile` of each dimension. Partial views are lower bounds only (what is seen of
    an object is rarely more than it): the size is at least the 80 % quantile of all
    observed extents, and at least the class's `minimum_size` (a cluster split in two
    shows half a car in full). A track never seen in full thus keeps its class's typical
    size, or what it was seen to be, if larger.
    """
    return kernels._size_vote(
        np.ascontiguousarray(sizes, dtype=np.float64),
        np.ascontiguousarray(num_points, dtype=np.float64),
        np.ascontiguousarray(side_visible, dtype=np.bool_),
        np.asarray(table.typical_size, dtype=np.float64),
        float(table.size_prior_points),
        float(table.full_view_points),
        float(table.size_quantile),
        _LOWER_BOUND_QUANTILE,
        np.asarray(table.minimum_size, dtype=np.float64),
    )


def implausibly_small(sizes: np.ndarray, num_points: np.ndarray, side_visible: np.ndarray, table: ClassTracking) -> bool:
    """Do the full views seen from the side (at least 3 observations of `full_view_points`
    or more, `side_visible` (K,) bool) show the object's smaller ground extent, in the
    median, at less than a third of its class's minimum width? A wall or a hedge seen
    square on is a few decimetres thick; no car seen from its side is. (A car seen from an
    end is: its back and a little of its roof; such views do not count. The smaller extent
    of each view, whichever axis it lies along: a partly seen box may have its axes mixed
    up, its thinness is what it is.)"""
    full = (num_points >= table.full_view_points) & side_visible
    if full.sum() < 3:
        return False
    return bool(np.median(np.min(sizes[full, :2], axis=1)) < table.minimum_size[1] / 3.0)


def never_wide_enough(sizes: np.ndarray, table: ClassTracking) -> bool:
    """Do nearly all views (K, 3 observed sizes; all but the largest tenth) show the object's
    larger ground extent narrower than the narrowest object of its class (`minimum_size`
    width)? Every view of a whole car shows at least the car's width, from behind as from
    the side; a cyclist or a pole the proposals took for a car never does. Needs 3 views."""
    if len(sizes) < 3:
        return False
    return bool(np.percentile(np.max(sizes[:, :2], axis=1), 90) < table.minimum_size[1])


def oversized(sizes: np.ndarray, table: ClassTracking) -> np.ndarray:
    """(K,) bool: observed sizes (K, 3) larger in some dimension than anything of the class
    (`maximum_size`): not a view of one such object, but of one merged with its neighbour (a
    car and the tree beside it, two cars parked side by side)."""
    return (sizes > np.asarray(table.maximum_size)).any(axis=1)


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


def reexpressed(boxes: np.ndarray, seen_sizes: np.ndarray, reference_yaws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (K, 7) and seen sizes (K, 3) described along reference headings (K,).

    A box fitting an L-shape of points may take the object's width for its length: its yaw
    is then a quarter turn off. The rectangle [l, w, yaw] is the same footprint as
    [w, l, yaw + pi/2]; a box closer to perpendicular than to parallel to its reference is
    rewritten that way (and its seen extents swapped), so that its length lies along the
    object's. Nothing moves: only the description changes.
    """
    boxes, seen_sizes = boxes.copy(), seen_sizes.copy()
    across = np.abs(np.mod(boxes[:, 6] - reference_yaws + np.pi / 2, np.pi) - np.pi / 2) > np.pi / 4
    boxes[across, 3], boxes[across, 4] = boxes[across, 4], boxes[across, 3].copy()
    seen_sizes[across, 0], seen_sizes[across, 1] = seen_sizes[across, 1], seen_sizes[across, 0].copy()
    boxes[across, 6] += np.pi / 2
    return boxes, seen_sizes


def side_visible(boxes: np.ndarray, ego_positions: np.ndarray) -> np.ndarray:
    """(K,) bool: the ego (ego_positions (K, 3), world) lies outside the width of its box
    (K, 7) and looks at the box's side at least _SIDE_ANGLE off its axis, so the side, and
    with it the box's full length, faced the sensor (at a grazing angle the side returns
    too few points to show its length: a car followed in the next lane shows its back).
    True where the ego position is unknown (NaN)."""
    offset = ego_positions[:, :2] - boxes[:, :2]
    along = np.cos(boxes[:, 6]) * offset[:, 0] + np.sin(boxes[:, 6]) * offset[:, 1]
    across = -np.sin(boxes[:, 6]) * offset[:, 0] + np.cos(boxes[:, 6]) * offset[:, 1]
    outside = np.abs(across) > 0.5 * boxes[:, 4]
    return ~(~outside | (np.abs(across) - 0.5 * boxes[:, 4] < np.tan(_SIDE_ANGLE) * np.maximum(np.abs(along) - 0.5 * boxes[:, 3], 0.0)))
