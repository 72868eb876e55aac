"""Benchmark: time per sweep of the tracking stage, beside the proposal stage it follows.

    .venv/bin/python benchmarks/bench_tracking.py [--seeds 0 1 2] [--seconds 20]

Tracking runs on whole logs (it is offline), so its time per sweep is the time of one
`track()` call over a log divided by the log's sweeps; the forward pass alone
(`track_online`) is timed too. Inputs: street scenes of tests/tracking with their
detection simulator (about 25 proposals per sweep). The peer, the proposal step
(`avlabel.perception.propose.propose_ego`: ground, clustering, box fit, classification),
is timed in the same run on a ray-cast street sweep of about 120k points
(tests/perception/scenes.py), and the ratio printed. Single-threaded
(NUMBA_NUM_THREADS=1); timings are printed, never asserted.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "tracking"))
sys.path.insert(0, str(ROOT / "tests" / "perception"))

from tracking_inputs import scene_inputs  # noqa: E402

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


def proposal_seconds_per_sweep(repeats: int) -> tuple[float, str] | None:
    try:
        from scenes import street_scene

        from avlabel.perception.propose import propose_ego
    except ImportError as error:
        print(f"proposal step not available ({error}); no ratio")
        return None
    config = load_config().perception
    scene = street_scene(0)
    propose_ego(scene.points, config)  # compile
    return best_of(repeats, propose_ego, scene.points, config), f"ray-cast street sweep, {len(scene.points)} points"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    config = load_config().tracking

    warm = scene_inputs(arguments.seeds[0], arguments.seconds)
    track(warm.proposals, config, poses=warm.poses)  # numba compile (or load from cache)

    offline, online = [], []
    for seed in arguments.seeds:
        inputs = scene_inputs(seed, arguments.seconds)
        sweeps = len(inputs.proposals)
        per_sweep = inputs.proposals.num_cuboids() / sweeps
        offline.append(best_of(arguments.repeats, track, inputs.proposals, config, poses=inputs.poses) / sweeps)
        online.append(best_of(arguments.repeats, track_online, inputs.proposals, config, poses=inputs.poses) / sweeps)
        print(f"{inputs.name}: {sweeps} sweeps, {per_sweep:.1f} proposals per sweep: "
              f"offline tracking {1e3 * offline[-1]:.2f} ms/sweep, forward pass alone {1e3 * online[-1]:.2f} ms/sweep")
    tracking = statistics.median(offline)
    print(f"\ntracking (offline, whole stage): {1e3 * tracking:.2f} ms per sweep (median over logs)")
    print(f"forward pass alone:              {1e3 * statistics.median(online):.2f} ms per sweep")
    proposals = proposal_seconds_per_sweep(arguments.repeats)
    if proposals is not None:
        seconds, description = proposals
        print(f"proposal step:                   {1e3 * seconds:.2f} ms per sweep ({description})")
        print(f"tracking / proposals:            {tracking / seconds:.3f}")


if __name__ == "__main__":
    main()
