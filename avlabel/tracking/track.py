"""The tracking stage: per-sweep proposals in, tracked labels out, over a whole log.

Annotation is offline, so the tracker looks at the log in both directions. `track()` reads
as its life cycle: a forward pass (predict, associate, update, birth, retire) collects
tracklets; then, offline, detections a tracklet's own trajectory cannot explain are
dropped, tracklets of one object are joined across gaps, every track is smoothed
backwards (Rauch-Tung-Striebel) and consolidated (one size, heading from motion, parked
objects fixed, gaps filled, implausible tracks dropped, track score), and two tracks on
one object are merged into the stronger.

Output cuboids are world-frame, in the labels schema, with `track_id` set and attributes

    state         "observed"      the box is the detection itself (single-detection tracks,
                                  and every box when sequential=False)
                  "smoothed"      a detection refined with the track's evidence before and after
                  "interpolated"  no detection at this sweep; filled from the track's motion
                                  (or a parked track's pose, also just before and after it)
    uncertainty   float, metres: how far the box may be off (see consolidation.py); the
                  review queue sorts by it
    track_score   float in [0, 1]: the evidence for the whole track (also the cuboid's score)
    needs_review  True for kept tracks scoring under their class's review_score (else absent)
    parked        True for a parked object's track (one pose; its heading's sense is a guess:
                  no box fit tells a parked car's front from its back) (else absent)
"""

from __future__ import annotations

import logging

import numpy as np

from avlabel.structs import Cuboid, LabelFrame, Labels, PoseSeries
from avlabel.tracking import measurements, smoothing, stitching
from avlabel.tracking.consolidation import ConsolidatedTrack, consolidate, is_stationary, vote_label, without_merged_views
from avlabel.tracking.duplicates import suppress_duplicates, trim_carried_boxes
from avlabel.tracking.measurements import Detections
from avlabel.tracking.online import OnlineTracker
from avlabel.tracking.settings import TrackingConfig
from avlabel.tracking.smoothing import smooth

logger = logging.getLogger(__name__)

# Stitching repeats until nothing more joins, at most this often.
_STITCH_ROUNDS = 3


def track(proposals: Labels, config: TrackingConfig, *, poses: PoseSeries | None = None, sequential: bool = True) -> Labels:
    """Track `proposals` (world-frame cuboids per sweep) over the whole log.

    poses: the log's ego poses (world_from_ego), used for range-dependent measurement noise
    and to re-centre partial views; without them a fixed range is assumed.
    sequential=False: frames are unrelated snapshots (KITTI object); every detection is
    returned as its own one-frame track, nothing is associated across frames.
    Returns Labels with one frame per proposal frame (same timestamps), cuboids carrying
    track ids and the attributes listed in this module's docstring.
    """
    if not isinstance(proposals, Labels):
        raise ValueError(f"proposals: expected avlabel.structs.Labels, got {type(proposals).__name__}")
    if not isinstance(config, TrackingConfig):
        raise ValueError(f"config: expected TrackingConfig (config.tracking of a loaded Config), got {type(config).__name__}")
    detections = measurements.collect(proposals, config, poses)
    if not sequential:
        return _snapshots(proposals, detections)

    # Forward pass, sweep by sweep: the online life cycle.
    tracker = OnlineTracker(detections, config)
    for frame_index in range(detections.num_frames):
        rows = detections.in_frame(frame_index)
        tracker.predict(frame_index)  # every live track to this sweep's time
        assignment = tracker.associate(rows)  # BEV GIoU + centre distance, per-class gates, optimal assignment
        tracker.update(assignment, rows)  # Kalman update with the box (and radar velocity)
        tracker.birth(assignment, rows, frame_index)  # confident leftovers start tracks
        tracker.retire(frame_index)  # tracks unseen for longer than their coast time leave the pass
    tracklets = tracker.tracklets()

    # Offline, the whole log at once: drop what a track's own trajectory cannot explain, join
    # pieces of one object, then smooth and consolidate.
    cleaned = [_cleaned(tracklet.rows, detections, config) for tracklet in tracklets]
    joined = _stitch(cleaned, detections, config)
    tracks = [consolidate(rows, detections, config) for rows in joined]
    kept = [result for result in tracks if result is not None]
    unique = suppress_duplicates(kept, config.duplicate_iou, config.duplicate_share)  # two tracks on one object: one id
    unique = trim_carried_boxes(unique, config.duplicate_iou)  # a parked car's carried boxes give way to another's detections
    logger.info(
        "tracking: %d detections in %d sweeps -> %d tracklets -> %d tracks (%d too weak or implausible, %d duplicates merged, %d flagged for review)",
        len(detections), detections.num_frames, len(tracklets), len(unique), len(tracks) - len(kept), len(kept) - len(unique),
        sum(result.needs_review for result in unique),
    )
    kept = unique
    return _to_labels(proposals, detections, kept)


def track_online(proposals: Labels, config: TrackingConfig, *, poses: PoseSeries | None = None, minimum_hits: int = 3) -> Labels:
    """The forward pass alone, output as an online tracker would (AB3DMOT-like): a track's
    filtered state at each sweep it is matched, once it has `minimum_hits` detections, with
    the track's running size (as AB3DMOT keeps the size in its state). A baseline for
    ablations, not a stage of the pipeline."""
    detections = measurements.collect(proposals, config, poses)
    tracker = OnlineTracker(detections, config)
    for frame_index in range(detections.num_frames):
        rows = detections.in_frame(frame_index)
        tracker.predict(frame_index)
        assignment = tracker.associate(rows)
        tracker.update(assignment, rows)
        tracker.birth(assignment, rows, frame_index)
        tracker.retire(frame_index)
    frames: list[list[Cuboid]] = [[] for _ in range(detections.num_frames)]
    for number, tracklet in enumerate(tracker.tracklets(), start=1):
        label = vote_label(tracklet.rows, detections)
        start = minimum_hits - 1
        for row, mean, size in zip(tracklet.rows[start:], tracklet.filtered_means[start:], tracklet.running_sizes[start:]):
            frame_index = int(detections.frame[row])
            box = np.concatenate([mean[:3], size, [mean[3]]])
            frames[frame_index].append(
                Cuboid.from_box(
                    box, id=f"{number}@{frame_index}", track_id=str(number), label=label, score=float(detections.scores[row]),
                    num_points=int(detections.num_points[row]), velocity=mean[4:6], attributes={"state": "smoothed"},
                )
            )
    return Labels(tuple(LabelFrame(int(stamp), tuple(cuboids)) for stamp, cuboids in zip(detections.timestamps_us, frames)), dict(proposals.metadata))


# --------------------------------------------------------------------------- steps


def _cleaned(rows: np.ndarray, detections: Detections, config: TrackingConfig) -> np.ndarray:
    """A tracklet's rows without views merged with a neighbour and without the detections its
    own smoothed trajectory cannot explain."""
    table = config.for_label(vote_label(rows, detections))
    return smoothing.reject_outliers(without_merged_views(rows, detections, table), detections, table, config.outlier_gate)


def _stitch(pieces: list[np.ndarray], detections: Detections, config: TrackingConfig) -> list[np.ndarray]:
    """Detection rows (time order) of each track after joining pieces (rows of tracklets) across gaps."""
    known: dict[bytes, tuple[str, object, bool, np.ndarray]] = {}  # pieces unchanged since the last round
    for _ in range(_STITCH_ROUNDS):
        labels, smoothed, parked, sizes = [], [], [], []
        for rows in pieces:
            key = rows.tobytes()
            if key not in known:
                label = vote_label(rows, detections)
                table = config.for_label(label)
                size, track_measurements = smoothing.track_measurements(rows, detections, table)
                piece = smooth(rows, detections.frame[rows], detections.times_s, track_measurements, detections.noise_std[rows], table)
                known[key] = (label, piece, is_stationary(piece, table), size)
            label, piece, still, size = known[key]
            labels.append(label)
            smoothed.append(piece)
            parked.append(still)
            sizes.append(size)
        pairs = stitching.stitch_pairs(stitching.stitching_costs(smoothed, labels, parked, sizes, detections, config))
        if not pairs:
            break
        pieces = [stitching.joined_rows(chain, pieces, detections.frame) for chain in stitching.chains(pairs, len(pieces))]
        logger.debug("tracking: stitched %d gaps", len(pairs))
    return pieces


def _snapshots(proposals: Labels, detections: Detections) -> Labels:
    """Every detection its own track: no association across frames."""
    frames = []
    row = 0
    for frame in proposals.frames:
        cuboids = []
        for cuboid in frame.cuboids:
            track_id = str(row + 1)
            uncertainty = float(np.hypot(detections.noise_std[row, 0], detections.noise_std[row, 1]))
            cuboids.append(
                Cuboid(
                    id=cuboid.id, track_id=track_id, label=cuboid.label, center=cuboid.center, size=cuboid.size, yaw=cuboid.yaw,
                    score=cuboid.score, num_points=cuboid.num_points, source=cuboid.source, velocity=cuboid.velocity,
                    attributes={**cuboid.attributes, "state": "observed", "uncertainty": uncertainty, "track_score": cuboid.score},
                )
            )
            row += 1
        frames.append(LabelFrame(frame.timestamp_us, tuple(cuboids), dict(frame.attributes)))
    return Labels(tuple(frames), dict(proposals.metadata))


def _to_labels(proposals: Labels, detections: Detections, tracks: list[ConsolidatedTrack]) -> Labels:
    """Assemble the output frames; track ids "1", "2", ... in order of first appearance."""
    tracks = sorted(tracks, key=lambda result: (int(result.frames[0]), int(result.rows[0])))
    per_frame: list[list[Cuboid]] = [[] for _ in range(detections.num_frames)]
    for number, result in enumerate(tracks, start=1):
        track_id = str(number)
        for frame_index, row, box, velocity, state, uncertainty in zip(
            result.frames, result.rows, result.boxes, result.velocities, result.states, result.uncertainties
        ):
            per_frame[frame_index].append(
                Cuboid.from_box(
                    box,
                    id=f"{track_id}@{frame_index}",
                    track_id=track_id,
                    label=result.label,
                    score=result.score,
                    num_points=int(detections.num_points[row]) if row >= 0 else 0,
                    velocity=velocity,
                    attributes=_attributes(state, float(uncertainty), result),
                )
            )
    frames = tuple(
        LabelFrame(frame.timestamp_us, tuple(cuboids), dict(frame.attributes)) for frame, cuboids in zip(proposals.frames, per_frame)
    )
    return Labels(frames, {**proposals.metadata, "tracking": {"tracks": len(tracks)}})


def _attributes(state: str, uncertainty: float, result: ConsolidatedTrack) -> dict[str, object]:
    attributes: dict[str, object] = {"state": state, "uncertainty": uncertainty, "track_score": result.score}
    if result.needs_review:
        attributes["needs_review"] = True
    if result.stationary:
        attributes["parked"] = True
    return attributes
