"""Inputs for tracking scripts and benchmarks: per-sweep proposals, truth and ego poses of a log.

Two sources:

- "scene": `tracking_scenes.street_scene` truth with `simulate_detections` proposals (no
  LiDAR; fast; the detection simulator stands in for the proposal stage);
- "sim": a log from `avlabel.sim.simulate` with the real proposal stage
  (`avlabel.perception.propose.propose_log_frame`) run on every sweep; its truth is
  evaluated as nuScenes does (`visible_span_truth`). Proposals are cached next to the log.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from tracking_scenes import simulate_detections, street_scene

from avlabel.structs import LabelFrame, Labels, PoseSeries


def visible_span_truth(truth: Labels) -> Labels:
    """The truth as nuScenes evaluates tracking: boxes with at least one LiDAR point, plus
    the boxes of each track between its first and last frame with points (an object hidden
    for a while is still there; nuScenes interpolates its truth through such gaps). Boxes
    of an object before it is first seen, or after it is last seen, are dropped."""
    span: dict[str, list[int]] = {}
    for index, frame in enumerate(truth.frames):
        for cuboid in frame:
            if cuboid.num_points > 0:
                span.setdefault(cuboid.track_id, [index, index])[1] = index
    frames = tuple(
        LabelFrame(
            frame.timestamp_us,
            tuple(cuboid for cuboid in frame if cuboid.track_id in span and span[cuboid.track_id][0] <= index <= span[cuboid.track_id][1]),
            dict(frame.attributes),
        )
        for index, frame in enumerate(truth.frames)
    )
    return Labels(frames, dict(truth.metadata))


def sparse_truth_ignored(truth: Labels, min_points: int = 20) -> Labels:
    """The truth with every box of fewer than `min_points` LiDAR points made a don't-care
    region (attribute ignore = true, see avlabel.eval): a tracker is neither rewarded nor
    punished for boxes no proposal stage can fit. Scores what the proposals can see."""
    frames = tuple(
        LabelFrame(
            frame.timestamp_us,
            tuple(
                cuboid if cuboid.num_points >= min_points else dataclasses.replace(cuboid, attributes={**cuboid.attributes, "ignore": True})
                for cuboid in frame
            ),
            dict(frame.attributes),
        )
        for frame in truth.frames
    )
    return Labels(frames, dict(truth.metadata))


@dataclass(frozen=True)
class LogInputs:
    name: str
    proposals: Labels
    truth: Labels  # as evaluated: nuScenes-style visible spans for simulated logs
    poses: PoseSeries
    proposal_seconds_per_sweep: float | None = None  # when the real proposal stage ran
    all_truth: Labels | None = None  # every truth box, seen or not (simulated logs)

    def well_observed_truth(self, min_points: int = 20) -> Labels:
        """Every truth box, those with fewer than `min_points` points as don't-care regions."""
        return sparse_truth_ignored(self.all_truth if self.all_truth is not None else self.truth, min_points)


def scene_inputs(seed: int, seconds: float = 20.0) -> LogInputs:
    scene = street_scene(seed, seconds=seconds)
    return LogInputs(f"scene-{seed}", simulate_detections(scene, seed + 100), scene.truth, scene.poses)


def sim_available() -> bool:
    try:
        from avlabel.sim import simulate  # noqa: F401
        from avlabel.perception.propose import propose_log_frame  # noqa: F401
    except ImportError:
        return False
    return True


def sim_inputs(seed: int, seconds: float, cache: Path, profile: str = "default") -> LogInputs:
    """Simulate (or reuse from `cache`) a log, then propose every sweep."""
    from avlabel.config import load_config
    from avlabel.io.labels_file import read_labels, write_labels
    from avlabel.io.logstore import DriveLog
    from avlabel.perception.propose import propose_log_frame
    from avlabel.sim import simulate

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"sim-{profile}-{seed}-{seconds:g}s.h5"
    if not path.exists():
        simulate(path, seconds=seconds, seed=seed, profile=profile)
    proposals_path = path.with_suffix(".proposals.json")
    config = load_config().perception
    with DriveLog(path) as log:
        truth, poses = log.truth(), log.poses()
        if proposals_path.exists():
            return LogInputs(path.stem, read_labels(proposals_path), visible_span_truth(truth), poses, None, truth)
        calibration = log.calibrations[log.lidar]
        stamps = calibration.to_log_time(log.timestamps(log.lidar))
        started = time.perf_counter()
        frames = tuple(LabelFrame(int(stamp), propose_log_frame(log, index, config)) for index, stamp in enumerate(stamps))
        per_sweep = (time.perf_counter() - started) / max(1, len(stamps))
    proposals = Labels(frames, {"source": str(path)})
    write_labels(proposals_path, proposals)
    return LogInputs(path.stem, proposals, visible_span_truth(truth), poses, per_sweep, truth)
