"""How good are the proposals? Ground precision/recall against per-point truth, and
per-class recall, precision and yaw error against truth boxes at a BEV IoU threshold.

`measure_log` runs the proposal step sweep by sweep; `measure_labels` judges any labels
of a log (the pipeline's, after tracking) by the same rules. Used by
scripts/measure_proposals.py and the regression tests; the full detection and
tracking metrics live in avlabel.eval. BEV IoU comes from avlabel.geometry.iou.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from avlabel.geometry.iou import pairwise_bev_iou
from avlabel.structs import yaw_difference

if TYPE_CHECKING:
    from avlabel.io.logstore import DriveLog
    from avlabel.perception.propose import FrameInput
    from avlabel.perception.settings import PerceptionConfig
    from avlabel.structs import LabelFrame, Labels


@dataclass
class GroundCounts:
    """Running confusion counts of ground vs not ground."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    def add(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        self.true_positive += int(np.count_nonzero(predicted & truth))
        self.false_positive += int(np.count_nonzero(predicted & ~truth))
        self.false_negative += int(np.count_nonzero(~predicted & truth))

    @property
    def precision(self) -> float:
        return self.true_positive / max(self.true_positive + self.false_positive, 1)

    @property
    def recall(self) -> float:
        return self.true_positive / max(self.true_positive + self.false_negative, 1)

    @property
    def f1(self) -> float:
        return 2 * self.precision * self.recall / max(self.precision + self.recall, 1e-12)


@dataclass
class DetectionCounts:
    """Per-class matching counts over many frames at one BEV IoU threshold.

    Truth boxes count when in range and hit by enough LiDAR points; proposals count when
    in range and not matched to a truth box that was left out (too few points), so that
    finding a barely visible object is never a false positive."""

    truth: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    proposed: dict[str, int] = field(default_factory=dict)
    correct: dict[str, int] = field(default_factory=dict)
    yaw_errors: dict[str, list[float]] = field(default_factory=dict)
    scored: list[tuple[str, float, bool]] = field(default_factory=list)  # (label, score, true positive)

    def add(
        self,
        proposal_boxes: np.ndarray,
        proposal_labels: list[str],
        proposal_scores: np.ndarray,
        truth_boxes: np.ndarray,
        truth_labels: list[str],
        truth_points: np.ndarray,
        *,
        ego_xy: np.ndarray,
        max_range: float = 50.0,
        min_points: int = 20,
        iou_threshold: float = 0.5,
    ) -> None:
        """One frame, boxes (K, 7) and (T, 7) in one frame; ego_xy (2,) in that frame."""
        proposal_boxes = np.asarray(proposal_boxes, dtype=np.float64).reshape(-1, 7)
        truth_boxes = np.asarray(truth_boxes, dtype=np.float64).reshape(-1, 7)
        truth_range = np.hypot(truth_boxes[:, 0] - ego_xy[0], truth_boxes[:, 1] - ego_xy[1])
        proposal_range = np.hypot(proposal_boxes[:, 0] - ego_xy[0], proposal_boxes[:, 1] - ego_xy[1])
        counted_truth = (truth_range <= max_range) & (np.asarray(truth_points) >= min_points)
        iou = pairwise_bev_iou(proposal_boxes, truth_boxes)
        # Greedy matching by score, any class (class correctness is checked per class below).
        matched_truth = np.full(len(proposal_boxes), -1)
        taken = np.zeros(len(truth_boxes), bool)
        for proposal in np.argsort(-np.asarray(proposal_scores)):
            if len(truth_boxes) == 0:
                break
            candidates = np.where(taken, -1.0, iou[proposal])
            best = int(np.argmax(candidates))
            if candidates[best] >= iou_threshold:
                matched_truth[proposal] = best
                taken[best] = True
        for proposal in range(len(proposal_boxes)):
            label = proposal_labels[proposal]
            truth_index = matched_truth[proposal]
            if proposal_range[proposal] > max_range:
                continue
            if truth_index >= 0 and not counted_truth[truth_index]:
                continue  # a barely visible or far object: neither credit nor blame
            is_correct = truth_index >= 0 and truth_labels[truth_index] == label
            self.proposed[label] = self.proposed.get(label, 0) + 1
            self.correct[label] = self.correct.get(label, 0) + int(is_correct)
            self.scored.append((label, float(proposal_scores[proposal]), bool(is_correct)))
        for truth_index in np.flatnonzero(counted_truth):
            label = truth_labels[truth_index]
            self.truth[label] = self.truth.get(label, 0) + 1
            proposals = np.flatnonzero(matched_truth == truth_index)
            if len(proposals) and proposal_labels[proposals[0]] == label:
                self.found[label] = self.found.get(label, 0) + 1
                error = float(np.degrees(yaw_difference(proposal_boxes[proposals[0], 6], truth_boxes[truth_index, 6], period=np.pi)))
                self.yaw_errors.setdefault(label, []).append(error)

    def recall(self, label: str) -> float:
        return self.found.get(label, 0) / max(self.truth.get(label, 0), 1)

    def precision(self, label: str) -> float:
        return self.correct.get(label, 0) / max(self.proposed.get(label, 0), 1)

    def median_yaw_error(self, label: str) -> float:
        errors = self.yaw_errors.get(label, [])
        return float(np.median(errors)) if errors else float("nan")

    def precision_by_score(self, edges: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.01)) -> list[tuple[float, float, int]]:
        """(lower edge, precision, count) of all proposals per score bin."""
        if not self.scored:
            return []
        scores = np.array([score for _, score, _ in self.scored])
        correct = np.array([ok for _, _, ok in self.scored])
        rows = []
        for low, high in zip(edges[:-1], edges[1:]):
            inside = (scores >= low) & (scores < high)
            if inside.any():
                rows.append((low, float(correct[inside].mean()), int(inside.sum())))
        return rows


@dataclass
class LogMeasurement:
    """Everything measured over the sweeps of one or more logs."""

    detections: DetectionCounts = field(default_factory=DetectionCounts)
    ground: GroundCounts = field(default_factory=GroundCounts)
    seconds_per_sweep: list[float] = field(default_factory=list)  # wall clock
    cpu_seconds_per_sweep: list[float] = field(default_factory=list)  # this process's CPU time
    sweeps: int = 0


def measure_log(
    log: "DriveLog",
    config: "PerceptionConfig",
    *,
    frames: range | list[int] | None = None,
    measurement: LogMeasurement | None = None,
    max_range: float = 50.0,
    min_points: int = 20,
    iou_threshold: float = 0.5,
) -> LogMeasurement:
    """Run the proposal step on sweeps of a simulated log and compare with its truth:
    per-point ground truth (road, sidewalk, terrain) and truth cuboids of the sweep's
    time (objects within `max_range` of the ego hit by at least `min_points` points)."""
    import time

    from avlabel.perception.propose import propose_ego

    measurement = measurement or LogMeasurement()
    for sweep in _judged_sweeps(log, frames):
        frame_input, world_from_ego, point_truth = sweep.frame_input, sweep.world_from_ego, sweep.point_truth()
        start, cpu_start = time.perf_counter(), time.process_time()
        proposals = propose_ego(
            frame_input.points, config, radar=frame_input.radar or None,
            ego_velocity_ego=world_from_ego[:3, :3].T @ frame_input.ego_velocity, sensor_origin=frame_input.sensor_origin,
        )
        measurement.seconds_per_sweep.append(time.perf_counter() - start)
        measurement.cpu_seconds_per_sweep.append(time.process_time() - cpu_start)
        measurement.sweeps += 1
        if point_truth is not None:
            measurement.ground.add(proposals.point_height < config.ground.ground_threshold, point_truth.is_ground())
        if sweep.found is not None:
            measurement.detections.add(
                proposals.boxes, list(proposals.labels), proposals.scores, *sweep.found,
                ego_xy=np.zeros(2), max_range=max_range, min_points=min_points, iou_threshold=iou_threshold,
            )
    return measurement


def measure_labels(
    log: "DriveLog",
    labels: "Labels",
    *,
    frames: range | list[int] | None = None,
    measurement: LogMeasurement | None = None,
    max_range: float = 50.0,
    min_points: int = 20,
    iou_threshold: float = 0.5,
) -> LogMeasurement:
    """Compare any world-frame labels of a simulated log (the pipeline's, after tracking)
    with its truth on the same sweeps and by the same rules as `measure_log`: a labels
    frame counts for the sweep of the same time; a sweep without one has no boxes."""
    measurement = measurement or LogMeasurement()
    labels_by_time = {frame.timestamp_us: frame for frame in labels.frames}
    for sweep in _judged_sweeps(log, frames, read_points=False):
        measurement.sweeps += 1
        if sweep.found is None:
            continue
        labelled = labels_by_time.get(sweep.timestamp_us)
        cuboids = labelled.cuboids if labelled is not None else ()
        boxes = _into_ego(np.array([cuboid.box for cuboid in cuboids]).reshape(-1, 7), sweep.world_from_ego)
        measurement.detections.add(
            boxes, [cuboid.label for cuboid in cuboids], np.array([cuboid.score for cuboid in cuboids]), *sweep.found,
            ego_xy=np.zeros(2), max_range=max_range, min_points=min_points, iou_threshold=iou_threshold,
        )
    return measurement


@dataclass(frozen=True, slots=True, eq=False)
class _JudgedSweep:
    """One sweep of a simulated log as the measurements see it: its log time and pose, the
    sweep ready for the proposal step (None when not read), its truth boxes in its ego
    frame (see `_truth_in_ego`; None without a truth frame) and its per-point truth (read
    when first asked for)."""

    timestamp_us: int
    world_from_ego: np.ndarray
    frame_input: "FrameInput | None"
    found: tuple[np.ndarray, list[str], np.ndarray] | None
    point_truth: Callable[[], Any]


def _judged_sweeps(log: "DriveLog", frames: range | list[int] | None, *, read_points: bool = True) -> Iterator[_JudgedSweep]:
    """Per sweep (all, or `frames`). Without `read_points` only the sweep's time and pose
    are looked up (judging labels needs no points)."""
    from avlabel.perception.propose import log_frame_input
    from avlabel.sync.frames import ego_poses

    sensor = log.lidar
    calibration = log.calibrations[sensor]
    stamps = log.timestamps(sensor)
    poses = ego_poses(log)
    truth = log.truth()
    truth_by_time = {frame.timestamp_us: frame for frame in truth.frames} if truth is not None else {}
    for index in frames if frames is not None else range(len(stamps)):
        frame_input = log_frame_input(log, index, lidar=sensor, poses=poses) if read_points else None
        timestamp_us = frame_input.timestamp_us if frame_input is not None else int(calibration.to_log_time(int(stamps[index])))
        world_from_ego = frame_input.world_from_ego if frame_input is not None else poses.at(timestamp_us)
        point_truth = functools.cache(functools.partial(log.point_truth, index, sensor))
        found = _truth_in_ego(truth_by_time.get(timestamp_us), world_from_ego, point_truth)
        yield _JudgedSweep(timestamp_us, world_from_ego, frame_input, found, point_truth)


def _into_ego(boxes: np.ndarray, world_from_ego: np.ndarray) -> np.ndarray:
    """World-frame boxes (K, 7) in the ego frame of a sweep."""
    if not len(boxes):
        return boxes
    ego_from_world = np.linalg.inv(world_from_ego)
    boxes = boxes.copy()
    boxes[:, :3] = boxes[:, :3] @ ego_from_world[:3, :3].T + ego_from_world[:3, 3]
    boxes[:, 6] += np.arctan2(ego_from_world[1, 0], ego_from_world[0, 0])
    return boxes


def _truth_in_ego(frame: "LabelFrame | None", world_from_ego: np.ndarray, point_truth: Callable[[], Any]) -> tuple[np.ndarray, list[str], np.ndarray] | None:
    """(boxes (T, 7) in the sweep's ego frame, labels, LiDAR points on each) of a truth
    frame, or None without one. Counts not stored in the truth come from the per-point
    instance ids (the cuboid's track id) of `point_truth()` (read only then)."""
    if frame is None:
        return None
    truth_boxes = _into_ego(np.array([cuboid.box for cuboid in frame.cuboids]).reshape(-1, 7), world_from_ego)
    truth_points = np.array([cuboid.num_points for cuboid in frame.cuboids], dtype=np.int64)
    if len(truth_points) and not truth_points.any() and point_truth() is not None:
        instance = point_truth().instance
        hits = np.bincount(instance[instance >= 0]) if (instance >= 0).any() else np.zeros(0, np.int64)
        truth_points = np.array([
            hits[int(cuboid.track_id)] if cuboid.track_id.isdigit() and int(cuboid.track_id) < len(hits) else 0 for cuboid in frame.cuboids
        ])
    return truth_boxes, [cuboid.label for cuboid in frame.cuboids], truth_points
