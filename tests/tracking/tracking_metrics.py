"""Tracking metrics for development, until avlabel.eval lands: TrackEval's CLEAR (MOTA,
ID switches), Identity (IDF1) and HOTA on per-frame similarities, and per-box errors.

Matching uses either BEV IoU (similarity = IoU, matched at >= 0.5) or centre distance
(similarity = max(0, 1 - d / 4 m), so that TrackEval's 0.5 threshold means d <= 2 m).
Frames are paired by timestamp; only one class is scored at a time.
"""

from __future__ import annotations

import numpy as np
import shapely
from trackeval.metrics import CLEAR, HOTA, Identity

from avlabel.structs import Labels, PoseSeries, box_corners, yaw_difference


def bev_iou(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(N, M) bird's-eye IoU of boxes (N, 7) and (M, 7), via shapely."""
    if not len(first) or not len(second):
        return np.zeros((len(first), len(second)))
    polygons_first = shapely.polygons(box_corners(first)[:, [0, 1, 5, 4], :2])
    polygons_second = shapely.polygons(box_corners(second)[:, [0, 1, 5, 4], :2])
    intersection = shapely.area(shapely.intersection(polygons_first[:, None], polygons_second[None, :]))
    union = shapely.area(polygons_first)[:, None] + shapely.area(polygons_second)[None, :] - intersection
    return intersection / union


def _frames(labels: Labels, label: str, poses: PoseSeries | None, reach: float) -> dict[int, tuple[np.ndarray, list[str]]]:
    result = {}
    for frame in labels.frames:
        cuboids = [cuboid for cuboid in frame if cuboid.label == label]
        if poses is not None:
            ego = poses.world_from_ego[int(np.argmin(np.abs(poses.timestamps_us - frame.timestamp_us))), :2, 3]
            cuboids = [cuboid for cuboid in cuboids if np.linalg.norm(cuboid.center[:2] - ego) <= reach]
        result[frame.timestamp_us] = (np.array([cuboid.box for cuboid in cuboids]).reshape(-1, 7), [cuboid.track_id for cuboid in cuboids])
    return result


def tracking_metrics(
    predictions: Labels, truth: Labels, label: str = "car", matching: str = "iou", *, poses: PoseSeries | None = None, reach: float = 50.0
) -> dict[str, float]:
    """MOTA, HOTA, IDF1, ID switches (and per 100 truth tracks), FP, FN for one class; with
    poses, only boxes within `reach` metres of the ego count."""
    predicted, expected = _frames(predictions, label, poses, reach), _frames(truth, label, poses, reach)
    stamps = sorted(expected)
    truth_ids: dict[str, int] = {}
    tracker_ids: dict[str, int] = {}
    data = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    for stamp in stamps:
        truth_boxes, truth_tracks = expected[stamp]
        boxes, tracks = predicted.get(stamp, (np.zeros((0, 7)), []))
        if matching == "iou":
            similarity = bev_iou(truth_boxes, boxes)
        else:
            distance = np.linalg.norm(truth_boxes[:, None, :2] - boxes[None, :, :2], axis=2) if len(boxes) and len(truth_boxes) else np.zeros((len(truth_boxes), len(boxes)))
            similarity = np.maximum(0.0, 1.0 - distance / 4.0)
        data["gt_ids"].append(np.array([truth_ids.setdefault(track, len(truth_ids)) for track in truth_tracks], dtype=int))
        data["tracker_ids"].append(np.array([tracker_ids.setdefault(track, len(tracker_ids)) for track in tracks], dtype=int))
        data["similarity_scores"].append(similarity)
    data.update(
        num_timesteps=len(stamps),
        num_gt_ids=len(truth_ids),
        num_tracker_ids=len(tracker_ids),
        num_gt_dets=sum(len(ids) for ids in data["gt_ids"]),
        num_tracker_dets=sum(len(ids) for ids in data["tracker_ids"]),
    )
    clear = CLEAR({"PRINT_CONFIG": False}).eval_sequence(data)
    identity = Identity({"PRINT_CONFIG": False}).eval_sequence(data)
    hota = HOTA().eval_sequence(data)
    return {
        "MOTA": float(clear["MOTA"]),
        "HOTA": float(np.mean(hota["HOTA"])),
        "IDF1": float(identity["IDF1"]),
        "IDSW": int(clear["IDSW"]),
        "IDSW_per_100": 100.0 * clear["IDSW"] / max(1, len(truth_ids)),
        "FP": int(clear["CLR_FP"]),
        "FN": int(clear["CLR_FN"]),
        "truth_tracks": len(truth_ids),
        "truth_boxes": int(data["num_gt_dets"]),
    }


def box_errors(predictions: Labels, truth: Labels, label: str = "car", gate: float = 2.0) -> dict[str, np.ndarray]:
    """Per matched box (nearest centre within `gate` m, one-to-one per frame): centre error (m,
    ground plane), size error (m, norm of [dl, dw, dh]), yaw error (rad, modulo 2 pi), axis
    error (rad, modulo pi: the heading's line, what a box shows) and, for truth moving faster
    than 1 m/s, heading error (rad, modulo 2 pi)."""
    from scipy.optimize import linear_sum_assignment

    predicted = {frame.timestamp_us: frame for frame in predictions.frames}
    centre, size, yaw, axis, heading = [], [], [], [], []
    for frame in truth.frames:
        truth_boxes = np.array([cuboid.box for cuboid in frame if cuboid.label == label]).reshape(-1, 7)
        truth_speeds = np.array([np.linalg.norm(cuboid.velocity) if cuboid.velocity is not None else 0.0 for cuboid in frame if cuboid.label == label])
        other = predicted.get(frame.timestamp_us)
        boxes = np.array([cuboid.box for cuboid in other if cuboid.label == label]).reshape(-1, 7) if other is not None else np.zeros((0, 7))
        if not len(truth_boxes) or not len(boxes):
            continue
        distance = np.linalg.norm(truth_boxes[:, None, :2] - boxes[None, :, :2], axis=2)
        rows, columns = linear_sum_assignment(np.where(distance <= gate, distance, 1e6))
        for row, column in zip(rows, columns):
            if distance[row, column] <= gate:
                centre.append(distance[row, column])
                size.append(np.linalg.norm(truth_boxes[row, 3:6] - boxes[column, 3:6]))
                yaw.append(yaw_difference(truth_boxes[row, 6], boxes[column, 6]))
                axis.append(yaw_difference(truth_boxes[row, 6], boxes[column, 6], period=np.pi))
                if truth_speeds[row] > 1.0:
                    heading.append(yaw[-1])
    return {"centre": np.array(centre), "size": np.array(size), "yaw": np.array(yaw), "axis": np.array(axis), "heading": np.array(heading)}
