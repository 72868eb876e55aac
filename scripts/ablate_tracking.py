"""Ablation of the tracking stage: raw proposals vs online tracking vs offline tracking.

    .venv/bin/python scripts/ablate_tracking.py [--source scene|sim] [--seeds 10 11 12 13 14]

On the same logs, in one run, it prints for one class (default car), pooled over the logs:

- box errors of every box matched to truth (nearest centre within 2 m, one-to-one per
  frame): median centre error (m, ground plane), size error (m, |[dl, dw, dh]|) and yaw
  error (rad, modulo 2 pi), for the raw per-sweep proposals, the forward filter alone
  (online, AB3DMOT-like: `track_online`) and avlabel's offline tracking (`track`);
- tracking metrics from avlabel.eval (MOTA, ID switches: BEV centre distance 2 m; HOTA:
  BEV IoU similarity; cars within 50 m of the ego) and, as a stricter cross-check, MOTA
  with matches at BEV IoU >= 0.5 (TrackEval CLEAR).

Sources: "scene" is the street-scene truth of tests/tracking with its realistic detection
simulator standing in for the proposal stage; "sim" simulates logs with avlabel.sim and
runs the real proposal stage on every sweep (slow: minutes per log; `--cache` keeps logs
and proposals). Simulated truth is scored two ways: "visible span" (nuScenes: boxes with
at least one LiDAR point, and an object's boxes between its first and last such frame)
and "well observed" (every truth box, those with fewer than 20 points as don't-care
regions: what no proposal stage can fit neither counts for nor against the tracker).

Tuning and measuring seeds are kept apart. Scene source: defaults tuned on seeds 0-3,
measured on 10-14. Sim source: tuned on seeds 1-10 and 21-25 (21-25 measured the stage
until its ID switches were analysed there), measured on 26-30.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tracking"))

from tracking_inputs import LogInputs, scene_inputs, sim_available, sim_inputs  # noqa: E402
from tracking_metrics import box_errors, tracking_metrics  # noqa: E402

from avlabel.config import load_config  # noqa: E402
from avlabel.eval.evaluate import evaluate  # noqa: E402
from avlabel.eval.settings import EvaluationConfig, TrackingSettings  # noqa: E402
from avlabel.tracking.track import track, track_online  # noqa: E402

TUNING_SEEDS = {"scene": (0, 1, 2, 3), "sim": (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 21, 22, 23, 24, 25)}
MEASURING_SEEDS = {"scene": (10, 11, 12, 13, 14), "sim": (26, 27, 28, 29, 30)}
METHODS = ("raw proposals", "online (forward filter)", "offline (avlabel)")


def _inputs(arguments: argparse.Namespace, seed: int, scratch: Path) -> LogInputs:
    if arguments.source == "sim":
        return sim_inputs(seed, arguments.seconds, Path(arguments.cache) if arguments.cache else scratch)
    return scene_inputs(seed, arguments.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("scene", "sim"), default="scene")
    parser.add_argument("--seeds", type=int, nargs="+", help="default: the measuring seeds of the source")
    parser.add_argument("--seconds", type=float, help="log length (default 20 s scene, 10 s sim)")
    parser.add_argument("--label", default="car")
    parser.add_argument("--cache", help="folder for simulated logs (reused across runs)")
    arguments = parser.parse_args()
    if arguments.source == "sim" and not sim_available():
        sys.exit("avlabel.sim or avlabel.perception.propose is not available yet; use --source scene")
    arguments.seeds = arguments.seeds or list(MEASURING_SEEDS[arguments.source])
    arguments.seconds = arguments.seconds or (10.0 if arguments.source == "sim" else 20.0)
    config = load_config().tracking
    evaluation = EvaluationConfig(tracking=TrackingSettings(hota_similarity="iou_bev"))

    errors = {method: {"centre": [], "size": [], "yaw": [], "axis": [], "heading": []} for method in METHODS}
    conventions = ("visible span", "well observed") if arguments.source == "sim" else ("scene truth",)
    metrics = {(method, convention): [] for method in METHODS[1:] for convention in conventions}
    timings = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in arguments.seeds:
            inputs = _inputs(arguments, seed, Path(scratch))
            started = time.perf_counter()
            offline = track(inputs.proposals, config, poses=inputs.poses)
            timings.append((time.perf_counter() - started) / max(1, len(inputs.proposals)))
            online = track_online(inputs.proposals, config, poses=inputs.poses)
            truths = {"visible span": inputs.truth, "well observed": inputs.well_observed_truth(20), "scene truth": inputs.truth}
            for method, labels in zip(METHODS, (inputs.proposals, online, offline)):
                for kind, values in box_errors(labels, inputs.truth, arguments.label).items():
                    errors[method][kind].append(values)
                if method == METHODS[0]:
                    continue
                for convention in conventions:
                    result = evaluate(labels, truths[convention], evaluation, world_from_ego=inputs.poses).tracking.classes[arguments.label]
                    strict = tracking_metrics(labels, inputs.truth, arguments.label, "iou", poses=inputs.poses) if convention != "well observed" else None
                    metrics[(method, convention)].append((result, strict))
            line = f"{inputs.name}: {len(inputs.proposals)} sweeps, tracking {1e3 * timings[-1]:.1f} ms/sweep"
            if inputs.proposal_seconds_per_sweep is not None:
                line += f", proposals {1e3 * inputs.proposal_seconds_per_sweep:.1f} ms/sweep"
            print(line, flush=True)

    tuned = "tuning seeds" if set(arguments.seeds) <= set(TUNING_SEEDS[arguments.source]) else "measuring seeds (not used for tuning)"
    print(f"\nclass {arguments.label}, source {arguments.source}, seeds {' '.join(map(str, arguments.seeds))} ({tuned})")
    print("median errors of boxes matched to truth (centre within 2 m); yaw: axis modulo pi for every box, heading")
    print("modulo 2 pi for boxes of moving truth (a parked car's front is a coin flip for any box fit)")
    print(f"{'':26s} {'boxes':>7s} {'centre m':>9s} {'size m':>8s} {'axis rad':>9s} {'moving':>7s} {'heading rad':>12s}")
    medians = {}
    for method in METHODS:
        pooled = {kind: np.concatenate(values) for kind, values in errors[method].items()}
        medians[method] = {kind: float(np.median(values)) if len(values) else float("nan") for kind, values in pooled.items()}
        print(
            f"{method:26s} {len(pooled['centre']):7d} {medians[method]['centre']:9.3f} {medians[method]['size']:8.3f} "
            f"{medians[method]['axis']:9.4f} {len(pooled['heading']):7d} {medians[method]['heading']:12.4f}"
        )
    raw = medians[METHODS[0]]
    for method in METHODS[1:]:
        print(
            f"{method:26s} vs raw: centre {100 * (1 - medians[method]['centre'] / raw['centre']):+.0f}% lower, "
            f"size {100 * (1 - medians[method]['size'] / raw['size']):+.0f}% lower, axis {100 * (1 - medians[method]['axis'] / raw['axis']):+.0f}% lower, "
            f"heading of movers {100 * (1 - medians[method]['heading'] / raw['heading']):+.0f}% lower"
        )

    print(f"\n{'':26s} {'truth':14s} {'MOTA':>6s} {'HOTA':>6s} {'IDF1':>6s} {'IDSW':>5s} {'/100 trk':>8s} {'FP':>6s} {'FN':>6s} {'MOTA@IoU.5':>10s}")
    for (method, convention), rows in metrics.items():
        truth_boxes = sum(result.num_truth for result, _ in rows)
        truth_tracks = sum(result.truth_tracks for result, _ in rows)
        switches = sum(result.id_switches for result, _ in rows)
        false_positives = sum(result.false_positives for result, _ in rows)
        misses = sum(result.misses for result, _ in rows)
        mota = 1.0 - (misses + false_positives + switches) / max(1, truth_boxes)
        hota = np.mean([result.hota for result, _ in rows])
        idf1 = np.mean([result.idf1 for result, _ in rows])
        strict = [strict for _, strict in rows if strict is not None]
        strict_mota = (
            f"{1.0 - sum(item['FP'] + item['FN'] + item['IDSW'] for item in strict) / max(1, sum(item['truth_boxes'] for item in strict)):10.3f}"
            if strict else f"{'':>10s}"
        )
        print(
            f"{method:26s} {convention:14s} {mota:6.3f} {hota:6.3f} {idf1:6.3f} {switches:5d} {100 * switches / max(1, truth_tracks):8.2f} "
            f"{false_positives:6d} {misses:6d} {strict_mota}"
        )
    for convention in conventions:
        print(f"\nper log (offline, {convention}): " + ", ".join(
            f"MOTA {result.mota:.3f} HOTA {result.hota:.3f} IDSW {result.id_switches}/{result.truth_tracks}" for result, _ in metrics[(METHODS[2], convention)]
        ))
    print(f"tracking time: {1e3 * np.mean(timings):.1f} ms per sweep (mean over logs)")


if __name__ == "__main__":
    main()
