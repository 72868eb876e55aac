"""Detection evaluation: avlabel against nuscenes-devkit on the same boxes, one run.

    python benchmarks/bench_eval.py [--frames 200] [--objects 50] [--repeats 3]

Both sides compute nuScenes detection metrics (AP at 0.5/1/2/4 m for every class, the five
TP errors, mAP and NDS) on the same synthetic truth and predictions. The devkit is given
its own data classes (EvalBoxes of DetectionBox), built outside its timing; avlabel's time
starts from Labels, so it includes flattening them. Also timed: avlabel's whole detection
stage (adds KITTI R40 3D/BEV AP, distance bands, confusion matrix) and the whole
evaluation (adds tracking and effort). Prints times and ratios; asserts nothing. Best of
`--repeats` runs, after one warm-up run (numba's compile cache).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "eval"))

from eval_reference import NUSCENES_NAMES, detection_boxes, detection_config  # noqa: E402

from avlabel.eval import algo, loaders  # noqa: E402
from avlabel.eval.evaluate import evaluate  # noqa: E402
from avlabel.eval.settings import TP_ERROR_NAMES, EvaluationConfig  # noqa: E402
from avlabel.eval.synthetic import synthetic_scene  # noqa: E402


def avlabel_nuscenes_metrics(predictions, truth, config: EvaluationConfig) -> tuple[float, float]:
    """What the devkit computes, the avlabel way: from Labels to mAP and NDS."""
    frames = loaders.evaluation_frames(predictions, truth)
    classes = loaders.evaluated_classes(config, truth, predictions)
    truth_table = loaders.box_table(truth, frames, classes, config, ego=None, truth=True)
    prediction_table = loaders.box_table(predictions, frames, classes, config, ego=None, truth=False)
    settings = config.detection
    results = {}
    for index, label in enumerate(classes):
        truth_rows = np.flatnonzero(truth_table.class_index == index)
        prediction_rows = np.flatnonzero(prediction_table.class_index == index)
        curves, ap = {}, {}
        for threshold in settings.distance_thresholds_m:
            matching = algo.match_by_center_distance(truth_table, prediction_table, truth_rows, prediction_rows, threshold)
            curves[threshold] = algo.accumulate(truth_table, prediction_table, matching, len(truth_rows), settings.orientation_period(label))
            ap[threshold] = algo.calc_ap(curves[threshold], settings.min_recall, settings.min_precision)
        tp_errors = {name: algo.calc_tp(curves[settings.tp_distance_threshold_m], settings.min_recall, name) for name in TP_ERROR_NAMES}
        results[label] = algo.ClassDetection(label, len(truth_rows), len(prediction_rows), ap, float(np.mean(list(ap.values()))), tp_errors, 0.0, 0.0, curves)
    mean_ap, _, _, nd_score = algo.summarize(results, settings)
    return mean_ap, nd_score


def devkit_nuscenes_metrics(truth_boxes, prediction_boxes, classes) -> tuple[float, float]:
    from nuscenes.eval.common.utils import center_distance
    from nuscenes.eval.detection.algo import accumulate, calc_ap, calc_tp
    from nuscenes.eval.detection.constants import TP_METRICS
    from nuscenes.eval.detection.data_classes import DetectionMetrics

    config = detection_config(list(classes))
    metrics = DetectionMetrics(config)
    for label in classes:
        name = NUSCENES_NAMES[label]
        for threshold in config.dist_ths:
            metric_data = accumulate(truth_boxes, prediction_boxes, name, center_distance, threshold)
            metrics.add_label_ap(name, threshold, calc_ap(metric_data, config.min_recall, config.min_precision))
            if threshold == config.dist_th_tp:
                for metric in TP_METRICS:
                    metrics.add_label_tp(name, metric, calc_tp(metric_data, config.min_recall, metric))
    return metrics.mean_ap, metrics.nd_score


def best_time(function, repeats: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--objects", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    scene = synthetic_scene(args.frames, args.objects, seed=0)
    config = EvaluationConfig()
    truth_boxes = detection_boxes(scene.truth, truth=True)
    prediction_boxes = detection_boxes(scene.predictions, truth=False)
    classes = loaders.evaluated_classes(config, scene.truth, scene.predictions)
    print(
        f"{args.frames} frames: {scene.truth.num_cuboids()} truth and {scene.predictions.num_cuboids()} predicted boxes, "
        f"classes {', '.join(classes)}; best of {args.repeats}"
    )

    avlabel_nuscenes_metrics(scene.predictions, scene.truth, config)  # warm-up: load numba's cache
    evaluate(scene.predictions, scene.truth, config, world_from_ego=scene.poses)
    ours, (our_map, our_nds) = best_time(lambda: avlabel_nuscenes_metrics(scene.predictions, scene.truth, config), args.repeats)
    devkit, (devkit_map, devkit_nds) = best_time(lambda: devkit_nuscenes_metrics(truth_boxes, prediction_boxes, classes), args.repeats)
    full, result = best_time(lambda: evaluate(scene.predictions, scene.truth, config), args.repeats)
    with_poses, _ = best_time(lambda: evaluate(scene.predictions, scene.truth, config, world_from_ego=scene.poses), args.repeats)

    print(f"nuScenes detection metrics (mAP {our_map:.6f}, NDS {our_nds:.6f}; devkit mAP {devkit_map:.6f}, NDS {devkit_nds:.6f})")
    print(f"  nuscenes-devkit accumulate/calc_ap/calc_tp  {devkit * 1e3:9.1f} ms")
    print(f"  avlabel, from Labels                        {ours * 1e3:9.1f} ms   {devkit / ours:6.1f}x faster")
    print(f"  |mAP difference| {abs(our_map - devkit_map):.1e}, |NDS difference| {abs(our_nds - devkit_nds):.1e}")
    print("avlabel whole evaluation (detection + KITTI AP + confusion, tracking with HOTA/AMOTA, effort)")
    print(f"  without poses                               {full * 1e3:9.1f} ms   ({devkit / full:.1f}x the devkit's detection time)")
    print(f"  with poses (range filter, 4 distance bands) {with_poses * 1e3:9.1f} ms")
    print(f"  headline: {result.headline()}")


if __name__ == "__main__":
    main()
