"""Time the simulator on a 20 s log with the default profile.

Prints wall time, time per simulated second, the time of each stage (scenario, LiDAR,
radar, cameras, navigation and truth, writing) and the log's size in MB, per stream too.

    python benchmarks/bench_simulate.py [--seconds 20] [--profile default] [--seed 0] [--keep OUT.h5]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import h5py

from avlabel.sim import run_simulation


def stream_sizes(path: Path) -> dict[str, float]:
    """Stored (compressed) megabytes under each top-level stream group."""
    sizes: dict[str, float] = {}
    with h5py.File(path, "r") as log:
        def visit(name: str, item: object) -> None:
            if isinstance(item, h5py.Dataset):
                parts = name.split("/")
                key = "/".join(parts[:2]) if parts[0] in ("lidar", "radar", "camera", "truth") else parts[0]
                if item.dtype.kind == "O":  # variable-length (encoded images): the heap holds the bytes
                    stored = sum(len(row) for row in item[()])
                else:
                    stored = item.id.get_storage_size()
                sizes[key] = sizes.get(key, 0.0) + stored / 1e6
        log.visititems(visit)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the log here instead of a temporary file")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as directory:
        path = arguments.keep or Path(directory) / "bench.h5"
        started = time.perf_counter()
        report = run_simulation(path, seconds=arguments.seconds, seed=arguments.seed, profile=arguments.profile, progress=True)
        wall = time.perf_counter() - started
        size = path.stat().st_size / 1e6
        print(f"profile {report.profile}, {report.seconds:g} s simulated, seed {report.seed}")
        print(f"wall time            {wall:8.1f} s   ({wall / report.seconds:.2f} s per simulated second)")
        for stage, seconds in sorted(report.timings.items(), key=lambda item: -item[1]):
            print(f"  {stage:<19}{seconds:8.1f} s   ({seconds / wall:5.1%})")
        print(f"frames               {', '.join(f'{name} {count}' for name, count in report.frames.items())}")
        print(f"LiDAR points         {report.points} ({report.points / max(report.frames.get('lidar_top', 1), 1):.0f} per sweep)")
        print(f"truth cuboids        {report.truth_cuboids}")
        print(f"file size            {size:8.1f} MB")
        for stream, megabytes in sorted(stream_sizes(path).items(), key=lambda item: -item[1]):
            print(f"  {stream:<19}{megabytes:8.1f} MB")


if __name__ == "__main__":
    main()
