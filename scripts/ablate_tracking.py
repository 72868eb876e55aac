"""Ablation of the tracking stage: raw proposals vs online tracking vs offline tracking.

    .venv/bin/python scripts/ablate_tracking.py [--source scene|sim] [--seeds 10 11 12 13 14]

On the same logs, in one run, it prints for one class (default car), pooled over the logs:

- box errors of every box matched to truth (nearest centre within 2 m, one-to-one per
  frame): median centre error (m, ground plane), size error (m, |[dl, dw, dh]|) and yaw
  error (rad, modulo 2 pi), for the raw per-sweep proposals, the forward filter alone
  (online, AB3DMOT-like: `track_online`) and avlabel's offline tracking (`track`);
- tracking metrics from avlabel.eval (MOTA, ID switches: BEV centre distance 2 m; HOTA:
  BEV IoU similarity) and, as a stricter cross-check, MOTA with matches at BEV IoU >= 0.5
  (TrackEval CLEAR).

Sources: "scene" is the street-scene truth of tests/tracking with its realistic detection
simulator standing in for the proposal stage; "sim" simulates logs with avlabel.sim and
runs the real proposal stage on every sweep (slow: ~30 ms per sweep plus the simulation).

Tuning and measuring seeds are kept apart: the tracking defaults were tuned on seeds 0
and 1 (`--seeds 0 1`); the reported figures are for seeds 10 to 14, the default here.
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

TUNING_SEEDS = (0, 1)
MEASURING_SEEDS = (10, 11, 12, 13, 14)
METHODS = ("raw proposals", "online (forward filter)", "offline (avlabel)")


def _inputs(arguments: argparse.Namespace, seed: int, scratch: Path) -> LogInputs:
    if arguments.source == "sim":
        return sim_inputs(seed, arguments.seconds, Path(arguments.cache) if arguments.cache else scratch)
    return scene_inputs(seed, arguments.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("scene", "sim"), default="scene")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(MEASURING_SEEDS))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--label", default="car")
    parser.add_argument("--cache", help="folder for simulated logs (reused across runs)")
    arguments = parser.parse_args()
    if arguments.source == "sim" and not sim_available():
        sys.exit("avlabel.sim or avlabel.perception.propose is not available yet; use --source scene")
    config = load_config().tracking
    evaluation = EvaluationConfig(tracking=TrackingSettings(hota_similarity="iou_bev"))

    errors = {method: {"centre": [], "size": [], "yaw": []} for method in METHODS}
    metrics = {method: [] for method in METHODS[1:]}
    timings = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in arguments.seeds:
            inputs = _inputs(arguments, seed, Path(scratch))
            started = time.perf_counter()
            offline = track(inputs.proposals, config, poses=inputs.poses)
            timings.append((time.perf_counter() - started) / max(1, len(inputs.proposals)))
            online = track_online(inputs.proposals, config, poses=inputs.poses)
            for method, labels in zip(METHODS, (inputs.proposals, online, offline)):
                for kind, values in box_errors(labels, inputs.truth, arguments.label).items():
                    errors[method][kind].append(values)
                if method in metrics:
                    result = evaluate(labels, inputs.truth, evaluation, world_from_ego=inputs.poses).tracking.classes[arguments.label]
                    strict = tracking_metrics(labels, inputs.truth, arguments.label, "iou")
                    metrics[method].append((result, strict))
            line = f"{inputs.name}: {len(inputs.proposals)} sweeps, tracking {1e3 * timings[-1]:.1f} ms/sweep"
            if inputs.proposal_seconds_per_sweep is not None:
                line += f", proposals {1e3 * inputs.proposal_seconds_per_sweep:.1f} ms/sweep"
            print(line, flush=True)

    tuned = "tuning seeds" if set(arguments.seeds) <= set(TUNING_SEEDS) else "measuring seeds (not used for tuning)"
    print(f"\nclass {arguments.label}, source {arguments.source}, seeds {' '.join(map(str, arguments.seeds))} ({tuned})")
    print(f"{'':26s} {'boxes':>7s} {'centre m':>9s} {'size m':>8s} {'yaw rad':>8s}")
    medians = {}
    for method in METHODS:
        pooled = {kind: np.concatenate(values) for kind, values in errors[method].items()}
        medians[method] = {kind: float(np.median(values)) for kind, values in pooled.items()}
        print(f"{method:26s} {len(pooled['centre']):7d} {medians[method]['centre']:9.3f} {medians[method]['size']:8.3f} {medians[method]['yaw']:8.4f}")
    raw = medians[METHODS[0]]
    for method in METHODS[1:]:
        print(
            f"{method:26s} vs raw: centre {100 * (1 - medians[method]['centre'] / raw['centre']):+.0f}% lower, "
            f"size {100 * (1 - medians[method]['size'] / raw['size']):+.0f}% lower, yaw {100 * (1 - medians[method]['yaw'] / raw['yaw']):+.0f}% lower"
        )

    print(f"\n{'':26s} {'MOTA':>6s} {'HOTA':>6s} {'IDF1':>6s} {'IDSW':>5s} {'/100 trk':>8s} {'FP':>6s} {'FN':>6s} {'MOTA@IoU.5':>10s}")
    for method, rows in metrics.items():
        truth_boxes = sum(result.num_truth for result, _ in rows)
        truth_tracks = sum(result.truth_tracks for result, _ in rows)
        switches = sum(result.id_switches for result, _ in rows)
        false_positives = sum(result.false_positives for result, _ in rows)
        misses = sum(result.misses for result, _ in rows)
        mota = 1.0 - (misses + false_positives + switches) / max(1, truth_boxes)
        hota = np.mean([result.hota for result, _ in rows])
        idf1 = np.mean([result.idf1 for result, _ in rows])
        strict_boxes = sum(strict["truth_boxes"] for _, strict in rows)
        strict_mota = 1.0 - sum(strict["FP"] + strict["FN"] + strict["IDSW"] for _, strict in rows) / max(1, strict_boxes)
        print(
            f"{method:26s} {mota:6.3f} {hota:6.3f} {idf1:6.3f} {switches:5d} {100 * switches / max(1, truth_tracks):8.2f} "
            f"{false_positives:6d} {misses:6d} {strict_mota:10.3f}"
        )
    print("\nper log (offline): " + ", ".join(f"MOTA {result.mota:.3f} HOTA {result.hota:.3f} IDSW {result.id_switches}/{result.truth_tracks}" for result, _ in metrics[METHODS[2]]))
    print(f"tracking time: {1e3 * np.mean(timings):.1f} ms per sweep (mean over logs)")


if __name__ == "__main__":
    main()
