"""Oriented boxes around clusters: search-based rectangle fitting on the bird's-eye view,
heights from the points and the local ground, and completion of partly seen objects
from class size priors.

Everything here is in the ego frame (x forward, y left, z up). A rectangle is found by
trying headings in [0, pi/2) and scoring the rectangle that bounds the points along
each (Zhang et al., "Efficient L-shape fitting for vehicle detection using laser
scanners", 2017): `area` prefers the smallest rectangle, `closeness` the one whose two
visible edges the points hug, `variance` the one with the least spread of distances to
those edges. `closeness` is the default: it measured best on yaw (see
scripts/measure_proposals.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avlabel.perception import kernels
from avlabel.perception.settings import BoxFitConfig

_CRITERIA = {"area": kernels.CRITERION_AREA, "closeness": kernels.CRITERION_CLOSENESS, "variance": kernels.CRITERION_VARIANCE}


@dataclass(frozen=True, slots=True, eq=False)
class Rectangles:
    """K bird's-eye rectangles, ego frame: centres (K, 2), length (K,) >= width (K,) in
    metres, yaw (K,) of the length axis in [-pi/2, pi/2) (the heading's direction is
    decided later), edge_fraction (K,) share of points within 0.2 m of the boundary."""

    centres: np.ndarray
    length: np.ndarray
    width: np.ndarray
    yaw: np.ndarray
    edge_fraction: np.ndarray

    def __len__(self) -> int:
        return len(self.length)


def cluster_order(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Point order grouping clusters 0..K-1 of `labels` (N,) (noise -1 dropped):
    order (M,) and offsets (K + 1,), cluster k = order[offsets[k]:offsets[k+1]]."""
    labels = np.asarray(labels, dtype=np.int64)
    clusters = int(labels.max()) + 1 if len(labels) else 0
    return kernels._group_by_label(labels, max(clusters, 0))


def fit_rectangles(
    points: np.ndarray, order: np.ndarray, offsets: np.ndarray, config: BoxFitConfig, selected: np.ndarray | None = None
) -> Rectangles:
    """Best rectangle of each cluster. points (N, >=2) ego frame; order and offsets as
    from `cluster_order`; clusters not `selected` (K,) bool are skipped (all-zero rows)."""
    clusters = len(offsets) - 1
    selected = np.ones(clusters, bool) if selected is None else np.asarray(selected, dtype=bool)
    if config.criterion not in _CRITERIA:
        raise ValueError(f"box_fit.criterion: expected one of {', '.join(_CRITERIA)}, got {config.criterion!r}")
    fitted = kernels._fit_rectangles(
        np.asarray(points), np.asarray(order, np.int64), np.asarray(offsets, np.int64),
        np.deg2rad(config.angle_step_degrees), _CRITERIA[config.criterion], config.closeness_floor, config.max_fit_points, selected,
    )
    along, across, angle = fitted[:, 2], fitted[:, 3], fitted[:, 4]
    swap = across > along
    yaw = np.where(swap, angle + np.pi / 2, angle)
    yaw = np.mod(yaw + np.pi / 2, np.pi) - np.pi / 2
    return Rectangles(fitted[:, :2].copy(), np.maximum(along, across), np.minimum(along, across), yaw, fitted[:, 5].copy())


def fit_rectangle(points: np.ndarray, config: BoxFitConfig | None = None) -> tuple[np.ndarray, float, float, float]:
    """One cluster's rectangle: points (M, >=2) ego frame -> centre (2,), length, width, yaw."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 2 or len(points) == 0:
        raise ValueError(f"points: expected a non-empty (M, 2) or (M, 3) array, got shape {points.shape}")
    if not np.isfinite(points[:, :2]).all():
        raise ValueError("points: NaN or infinite coordinates; drop them first")
    rectangles = fit_rectangles(points, np.arange(len(points)), np.array([0, len(points)]), config or BoxFitConfig())
    return rectangles.centres[0], float(rectangles.length[0]), float(rectangles.width[0]), float(rectangles.yaw[0])


def complete_to_size(
    centres: np.ndarray,
    length: np.ndarray,
    width: np.ndarray,
    yaw: np.ndarray,
    target_length: np.ndarray,
    target_width: np.ndarray,
    sensor_xy: np.ndarray,
    toward_sensor: np.ndarray | None = None,
    sight_share: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grow rectangles (K,) to at least the target sizes (K,), away from the sensor.

    Along each axis, when the sensor looks at the rectangle from beyond one end (its
    projection is outside the rectangle's extent), that end is the one seen: it stays
    put and the far end moves away; where `toward_sensor` (K,) is True the near end was
    hidden behind something else, so along the length the far end stays and the near end
    moves toward the sensor instead. When the sensor is beside the extent (a car's side
    seen along its length), the extent grows evenly.

    Where `sight_share` (K,) is finite, the rectangle grows along the line of sight
    instead (small round bodies, people, whose fitted axes say little about where the
    unseen part is): its depth seen from `sensor_xy` grows by D_new - D_seen, that share
    of it behind what was seen and the rest in front (the points already reach into a
    round body), and its extent across the line of sight grows evenly.
    Returns centres (K, 2), length, width.
    """
    centres = np.array(centres, dtype=np.float64, copy=True)
    new_length = np.maximum(length, target_length)
    new_width = np.maximum(width, target_width)
    grown = centres.copy()
    heading = np.column_stack([np.cos(yaw), np.sin(yaw)])
    side = np.column_stack([-np.sin(yaw), np.cos(yaw)])
    flips = (np.zeros(len(centres), bool) if toward_sensor is None else np.asarray(toward_sensor, bool), np.zeros(len(centres), bool))
    for (axis, old, new), flip in zip(((heading, length, new_length), (side, width, new_width)), flips):
        sensor_offset = ((np.asarray(sensor_xy)[None, :] - centres) * axis).sum(axis=1)
        beyond = np.abs(sensor_offset) > old / 2
        direction = np.where(flip, 1.0, -1.0) * np.sign(sensor_offset)
        shift = np.where(beyond, direction * (new - old) / 2, 0.0)
        grown += shift[:, None] * axis
    if sight_share is not None:
        share = np.asarray(sight_share, dtype=np.float64)
        sight = centres - np.asarray(sensor_xy, dtype=np.float64)[None, :]
        distance = np.hypot(sight[:, 0], sight[:, 1])
        sight = np.divide(sight, distance[:, None], out=np.zeros_like(sight), where=distance[:, None] > 0)
        angle = yaw - np.arctan2(sight[:, 1], sight[:, 0])
        along_cos, along_sin = np.abs(np.cos(angle)), np.abs(np.sin(angle))
        missing = np.maximum(along_cos * (new_length - length) + along_sin * (new_width - width), 0.0)
        by_sight = centres + (np.nan_to_num(share) - 0.5)[:, None] * missing[:, None] * sight
        grown = np.where(np.isfinite(share)[:, None], by_sight, grown)
    return grown, new_length, new_width
