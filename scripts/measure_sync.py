"""Print the sync and projection figures measured against a simulated log's exact truth.

De-skew (wall flatness and distance to the true building surfaces in a left turn),
projection of truth cuboids against cv2.projectPoints with the simulator's exact poses and
against its own rendering, association figures, and clock offsets recovered from the data.

    .venv/bin/python scripts/measure_sync.py [--log TURNING.h5] [--camera-log SHARP.h5]

--log: the seed-5, 20 s, "test"-profile log (simulated into a temporary folder if not given).
--camera-log: another simulated log whose camera offsets are also estimated (e.g. a 3 s
"default"-profile log with 960x600 images: `avlabel simulate sharp.h5 --seconds 3 --seed 5`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "sync"))

from sim_checks import (  # noqa: E402  (the measurements live beside the tests that assert on them)
    PROFILE,
    SECONDS,
    SEED,
    building_surface_distances,
    corner_projection_errors,
    rendered_object_checks,
    turning_wall_spreads,
)

from avlabel.io.logstore import DriveLog  # noqa: E402
from avlabel.sync.clock import estimate_clock_offsets  # noqa: E402
from avlabel.sync.frames import LogSync  # noqa: E402
from avlabel.sync.settings import SyncConfig  # noqa: E402

PROJECTION_SWEEPS = [5, 25, 60, 120, 165, 175, 185, 195]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path)
    parser.add_argument("--camera-log", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as work:
        path = args.log
        if path is None:
            from avlabel.sim import simulate

            path = simulate(Path(work) / "turning.h5", seconds=SECONDS, seed=SEED, profile=PROFILE, progress=True)
        from avlabel.sim import simulation_world

        scenario = simulation_world(seed=SEED, profile=PROFILE, seconds=SECONDS)[0]
        with DriveLog(path) as log:
            measure(log, scenario)
    if args.camera_log:
        with DriveLog(args.camera_log) as log:
            print(f"\n== clock offsets recovered from {args.camera_log.name}")
            print_offsets(estimate_clock_offsets(log))


def measure(log: DriveLog, scenario) -> None:
    sync = LogSync(log, SyncConfig())
    report = sync.report()
    print(f"== association ({log.name}: {report['sweeps']} sweeps, poses {report['poses']['source']})")
    for name, stream in report["streams"].items():
        print(f"  {name:<20} matched {stream['matched']:>4}  missing {stream['missing']:>3}  "
              f"median |dt| {stream['median_abs_dt_us'] / 1e3:6.1f} ms  max {stream['max_abs_dt_us'] / 1e3:6.1f} ms")

    print("\n== de-skew: wall behind the ego, sweeps turning faster than 0.3 rad/s (RMS to its plane)")
    walls = turning_wall_spreads(log, sync)
    for wall in walls:
        print(f"  sweep {wall['index']:>3}  yaw rate {wall['yaw_rate']:.2f} rad/s  {wall['points']:>4} points over {wall['span_ms']:5.1f} ms"
              f"  raw {wall['before_m'] * 100:5.1f} cm  de-skewed {wall['after_m'] * 100:5.1f} cm")
    print(f"  median: raw {np.median([w['before_m'] for w in walls]) * 100:.1f} cm, de-skewed {np.median([w['after_m'] for w in walls]) * 100:.1f} cm")
    distances = building_surface_distances(log, sync, scenario, [176, 180, 184, 188])
    for name, values in distances.items():
        print(f"  building points to the true surfaces, {name:<9}: median {np.median(values) * 1000:5.1f} mm, 90th percentile {np.percentile(values, 90) * 1000:5.1f} mm")

    print("\n== projection of exact truth corners vs cv2.projectPoints with the exact ego pose at capture time")
    errors = corner_projection_errors(log, sync, scenario, PROJECTION_SWEEPS)
    for name, values in errors.items():
        print(f"  {name:<12} {len(values):>5} corners: max {values.max():.2e} px, median {np.median(values):.2e} px")
    objects = rendered_object_checks(log, sync, scenario, PROJECTION_SWEEPS[::2])
    gaps = np.array([item["gaps_px"] for item in objects])
    print(f"  rendered objects: {len(objects)}; share of object pixels inside the projected box: min {min(i['inside'] for i in objects):.3f}")
    print(f"  box extent beyond the object's (left, right, top, bottom) px: min {gaps.min(axis=0).round(2).tolist()}, median {np.median(gaps, axis=0).round(2).tolist()}")
    print(f"  box outline area / object area: median {np.median([i['area_ratio'] for i in objects]):.2f}")

    print("\n== clock offsets recovered from the data (configured = the log's calibration)")
    print_offsets(estimate_clock_offsets(log))


def print_offsets(results: dict) -> None:
    for sensor, estimate in results.items():
        if isinstance(estimate, str):
            print(f"  {sensor:<20} no estimate: {estimate}")
            continue
        verdict = "observable" if estimate.observable else "NOT observable on this drive"
        print(f"  {sensor:<20} {estimate.offset_us:>7} +- {estimate.uncertainty_us:7.0f} us  configured {estimate.calibrated_us:>6}  "
              f"error {estimate.error_us / 1e3:+6.2f} ms  ({verdict})")


if __name__ == "__main__":
    main()
