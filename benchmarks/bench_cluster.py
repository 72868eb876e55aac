"""Benchmark: avlabel's DBSCAN against Open3D's and scikit-learn's on one LiDAR sweep,
and the whole proposal step (ground + cluster + fit + classify) per sweep.

    .venv/bin/python benchmarks/bench_cluster.py [--seed 3] [--synthetic]

Single-threaded on purpose: NUMBA_NUM_THREADS=1 and OMP_NUM_THREADS=1 are set before any
import, and the process is pinned to one core (Open3D 0.19+ parallelises cluster_dbscan
with TBB, which ignores OMP_NUM_THREADS); the figures compare algorithms, not core counts. The sweep is a simulated
default-profile sweep when avlabel.sim works, else a ray-cast synthetic street
(tests/perception/scenes.py). Timings are printed, never asserted; peers are measured
in the same run, so the ratios hold even on a busy machine.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
if hasattr(os, "sched_setaffinity"):  # Linux: one core for every thread of every library
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EPS, MIN_POINTS = 0.5, 5


def simulated_sweep(seed: int, log_path: Path | None = None) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(points (N, 6) ego frame, ground truth mask (N,), description) of the simulated
    sweep nearest 120k points, or None when the simulator is not available."""
    try:
        from avlabel.io.logstore import DriveLog
        from avlabel.sim import simulate
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as directory:
        path = log_path or Path(directory) / "bench.h5"
        try:
            if log_path is None:
                simulate(path, seconds=1.0, seed=seed, profile="default", progress=False)
        except Exception as error:  # the simulator is someone else's work in progress
            print(f"simulator failed ({type(error).__name__}: {error}); using the synthetic sweep")
            return None
        with DriveLog(path) as log:
            from avlabel.perception.propose import log_frame_input

            counts = [log.sweep(index).points.shape[0] for index in range(log.num_frames(log.lidar))]
            index = int(np.argmin(np.abs(np.array(counts) - 120_000)))
            points = log_frame_input(log, index).points
            truth = log.point_truth(index)
            ground = truth.is_ground() if truth is not None else np.zeros(len(points), bool)
    return points, ground, f"simulated default-profile sweep {index} of {path.name if log_path else f'seed {seed}'}"


def synthetic_sweep(seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    sys.path.insert(0, str(ROOT / "tests" / "perception"))
    from scenes import street_scene

    scene = street_scene(seed)
    return scene.points, np.isin(scene.semantic, (1, 2, 3)), f"synthetic ray-cast street (seed {seed})"


@dataclass
class Timing:
    """Wall and CPU seconds of every repeat of one implementation."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def run(self, function):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(time.process_time() - cpu)
        return result


def interleaved(functions: dict, repeats: dict) -> tuple[dict, dict]:
    """Run the functions round-robin (so that a busy spell of the shared machine hits
    them alike) until each has had its number of repeats; timings and last results."""
    timings = {name: Timing() for name in functions}
    results = {}
    for round_index in range(max(repeats.values())):
        for name, function in functions.items():
            if round_index < repeats[name]:
                results[name] = timings[name].run(function)
    return timings, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--synthetic", action="store_true", help="skip the simulator")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--log", type=Path, default=None, help="take the sweep from this simulated log instead of simulating one")
    arguments = parser.parse_args()

    sweep = None if arguments.synthetic else simulated_sweep(arguments.seed, arguments.log)
    points, ground, description = sweep if sweep is not None else synthetic_sweep(arguments.seed)
    xyz = np.ascontiguousarray(points[:, :3], dtype=np.float64)
    print(f"sweep: {description}: {len(points):,} points, {100 * (1 - ground.mean()):.0f}% above ground (truth)")
    print(f"parameters: eps {EPS} m, min_points {MIN_POINTS}; NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; "
          f"cores allowed: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else 'all'}")

    # First call in a fresh process with an empty numba cache: the compile time.
    with tempfile.TemporaryDirectory() as cache:
        probe = ("import time, numpy as np; start = time.perf_counter(); from avlabel.perception.cluster import dbscan; "
                 "dbscan(np.random.default_rng(0).random((1000, 3)), 0.1, 5); print(time.perf_counter() - start)")
        environment = dict(os.environ, NUMBA_CACHE_DIR=cache)
        compile_seconds = float(subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True).stdout)
    print(f"avlabel dbscan first call, cold numba cache (import + compile): {compile_seconds:.2f} s")

    # First call here: numba loads the kernels from its on-disk cache.
    start = time.perf_counter()
    from avlabel.perception.cluster import dbscan

    dbscan(xyz[:100], EPS, MIN_POINTS)
    print(f"avlabel dbscan first call, warm numba cache (import + cache load): {time.perf_counter() - start:.2f} s")

    import open3d as o3d
    from sklearn.cluster import DBSCAN

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz))
    names = ("avlabel dbscan (numba)", "Open3D cluster_dbscan", "scikit-learn DBSCAN")
    timings, results = interleaved(
        {
            names[0]: lambda: dbscan(xyz, EPS, MIN_POINTS),
            names[1]: lambda: np.asarray(cloud.cluster_dbscan(EPS, MIN_POINTS, print_progress=False)),
            names[2]: lambda: DBSCAN(eps=EPS, min_samples=MIN_POINTS, n_jobs=1).fit(xyz).labels_,
        },
        {names[0]: arguments.repeats * 3, names[1]: arguments.repeats, names[2]: 2},
    )
    ours = timings[names[0]]
    print()
    print("best (min) of interleaved repeats; the median shows how busy the machine was")
    print(f"{'implementation':<26}{'wall min':>10}{'wall med':>10}{'CPU min':>10}{'clusters':>10}{'noise':>8}"
          f"{'speed-up (wall)':>17}{'(CPU)':>8}")
    for name in names:
        timing, labels = timings[name], np.asarray(results[name])
        print(f"{name:<26}{min(timing.wall) * 1e3:>8.1f}ms{statistics.median(timing.wall) * 1e3:>8.1f}ms{min(timing.cpu) * 1e3:>8.1f}ms"
              f"{labels.max() + 1:>10}{(labels < 0).sum():>8}{min(timing.wall) / min(ours.wall):>16.1f}x{min(timing.cpu) / min(ours.cpu):>7.1f}x")
    agree = np.array_equal(results[names[0]] < 0, results[names[2]] < 0) and results[names[0]].max() == results[names[2]].max()
    print(f"same clusters and noise as scikit-learn: {agree}")

    # The whole proposal step on the same sweep, one core.
    from avlabel.perception.propose import propose_ego
    from avlabel.perception.settings import PerceptionConfig

    config = PerceptionConfig()
    propose_ego(points[:2000], config)  # compile / load the kernels
    steps: dict[str, float] = {}
    timing = Timing()
    runs = arguments.repeats * 3
    for _ in range(runs):
        proposals = timing.run(lambda: propose_ego(points, config, timings=steps))
    print()
    print(f"proposal step per sweep ({len(points):,} points -> {len(proposals.boxes)} proposals): "
          f"wall min {min(timing.wall) * 1e3:.1f} ms, median {statistics.median(timing.wall) * 1e3:.1f} ms; "
          f"CPU min {min(timing.cpu) * 1e3:.1f} ms, median {statistics.median(timing.cpu) * 1e3:.1f} ms")
    print("  mean wall per step: " + ", ".join(f"{name} {seconds / runs * 1e3:.1f} ms" for name, seconds in steps.items()))


if __name__ == "__main__":
    main()
