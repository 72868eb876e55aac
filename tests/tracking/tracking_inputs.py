"""Inputs for tracking scripts and benchmarks: per-sweep proposals, truth and ego poses of a log.

Two sources:

- "scene": `tracking_scenes.street_scene` truth with `simulate_detections` proposals (no
  LiDAR; fast; the detection simulator stands in for the proposal stage);
- "sim": a log from `avlabel.sim.simulate` with the real proposal stage
  (`avlabel.perception.propose.propose_log_frame`) run on every sweep.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tracking_scenes import simulate_detections, street_scene

from avlabel.structs import LabelFrame, Labels, PoseSeries


@dataclass(frozen=True)
class LogInputs:
    name: str
    proposals: Labels
    truth: Labels
    poses: PoseSeries
    proposal_seconds_per_sweep: float | None = None  # when the real proposal stage ran


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
    from avlabel.io.logstore import DriveLog
    from avlabel.perception.propose import propose_log_frame
    from avlabel.sim import simulate

    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"sim-{profile}-{seed}-{seconds:g}s.h5"
    if not path.exists():
        simulate(path, seconds=seconds, seed=seed, profile=profile)
    config = load_config().perception
    with DriveLog(path) as log:
        calibration = log.calibrations[log.lidar]
        stamps = calibration.to_log_time(log.timestamps(log.lidar))
        started = time.perf_counter()
        frames = tuple(LabelFrame(int(stamp), propose_log_frame(log, index, config)) for index, stamp in enumerate(stamps))
        per_sweep = (time.perf_counter() - started) / max(1, len(stamps))
        truth, poses = log.truth(), log.poses()
    return LogInputs(path.stem, Labels(frames, {"source": str(path)}), truth, poses, per_sweep)
