"""Benchmark: avlabel's DBSCAN against Open3D's and scikit-learn's on one LiDAR sweep,
and the whole proposal step (ground + cluster + fit + classify) per sweep.

    .venv/bin/python benchmarks/bench_cluster.py [--seed 3] [--synthetic]

Single-threaded on purpose (NUMBA_NUM_THREADS=1, OMP_NUM_THREADS=1 are set before any
import): the figures compare algorithms, not core counts. The sweep is a simulated
default-profile sweep when avlabel.sim works, else a ray-cast synthetic street
(tests/perception/scenes.py). Timings are printed, never asserted; peers are measured
in the same run, so the ratios hold even on a busy machine.
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

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EPS, MIN_POINTS = 0.5, 5


def simulated_sweep(seed: int) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(points (N, 6) ego frame, ground truth mask (N,), description) of the simulated
    sweep nearest 120k points, or None when the simulator is not available."""
    try:
        from avlabel.io.logstore import DriveLog
        from avlabel.sim import simulate
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.h5"
        try:
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
    return points, ground, f"simulated default-profile sweep {index} (seed {seed})"


def synthetic_sweep(seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    sys.path.insert(0, str(ROOT / "tests" / "perception"))
    from scenes import street_scene

    scene = street_scene(seed)
    return scene.points, np.isin(scene.semantic, (1, 2, 3)), f"synthetic ray-cast street (seed {seed})"


def timed(function, repeats: int) -> tuple[float, object]:
    """Median seconds over `repeats` calls, and the last result."""
    durations, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--synthetic", action="store_true", help="skip the simulator")
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()

    sweep = None if arguments.synthetic else simulated_sweep(arguments.seed)
    points, ground, description = sweep if sweep is not None else synthetic_sweep(arguments.seed)
    xyz = np.ascontiguousarray(points[:, :3], dtype=np.float64)
    print(f"sweep: {description}: {len(points):,} points, {100 * (1 - ground.mean()):.0f}% above ground (truth)")
    print(f"parameters: eps {EPS} m, min_points {MIN_POINTS}; NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")

    # First call: numba compiles the kernels, or loads them from its on-disk cache.
    start = time.perf_counter()
    from avlabel.perception.cluster import dbscan

    dbscan(xyz[:100], EPS, MIN_POINTS)
    print(f"avlabel dbscan first call (import + compile or cache load): {time.perf_counter() - start:.2f} s")

    ours_time, ours = timed(lambda: dbscan(xyz, EPS, MIN_POINTS), arguments.repeats)

    import open3d as o3d
    from sklearn.cluster import DBSCAN

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz))
    open3d_time, open3d_labels = timed(lambda: np.asarray(cloud.cluster_dbscan(EPS, MIN_POINTS, print_progress=False)), 3)
    sklearn_time, sklearn_labels = timed(lambda: DBSCAN(eps=EPS, min_samples=MIN_POINTS, n_jobs=1).fit(xyz).labels_, 2)

    print()
    print(f"{'implementation':<28}{'time':>12}{'clusters':>10}{'noise':>9}{'our speed-up':>14}")
    for name, seconds, labels in (
        ("avlabel dbscan (numba)", ours_time, ours),
        ("Open3D cluster_dbscan", open3d_time, open3d_labels),
        ("scikit-learn DBSCAN", sklearn_time, sklearn_labels),
    ):
        labels = np.asarray(labels)
        print(f"{name:<28}{seconds * 1e3:>10.1f}ms{labels.max() + 1:>10}{(labels < 0).sum():>9}{seconds / ours_time:>13.1f}x")
    core_agree = np.array_equal(np.asarray(ours) < 0, np.asarray(sklearn_labels) < 0) and ours.max() == sklearn_labels.max()
    print(f"same clusters and noise as scikit-learn: {core_agree}")

    # The whole proposal step on the same sweep, one core.
    from avlabel.perception.propose import propose_ego
    from avlabel.perception.settings import PerceptionConfig

    config = PerceptionConfig()
    propose_ego(points[:2000], config)  # compile / load the kernels
    steps: dict[str, float] = {}
    durations = []
    for _ in range(arguments.repeats * 2):
        start = time.perf_counter()
        proposals = propose_ego(points, config, timings=steps)
        durations.append(time.perf_counter() - start)
    runs = arguments.repeats * 2
    print()
    print(f"proposal step per sweep: {statistics.median(durations) * 1e3:.1f} ms median "
          f"(min {min(durations) * 1e3:.1f} ms) for {len(points):,} points -> {len(proposals.boxes)} proposals")
    print("  mean per step: " + ", ".join(f"{name} {seconds / runs * 1e3:.1f} ms" for name, seconds in steps.items()))


if __name__ == "__main__":
    main()
