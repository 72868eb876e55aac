"""Benchmark: time per sweep of the tracking stage, beside the proposal stage it follows.

    .venv/bin/python benchmarks/bench_tracking.py [--seeds 0 1 2] [--seconds 20]

    .venv/bin/python benchmarks/bench_tracking.py --source sim --cache DIR [--seeds 21 22]

Tracking runs on whole logs (it is offline), so its time per sweep is the time of one
`track()` call over a log divided by the log's sweeps; the forward pass alone
(`track_online`) is timed too. Inputs: street scenes of tests/tracking with their
detection simulator (about 25 proposals per sweep), or simulated logs with their real
proposals (`--source sim`; logs and proposals are simulated into, or read from, --cache).
The peer, the proposal step, is timed in the same run: on the sweeps of the first
simulated log (`propose_log_frame`: reading, ground, clustering, box fit, classification,
radar) with `--source sim`, else on a ray-cast street sweep of about 120k points
(`propose_ego`, tests/perception/scenes.py); the ratio is printed. Single-threaded
(NUMBA_NUM_THREADS=1); best of --repeats; timings are printed, never asserted.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "tracking"))
sys.path.insert(0, str(ROOT / "tests" / "perception"))

from tracking_inputs import scene_inputs, sim_inputs  # noqa: E402

from avlabel.config import load_config  # noqa: E402
from avlabel.tracking.track import track, track_online  # noqa: E402


def best_of(repeats: int, function, *arguments, **keywords) -> float:
    """Smallest wall time of `repeats` calls, seconds (the least disturbed by other work)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function(*arguments, **keywords)
        times.append(time.perf_counter() - started)
    return min(times)


def proposal_seconds_per_sweep(repeats: int, log_path: Path | None, sweeps: int = 20) -> tuple[float, str] | None:
    """Seconds per sweep of the proposal step, and what it ran on."""
    try:
        from avlabel.perception.propose import propose_ego, propose_log_frame
    except ImportError as error:
        print(f"proposal step not available ({error}); no ratio")
        return None
    config = load_config().perception
    if log_path is not None:
        from avlabel.io.logstore import DriveLog

        with DriveLog(log_path) as log:
            count = min(sweeps, log.num_frames(log.lidar))
            propose_log_frame(log, 0, config)  # compile
            seconds = best_of(repeats, lambda: [propose_log_frame(log, index, config) for index in range(count)]) / count
        return seconds, f"{count} sweeps of {log_path.name}"
    from scenes import street_scene

    scene = street_scene(0)
    propose_ego(scene.points, config)  # compile
    return best_of(repeats, propose_ego, scene.points, config), f"ray-cast street sweep, {len(scene.points)} points"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("scene", "sim"), default="scene")
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--cache", help="folder of simulated logs and their proposals (--source sim)")
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    config = load_config().tracking
    simulated = arguments.source == "sim"
    seeds = arguments.seeds or ([21, 22, 23] if simulated else [0, 1, 2])
    seconds = arguments.seconds or (10.0 if simulated else 20.0)
    cache = Path(arguments.cache or tempfile.mkdtemp(prefix="avlabel-bench-"))

    def inputs_of(seed: int):
        return sim_inputs(seed, seconds, cache) if simulated else scene_inputs(seed, seconds)

    warm = inputs_of(seeds[0])
    track(warm.proposals, config, poses=warm.poses)  # numba compile (or load from cache)

    offline, online = [], []
    for seed in seeds:
        inputs = inputs_of(seed)
        sweeps = len(inputs.proposals)
        per_sweep = inputs.proposals.num_cuboids() / sweeps
        offline.append(best_of(arguments.repeats, track, inputs.proposals, config, poses=inputs.poses) / sweeps)
        online.append(best_of(arguments.repeats, track_online, inputs.proposals, config, poses=inputs.poses) / sweeps)
        print(f"{inputs.name}: {sweeps} sweeps, {per_sweep:.1f} proposals per sweep: "
              f"offline tracking {1e3 * offline[-1]:.2f} ms/sweep, forward pass alone {1e3 * online[-1]:.2f} ms/sweep")
    tracking = statistics.median(offline)
    print(f"\ntracking (offline, whole stage): {1e3 * tracking:.2f} ms per sweep (median over logs)")
    print(f"forward pass alone:              {1e3 * statistics.median(online):.2f} ms per sweep")
    log_path = cache / f"sim-default-{seeds[0]}-{seconds:g}s.h5" if simulated else None
    proposals = proposal_seconds_per_sweep(arguments.repeats, log_path)
    if proposals is not None:
        seconds_per_sweep, description = proposals
        print(f"proposal step:                   {1e3 * seconds_per_sweep:.2f} ms per sweep ({description})")
        print(f"tracking / proposals:            {tracking / seconds_per_sweep:.3f}")


if __name__ == "__main__":
    main()
