"""De-skewing one 120k-point sweep: the numba kernel against its NumPy twin and against
interpolating a pose per point (the definition). Prints times and ratios; asserts nothing.

    .venv/bin/python benchmarks/bench_deskew.py [--points 120000] [--repeats 20]
"""

from __future__ import annotations

import argparse

import numpy as np

from avlabel.geometry.transforms import make_transform, transform_from_yaw
from avlabel.structs import PoseSeries
from avlabel.sync.deskew import deskew_points, deskew_points_exact, deskew_points_numpy
from avlabel.sync.poses import PoseInterpolator

from _timing import median_seconds


def turning_poses(speed: float = 10.0, yaw_rate: float = 0.5, seconds: float = 2.0) -> PoseInterpolator:
    """100 Hz poses of a steady turn."""
    stamps = np.arange(0, int(seconds * 1e6) + 1, 10_000, dtype=np.int64)
    yaw = yaw_rate * stamps / 1e6
    radius = speed / yaw_rate
    positions = np.column_stack([radius * np.sin(yaw), radius * (1 - np.cos(yaw)), np.zeros_like(yaw)])
    return PoseInterpolator(PoseSeries(stamps, np.stack([transform_from_yaw(a, p) for a, p in zip(yaw, positions)])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=120_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    poses = turning_poses()
    rng = np.random.default_rng(0)
    count = args.points
    points = np.column_stack([
        rng.uniform(-50, 50, (count, 3)), rng.uniform(0, 1, count), np.linspace(-50_000, 50_000, count), rng.integers(0, 64, count),
    ]).astype(np.float32)
    ego_from_lidar = make_transform(np.eye(3), (1.0, 0.0, 1.8))
    run = lambda function: function(points, 1_000_000, ego_from_lidar, poses)  # noqa: E731
    fast = run(deskew_points)  # compiles (or loads the cache)
    exact = run(deskew_points_exact)
    numba_s = median_seconds(lambda: run(deskew_points), args.repeats)
    numpy_s = median_seconds(lambda: run(deskew_points_numpy), args.repeats)
    exact_s = median_seconds(lambda: run(deskew_points_exact), max(args.repeats // 5, 1))
    print(f"de-skew of {count:,} points over a 100 ms sweep, ego turning at 0.5 rad/s")
    print(f"  numba kernel (1 ms knots)        {numba_s * 1e3:8.2f} ms")
    print(f"  NumPy twin (1 ms knots)          {numpy_s * 1e3:8.2f} ms   ({numpy_s / numba_s:.1f}x the kernel)")
    print(f"  a pose per point (definition)    {exact_s * 1e3:8.2f} ms   ({exact_s / numba_s:.1f}x the kernel)")
    print(f"  largest difference kernel vs definition: {np.abs(fast[:, :3] - exact[:, :3]).max() * 1e3:.3f} mm (float32 output)")


if __name__ == "__main__":
    main()
