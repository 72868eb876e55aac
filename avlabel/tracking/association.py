"""Data association in the world frame: gated costs, then one optimal assignment.

The cost of pairing track k with detection m (both world-frame boxes [x, y, z, l, w, h, yaw])

    cost = (1 - GIoU_bev) + distance_weight * distance / gate + class_mismatch_cost * [labels differ]

where `distance` is the ground-plane centre distance and `gate` the track class's
`distance_gate`, widened by three standard deviations of the track's predicted position
(at most `gate_growth` m per second since the track was last seen) so that a track that
has coasted for a while can still be found, while a newborn track, whose velocity is not
known yet, cannot jump to an object five metres away. Impossible pairs: beyond
that gate; further than `mahalanobis_gate` standard deviations of the combined spread
(predicted track covariance plus detection noise), so that a well-established parked car
is never taken over by a cyclist passing two metres away; GIoU below `giou_gate`; labels
that are neither equal nor in the track class's `compatible_labels`. The assignment minimises the summed cost
(scipy's linear_sum_assignment); GIoU is blind to the pi ambiguity of box yaw, as it
should be here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from avlabel.geometry.iou import bev_giou

# A finite stand-in for "impossible" that linear_sum_assignment accepts.
_IMPOSSIBLE = 1e6


@dataclass(frozen=True, slots=True)
class Gates:
    """Per-track association parameters, each (K,), taken from the tracks' class tables."""

    distance: np.ndarray  # m, centre-distance gate
    mahalanobis: np.ndarray  # std of the combined track and detection spread
    giou: np.ndarray  # minimum BEV GIoU
    distance_weight: np.ndarray  # weight of the normalised distance in the cost


@dataclass(frozen=True, slots=True)
class Assignment:
    """Result of one association: matched (track, detection) index pairs and the leftovers."""

    pairs: np.ndarray  # (P, 2) int64: [track index, detection index]
    costs: np.ndarray  # (P,) float64
    unmatched_tracks: np.ndarray  # (K - P,) int64
    unmatched_detections: np.ndarray  # (M - P,) int64


def association_costs(
    track_boxes: np.ndarray,
    track_covariances: np.ndarray,
    gates: Gates,
    detection_boxes: np.ndarray,
    detection_centres: np.ndarray,
    detection_noise: np.ndarray,
    label_costs: np.ndarray,
) -> np.ndarray:
    """(K, M) costs between predicted track boxes (K, 7) and detections (M, 7); inf = gated out.

    track_covariances: (K, 2, 2) predicted ground-plane position covariance of each track;
    detection_centres: (K, M, 2) ground-plane centre of each detection as seen by each track
    (re-centred at the track's size; the detection's own centre will do);
    detection_noise: (M,) centre std of each detection (m); label_costs: (K, M), 0 for the
    same label, the mismatch cost for compatible labels, inf for incompatible ones.
    Distances use the detection centres, GIoU the detections' own boxes.
    """
    costs = np.full((len(track_boxes), len(detection_boxes)), np.inf)
    if not costs.size:
        return costs
    offsets = detection_centres - track_boxes[:, None, :2]
    distances = np.linalg.norm(offsets, axis=2)
    rows, columns = np.nonzero((distances <= gates.distance[:, None]) & np.isfinite(label_costs))
    if not len(rows):
        return costs
    mahalanobis = _mahalanobis(offsets[rows, columns], track_covariances[rows], detection_noise[columns])
    close = mahalanobis <= gates.mahalanobis[rows]
    rows, columns = rows[close], columns[close]
    giou = bev_giou(track_boxes[rows], detection_boxes[columns])
    pair_costs = (1.0 - giou) + gates.distance_weight[rows] * distances[rows, columns] / gates.distance[rows] + label_costs[rows, columns]
    allowed = giou >= gates.giou[rows]
    costs[rows[allowed], columns[allowed]] = pair_costs[allowed]
    return costs


def _mahalanobis(offsets: np.ndarray, covariances: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """(P,) Mahalanobis length of offsets (P, 2) under covariances (P, 2, 2) + noise (P,)^2 * I."""
    variance = noise**2
    first = covariances[:, 0, 0] + variance
    cross = covariances[:, 0, 1]
    second = covariances[:, 1, 1] + variance
    determinant = first * second - cross * cross
    squared = (second * offsets[:, 0] ** 2 - 2 * cross * offsets[:, 0] * offsets[:, 1] + first * offsets[:, 1] ** 2) / determinant
    return np.sqrt(squared)


def assign(costs: np.ndarray) -> Assignment:
    """Minimum-cost one-to-one assignment of the finite entries of costs (K, M)."""
    count_tracks, count_detections = costs.shape
    if costs.size == 0 or not np.isfinite(costs).any():
        return Assignment(
            np.zeros((0, 2), np.int64), np.zeros(0), np.arange(count_tracks, dtype=np.int64), np.arange(count_detections, dtype=np.int64)
        )
    rows, columns = linear_sum_assignment(np.where(np.isfinite(costs), costs, _IMPOSSIBLE))
    feasible = np.isfinite(costs[rows, columns])
    rows, columns = rows[feasible], columns[feasible]
    return Assignment(
        pairs=np.column_stack([rows, columns]).astype(np.int64),
        costs=costs[rows, columns],
        unmatched_tracks=np.setdiff1d(np.arange(count_tracks), rows).astype(np.int64),
        unmatched_detections=np.setdiff1d(np.arange(count_detections), columns).astype(np.int64),
    )
