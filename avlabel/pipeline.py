"""Stage orchestration: run the labelling chain on each drive log of a batch.

Per log, `run_log` opens the log, runs the stages in order, and writes
`OUT/<log-name>/labels.json` and `OUT/<log-name>/manifest.json` atomically. A log that
fails is recorded with one clear line and the batch goes on; `run_logs` returns a summary
(also written to `OUT/summary.json`). Logs run in a local process pool or on Ray.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import avlabel
from avlabel.config import Config
from avlabel.io.atomic import write_text
from avlabel.io.errors import InputError
from avlabel.io.labels_file import write_labels
from avlabel.io.logstore import DriveLog
from avlabel.structs import LabelFrame, Labels

logger = logging.getLogger(__name__)

MANIFEST_SCHEMA = "avlabel.manifest/1"


@dataclass(frozen=True, slots=True)
class LogResult:
    """What became of one log of a batch."""

    log: str
    name: str
    ok: bool
    error: str | None = None
    labels_path: str | None = None
    manifest_path: str | None = None
    frames: int = 0
    cuboids: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class RunSummary:
    results: tuple[LogResult, ...]
    seconds: float

    @property
    def failed(self) -> tuple[LogResult, ...]:
        return tuple(result for result in self.results if not result.ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            "logs": len(self.results),
            "failed": len(self.failed),
            "seconds": self.seconds,
            "results": [asdict(result) for result in self.results],
        }


@dataclass(slots=True)
class _LogRun:
    """Mutable state threaded through the stages of one log."""

    log: DriveLog
    config: Config
    lidar: str
    labels: Labels = field(default_factory=Labels)
    stages: list[dict[str, Any]] = field(default_factory=list)
    progress: bool = False
    sync: Any = None  # avlabel.sync.frames.LogSync, once the sync stage ran


# --------------------------------------------------------------------------- stages
# Each stage takes the run state and returns a dict of figures for the manifest.


def _stage_sync(run: _LogRun) -> dict[str, Any]:
    """Tie cameras, radar, GNSS and IMU to every sweep; ego poses for de-skewing."""
    from avlabel.sync.frames import LogSync

    run.sync = LogSync(run.log, run.config.sync, lidar=run.lidar)
    return {"report": run.sync.report()}


def _stage_propose(run: _LogRun) -> dict[str, Any]:
    """Per sweep: de-skewed points -> ground, clusters, boxes, class, score, radar velocity."""
    from tqdm import tqdm

    from avlabel.perception.propose import propose

    sync = run.sync
    sensor_origin = run.log.calibrations[run.lidar].ego_from_sensor[:3, 3]
    frames = []
    skipped = 0
    for index in tqdm(range(len(sync)), desc=f"{run.log.name}: proposals", unit="sweep", leave=False, disable=not run.progress or None):
        frame = sync.frame(index)
        if frame is None:  # outside the ego poses: kept as an empty, flagged frame
            skipped += 1
            frames.append(LabelFrame(int(sync.sweep_us[index]), (), {"skipped": "outside the ego poses"}))
            continue
        cuboids = propose(
            frame.points, frame.world_from_ego, frame.timestamp_us, run.config.perception,
            radar=_radar_for_proposals(frame) or None, ego_velocity=frame.ego_velocity, sensor_origin=sensor_origin,
        )
        frames.append(LabelFrame(frame.timestamp_us, cuboids))
    run.labels = Labels(tuple(frames))
    return {"sweeps": len(frames), "skipped": skipped, "proposals": run.labels.num_cuboids()}


def _radar_for_proposals(frame: Any) -> list[tuple[Any, Any]]:
    """Radar scans of a synced frame as the proposal step takes them: (detections (D, 5),
    line of sight (D, 3)), ego frame at the sweep time."""
    import numpy as np

    return [(match.detections_ego.astype(np.float64), match.line_of_sight) for matches in frame.radar.values() for match in matches]


def _stage_track(run: _LogRun) -> dict[str, Any]:
    """Offline tracking over the whole log: association, smoothing, one size per object."""
    from avlabel.tracking.track import track

    proposals = run.labels.num_cuboids()
    run.labels = track(run.labels, run.config.tracking, poses=run.log.poses(), sequential=run.log.sequential)
    return {"proposals": proposals, "cuboids": run.labels.num_cuboids(), "tracks": len(run.labels.tracks())}


STAGES: tuple[tuple[str, Callable[[_LogRun], dict[str, Any]]], ...] = (
    ("sync", _stage_sync),
    ("propose", _stage_propose),
    ("track", _stage_track),
)


# --------------------------------------------------------------------------- one log


def log_name(path: str | os.PathLike[str]) -> str:
    """Output folder name of a log: its file name without extension."""
    return Path(path).stem


def run_log(path: str | os.PathLike[str], out_dir: str | os.PathLike[str], config: Config, *, progress: bool = False) -> LogResult:
    """Run every stage on one log. Never raises for a bad log: the result says what failed."""
    started = time.perf_counter()
    name = log_name(path)
    target = Path(out_dir) / name
    try:
        with DriveLog(path) as log:
            lidar = config.pipeline.lidar or log.lidar
            if lidar not in log.sensors("lidar"):
                raise InputError(f"{path}: config pipeline.lidar: no LiDAR named {lidar!r} (the log has {', '.join(log.sensors('lidar'))})")
            run = _LogRun(log=log, config=config, lidar=lidar, progress=progress)
            for stage_name, stage in STAGES:
                stage_started = time.perf_counter()
                figures = stage(run)
                run.stages.append({"name": stage_name, "seconds": time.perf_counter() - stage_started, **figures})
                logger.info("%s: %s done in %.2f s", name, stage_name, run.stages[-1]["seconds"])
            labels = Labels(run.labels.frames, {**run.labels.metadata, "log": name, "producer": f"avlabel {avlabel.__version__}"})
            labels_path = target / "labels.json"
            write_labels(labels_path, labels)
            manifest_path = target / "manifest.json"
            write_text(manifest_path, _manifest_json(path, name, config, run.stages, labels, time.perf_counter() - started))
    except InputError as error:
        return LogResult(str(path), name, ok=False, error=str(error), seconds=time.perf_counter() - started)
    except Exception as error:  # a bug, not bad input: keep the batch going, keep the trace in the log
        logger.error("%s failed:\n%s", path, traceback.format_exc())
        return LogResult(str(path), name, ok=False, error=f"{path}: internal error: {type(error).__name__}: {error}", seconds=time.perf_counter() - started)
    return LogResult(
        str(path), name, ok=True, labels_path=str(labels_path), manifest_path=str(manifest_path),
        frames=len(labels), cuboids=labels.num_cuboids(), seconds=time.perf_counter() - started,
    )


def _manifest_json(path: Any, name: str, config: Config, stages: list[dict[str, Any]], labels: Labels, seconds: float) -> str:
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "log": str(Path(path).resolve()),
        "log_name": name,
        "avlabel_version": avlabel.__version__,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "seconds": seconds,
        "labels": "labels.json",
        "frames": len(labels),
        "cuboids": labels.num_cuboids(),
        "tracks": len(labels.tracks()),
        "stages": stages,
        "config": config.model_dump(mode="json"),
    }
    return json.dumps(manifest, indent=2)


# --------------------------------------------------------------------------- a batch


def run_logs(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    config: Config,
    *,
    workers: int | None = None,
    engine: str | None = None,
    progress: bool = False,
    on_result: Callable[[LogResult], None] | None = None,
) -> RunSummary:
    """Run every log; failures are collected, not raised. Writes OUT/summary.json."""
    started = time.perf_counter()
    workers = workers or config.pipeline.workers
    engine = engine or config.pipeline.engine
    if workers < 1:
        raise InputError(f"--workers: expected at least 1, got {workers}")
    names = [log_name(path) for path in paths]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"two logs would write to the same folder {duplicates[0]!r}: give the logs distinct file names")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    report = on_result or (lambda result: None)
    if engine == "ray":
        results = _run_ray(paths, out_dir, config, report)
    elif engine == "local":
        results = _run_local(paths, out_dir, config, workers, progress, report)
    else:
        raise InputError(f"--engine: expected local or ray, got {engine!r}")
    order = {str(path): index for index, path in enumerate(paths)}
    summary = RunSummary(tuple(sorted(results, key=lambda result: order[result.log])), time.perf_counter() - started)
    write_text(Path(out_dir) / "summary.json", json.dumps(summary.to_dict(), indent=2))
    return summary


def _run_local(paths: Sequence[Any], out_dir: Any, config: Config, workers: int, progress: bool, report: Callable[[LogResult], None]) -> list[LogResult]:
    if workers == 1 or len(paths) == 1:
        results = []
        for path in paths:
            results.append(run_log(path, out_dir, config, progress=progress))
            report(results[-1])
        return results
    results = []
    with ProcessPoolExecutor(max_workers=min(workers, len(paths))) as pool:
        futures = [pool.submit(run_log, path, out_dir, config) for path in paths]
        for future in as_completed(futures):
            results.append(future.result())
            report(results[-1])
    return results


def _run_ray(paths: Sequence[Any], out_dir: Any, config: Config, report: Callable[[LogResult], None]) -> list[LogResult]:
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray: Ray is not installed (pip install 'avlabel[ray]')") from None
    if not ray.is_initialized():
        # RAY_ADDRESS (if set) joins an existing cluster; otherwise a local one starts.
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    remote_run = ray.remote(run_log)
    pending = {remote_run.remote(str(Path(path).resolve()), str(Path(out_dir).resolve()), config): path for path in paths}
    results = []
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        result = ray.get(done[0])
        # Ray reports the resolved path; keep the caller's spelling for ordering and output.
        results.append(LogResult(**{**asdict(result), "log": str(pending.pop(done[0]))}))
        report(results[-1])
    return results
