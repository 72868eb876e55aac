"""Overlap and distance between rotated boxes: exact, any yaw.

Boxes are avlabel's one box form (see `avlabel.structs.cuboid`): rows

    [x, y, z, length, width, height, yaw]      float64, any frame shared by both sets

with (x, y, z) the centre, yaw around +z. Bird's-eye-view (BEV) measures use the ground
footprint (x, y, length, width, yaw); 3D measures add the vertical extent
[z - height/2, z + height/2] (boxes are upright, so a 3D intersection is the footprint
intersection times the height overlap).

Pairwise forms take first (N, 7) and second (M, 7) and return (N, M) float64, row i for
first[i], column j for second[j]. Paired forms take two (N, 7) arrays and return (N,), the
measure of first[i] with second[i]. Every size must be > 0: a zero-size box has no IoU
and is rejected with ValueError.

    iou    = area(A and B) / area(A or B)                               in [0, 1]
    giou   = iou - (area(C) - area(A or B)) / area(C),  C = convex hull of A and B,  in (-1, 1]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avlabel.geometry.kernels import rotated_boxes

__all__ = [
    "bev_giou",
    "bev_iou",
    "iou_3d",
    "pairwise_bev_giou",
    "pairwise_bev_intersection_area",
    "pairwise_bev_iou",
    "pairwise_center_distance",
    "pairwise_iou_3d",
]

_INTERSECTION, _BEV_IOU, _IOU_3D, _BEV_GIOU = 0, 1, 2, 3


def pairwise_bev_iou(first: Any, second: Any) -> np.ndarray:
    """(N, M) bird's-eye IoU of first (N, 7) and second (M, 7) boxes."""
    return rotated_boxes._pairwise(_boxes("first", first), _boxes("second", second), _BEV_IOU)


def pairwise_iou_3d(first: Any, second: Any) -> np.ndarray:
    """(N, M) 3D IoU (volume) of first (N, 7) and second (M, 7) upright boxes."""
    return rotated_boxes._pairwise(_boxes("first", first), _boxes("second", second), _IOU_3D)


def pairwise_bev_giou(first: Any, second: Any) -> np.ndarray:
    """(N, M) bird's-eye generalised IoU of first (N, 7) and second (M, 7) boxes, in (-1, 1]."""
    return rotated_boxes._pairwise(_boxes("first", first), _boxes("second", second), _BEV_GIOU)


def pairwise_bev_intersection_area(first: Any, second: Any) -> np.ndarray:
    """(N, M) ground-footprint intersection area in m^2 of first (N, 7) and second (M, 7) boxes.

    Divide by `first[:, 3] * first[:, 4]` for the share of each first box's footprint covered
    by each second box (how ignore regions are tested in evaluation).
    """
    return rotated_boxes._pairwise(_boxes("first", first), _boxes("second", second), _INTERSECTION)


def pairwise_center_distance(first: Any, second: Any, *, dimensions: int = 2) -> np.ndarray:
    """(N, M) Euclidean distance in metres between box centres: over (x, y) with dimensions=2
    (bird's-eye, as nuScenes matches), over (x, y, z) with dimensions=3."""
    if dimensions not in (2, 3):
        raise ValueError(f"dimensions: expected 2 (x, y) or 3 (x, y, z), got {dimensions!r}")
    return rotated_boxes._pairwise_center_distance(_boxes("first", first), _boxes("second", second), dimensions)


def bev_iou(first: Any, second: Any) -> np.ndarray:
    """(N,) bird's-eye IoU of first[i] and second[i], both (N, 7)."""
    first_boxes, second_boxes = _paired_boxes(first, second)
    return rotated_boxes._paired(first_boxes, second_boxes, _BEV_IOU)


def iou_3d(first: Any, second: Any) -> np.ndarray:
    """(N,) 3D IoU of first[i] and second[i], both (N, 7)."""
    first_boxes, second_boxes = _paired_boxes(first, second)
    return rotated_boxes._paired(first_boxes, second_boxes, _IOU_3D)


def bev_giou(first: Any, second: Any) -> np.ndarray:
    """(N,) bird's-eye generalised IoU of first[i] and second[i], both (N, 7)."""
    first_boxes, second_boxes = _paired_boxes(first, second)
    return rotated_boxes._paired(first_boxes, second_boxes, _BEV_GIOU)


def _paired_boxes(first: Any, second: Any) -> tuple[np.ndarray, np.ndarray]:
    first_boxes, second_boxes = _boxes("first", first), _boxes("second", second)
    if len(first_boxes) != len(second_boxes):
        raise ValueError(
            f"paired boxes: first has {len(first_boxes)} rows, second {len(second_boxes)}; "
            "use the pairwise_* form for all pairs of two different sets"
        )
    return first_boxes, second_boxes


def _boxes(name: str, value: Any) -> np.ndarray:
    """Check and convert to a C-contiguous (N, 7) float64 array of valid boxes."""
    try:
        boxes = np.ascontiguousarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected an (N, 7) array of boxes [x, y, z, l, w, h, yaw], got {type(value).__name__} ({error})") from None
    if boxes.ndim == 1 and boxes.shape[0] == 0:
        boxes = boxes.reshape(0, 7)
    if boxes.ndim != 2 or boxes.shape[1] != 7:
        raise ValueError(
            f"{name}: expected shape (N, 7) [x, y, z, length, width, height, yaw], got {boxes.shape}"
            + ("; wrap a single box as box[None, :]" if boxes.shape == (7,) else "")
        )
    if boxes.size and not np.isfinite(boxes).all():
        row = int(np.argmax(~np.isfinite(boxes).all(axis=1)))
        raise ValueError(f"{name}: box {row} has NaN or infinite values: {boxes[row].tolist()}")
    if boxes.size and (boxes[:, 3:6] <= 0).any():
        row = int(np.argmax((boxes[:, 3:6] <= 0).any(axis=1)))
        raise ValueError(
            f"{name}: box {row} has size {boxes[row, 3:6].tolist()}; length, width and height must be > 0 "
            "(a zero-size box has no IoU: drop it or give it a minimum size)"
        )
    return boxes
