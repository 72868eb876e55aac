"""The forward pass: an online tracker over the sweeps in time order (AB3DMOT's life cycle).

Per sweep: predict every live track to the sweep's time, associate (association.py),
update the matched tracks with their detections, start tracks from confident leftovers,
and retire tracks that have gone unmatched for longer than their class's `coast_seconds`.
What it returns, `Tracklet`s, are only the raw material of the offline stages (stitching,
smoothing, consolidation), which see the whole log in both directions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from avlabel.tracking import kernels, motion
from avlabel.tracking.association import Assignment, Gates, assign, association_costs
from avlabel.tracking.measurements import Detections
from avlabel.tracking.settings import TrackingConfig
from avlabel.tracking.shape import anchored_centres, consolidated_size, reexpressed, side_visible

# The running size estimate of a track: from its most recent observations, refreshed after
# each of the first few observations and each full view, else after every few.
_RECENT_SIZES = 20
_EVERY_OBSERVATION = 3
_SIZE_REFRESH = 10


@dataclass(frozen=True, slots=True, eq=False)
class Tracklet:
    """Detections one forward-pass track collected, with its filtered (not smoothed) states.

    rows: (T,) int64 detection rows (see `Detections`), one per observed frame, in time order.
    filtered_means: (T, 7) and filtered_covariances: (T, 7, 7): the state after each update
    (world frame, layout in `motion`); running_sizes: (T, 3) the track's size estimate
    after each update. An online tracker would output exactly these.
    """

    rows: np.ndarray
    filtered_means: np.ndarray
    filtered_covariances: np.ndarray
    running_sizes: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(slots=True, eq=False)
class _LiveTrack:
    """Mutable state of one track while the forward pass runs."""

    mean: np.ndarray  # (7,) state at `time_s`
    covariance: np.ndarray  # (7, 7)
    time_s: float  # seconds since the log's first frame
    last_observed_s: float
    label: str = ""  # the label with the largest summed detection score so far
    rows: list[int] = field(default_factory=list)
    filtered_means: list[np.ndarray] = field(default_factory=list)
    filtered_covariances: list[np.ndarray] = field(default_factory=list)
    running_sizes: list[np.ndarray] = field(default_factory=list)
    label_votes: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    seen_sizes: list[np.ndarray] = field(default_factory=list)  # (3,) per row, along the track's heading
    sides: list[bool] = field(default_factory=list)  # per row: the side (so the length) was in sight
    size: np.ndarray = field(default_factory=lambda: np.ones(3))  # (3,) running one-size estimate (shape.py), first the detection's

    def box(self) -> np.ndarray:
        """(7,) predicted box: state centre and yaw, the track's running size."""
        return np.concatenate([self.mean[:3], self.size, [self.mean[3]]])

    def to_tracklet(self) -> Tracklet:
        return Tracklet(
            np.array(self.rows, dtype=np.int64), np.stack(self.filtered_means), np.stack(self.filtered_covariances), np.stack(self.running_sizes)
        )


class OnlineTracker:
    """Forward-pass tracker over one log's detections; call its steps once per frame, in order."""

    def __init__(self, detections: Detections, config: TrackingConfig) -> None:
        self.detections = detections
        self.config = config
        self._measurements = detections.measurements
        self._times_s = detections.times_s
        self._live: list[_LiveTrack] = []
        self._finished: list[_LiveTrack] = []
        self._centres = np.zeros((0, 0, 2))  # (K, M, 2) re-centred detections of the last association
        self._yaws = np.zeros((0, 0))  # (K, M) their yaws, described along each track's heading
        # Labels as indices into the config's classes, and the association cost of each pair
        # (track label, detection label): 0 equal, the mismatch cost if compatible, inf if not.
        self._labels = tuple(config.classes)
        index = {label: position for position, label in enumerate(self._labels)}
        self._detection_label = np.array([index[label] for label in detections.labels], dtype=np.int64)
        self._label_costs = np.array(
            [[0.0 if track == other else config.class_mismatch_cost if config.compatible(track, other) else np.inf for other in self._labels] for track in self._labels]
        )
        self._label_index = index

    # -- the life cycle, one frame at a time

    def predict(self, frame_index: int) -> None:
        """Propagate every live track to the time of frame `frame_index`."""
        if not self._live:
            return
        time_s = float(self._times_s[frame_index])
        tables = [self.config.for_label(live.label) for live in self._live]
        means = np.stack([live.mean for live in self._live])
        covariances = np.stack([live.covariance for live in self._live])
        kernels._predict_many(
            means,
            covariances,
            np.array([time_s - live.time_s for live in self._live]),
            np.array([table.acceleration_noise for table in tables]),
            np.array([table.yaw_acceleration_noise for table in tables]),
            np.array([table.vertical_noise for table in tables]),
        )
        for live, mean, covariance in zip(self._live, means, covariances):
            live.mean, live.covariance, live.time_s = mean, covariance, time_s

    def associate(self, rows: np.ndarray) -> Assignment:
        """Optimal assignment of the live tracks to the detections `rows` of this frame.

        Each detection is compared through its centre re-centred at the track's size
        (partial views, see shape.py); the pairs' re-centred centres are kept for `update`.
        """
        tables = [self.config.for_label(live.label) for live in self._live]
        covariances = np.array([live.covariance[:2, :2] for live in self._live]).reshape(-1, 2, 2)
        spread = np.sqrt(0.5 * np.trace(covariances, axis1=1, axis2=2))
        unseen_s = np.array([live.time_s - live.last_observed_s for live in self._live])
        widening = np.minimum(3.0 * spread, np.array([table.gate_growth for table in tables]) * unseen_s)
        gates = Gates(
            distance=np.hypot([table.distance_gate for table in tables], widening),
            mahalanobis=np.array([table.mahalanobis_gate for table in tables]),
            giou=np.array([table.giou_gate for table in tables]),
            distance_weight=np.array([table.distance_weight for table in tables]),
        )
        track_boxes = np.array([live.box() for live in self._live]).reshape(-1, 7)
        self._centres, self._yaws = self._recentred(track_boxes, rows)
        track_labels = np.array([self._label_index[live.label] for live in self._live], dtype=np.int64)
        label_costs = self._label_costs[track_labels[:, None], self._detection_label[rows][None, :]]
        costs = association_costs(
            track_boxes, covariances, gates, self.detections.boxes[rows], self._centres, self.detections.noise_std[rows, 0], label_costs
        )
        return assign(costs)

    def update(self, assignment: Assignment, rows: np.ndarray) -> None:
        """Kalman update of each matched track with its detection (box, and radar velocity)."""
        if not len(assignment.pairs):
            return
        tracks, columns = assignment.pairs[:, 0], assignment.pairs[:, 1]
        matched_rows = rows[columns]
        measurements = self._measurements[matched_rows]
        measurements[:, :2] = self._centres[tracks, columns]
        measurements[:, 3] = self._yaws[tracks, columns]
        means = np.stack([self._live[track].mean for track in tracks])
        covariances = np.stack([self._live[track].covariance for track in tracks])
        tables = [self.config.for_label(self._live[track].label) for track in tracks]
        yaw_gates = np.array([table.yaw_gate for table in tables])
        velocity_gates = np.array([table.velocity_gate for table in tables])
        kernels._update_many(means, covariances, measurements, self.detections.noise_std[matched_rows], yaw_gates, velocity_gates)
        for track, row, mean, covariance in zip(tracks, matched_rows, means, covariances):
            live = self._live[track]
            live.mean, live.covariance = mean, covariance
            self._record(live, int(row))

    def birth(self, assignment: Assignment, rows: np.ndarray, frame_index: int) -> None:
        """Start a track from each unmatched detection at least `birth_score` confident."""
        for detection_index in assignment.unmatched_detections:
            row = int(rows[detection_index])
            table = self.config.for_label(self.detections.labels[row])
            if self.detections.scores[row] < table.birth_score:
                continue
            mean, covariance = motion.initial_state(self._measurements[row], self.detections.noise_std[row], table.initial_speed, table.birth_yaw_noise)
            time_s = float(self._times_s[frame_index])
            live = _LiveTrack(mean=mean, covariance=covariance, time_s=time_s, last_observed_s=time_s, size=self.detections.boxes[row, 3:6].copy())
            self._record(live, row)
            self._live.append(live)

    def retire(self, frame_index: int) -> None:
        """Move tracks unmatched for longer than their class's `coast_seconds` out of the live set."""
        time_s = float(self._times_s[frame_index])
        keep = []
        for live in self._live:
            coasting = time_s - live.last_observed_s
            (keep if coasting <= self.config.for_label(live.label).coast_seconds else self._finished).append(live)
        self._live = keep

    def tracklets(self) -> list[Tracklet]:
        """Every track of the pass (finished or still live), ordered by first detection."""
        everything = self._finished + self._live
        everything.sort(key=lambda live: live.rows[0])
        return [live.to_tracklet() for live in everything]

    # -- helpers

    def _recentred(self, track_boxes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each detection of `rows` as seen by each track: its box described along the
        track's heading (shape.reexpressed), then its centre re-centred at the track's size.
        Returns centres (K, M, 2) and yaws (K, M)."""
        count_tracks, count_detections = len(track_boxes), len(rows)
        boxes = np.repeat(self.detections.boxes[rows][None], count_tracks, axis=0).reshape(-1, 7)
        seen = np.repeat(self.detections.seen_sizes[rows][None], count_tracks, axis=0).reshape(-1, 3)
        boxes, _ = reexpressed(boxes, seen, np.repeat(track_boxes[:, 6], count_detections))
        sizes = np.repeat(track_boxes[:, 3:6], count_detections, axis=0)
        egos = np.repeat(self.detections.ego_positions[self.detections.frame[rows]][None], count_tracks, axis=0).reshape(-1, 3)
        centres = anchored_centres(boxes, sizes, egos).reshape(count_tracks, count_detections, 2)
        return centres, boxes[:, 6].reshape(count_tracks, count_detections)

    def _record(self, live: _LiveTrack, row: int) -> None:
        live.rows.append(row)
        live.filtered_means.append(live.mean.copy())
        live.filtered_covariances.append(live.covariance.copy())
        live.label_votes[self.detections.labels[row]] += self.detections.scores[row]
        live.label = max(live.label_votes, key=live.label_votes.__getitem__)
        live.last_observed_s = live.time_s
        ego = self.detections.ego_positions[self.detections.frame[row]]
        box, seen = reexpressed(self.detections.boxes[row][None], self.detections.seen_sizes[row][None], live.mean[3:4])
        live.seen_sizes.append(seen[0])
        live.sides.append(bool(side_visible(box, ego[None])[0]))
        full_view = self.detections.num_points[row] >= self.config.for_label(live.label).full_view_points
        if len(live.rows) > _EVERY_OBSERVATION and len(live.rows) % _SIZE_REFRESH and not full_view:
            live.running_sizes.append(live.size.copy())
            return
        recent = slice(-_RECENT_SIZES, None)
        size = consolidated_size(
            np.array(live.seen_sizes[recent]), self.detections.num_points[np.array(live.rows[recent])], np.array(live.sides[recent]),
            self.config.for_label(live.label),
        )
        # A new size moves the centre too: keep the faces the ego sees where they are.
        live.mean[:2] = anchored_centres(live.box()[None], size, ego[None])[0]
        live.size = size
        live.running_sizes.append(size.copy())
        live.filtered_means[-1] = live.mean.copy()
