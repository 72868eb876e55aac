"""Evaluation of labels against ground truth: detection, tracking, annotation effort.

As the nuScenes devkit lays out its tasks:

    settings.py       the [evaluation] config section (per-class tables)
    data_classes.py   the flattened inputs (BoxTable) and every result, frozen dataclasses
    loaders.py        Labels -> BoxTable: frames by timestamp, ego distances, don't-care regions
    algo.py           detection metrics (nuScenes AP / TP errors / NDS, KITTI R40 AP, confusion)
    tracking_algo.py  CLEAR MOT and IDF1 (motmetrics), HOTA (TrackEval), AMOTA/AMOTP (nuScenes)
    effort.py         no-edit share and edits per track under a track-level correction model
    kernels.py        numba kernels (matching, KITTI statistics, fewest keyframes)
    evaluate.py       evaluate() and evaluate_paths(), the entry points
    render.py         write_report(): one self-contained HTML page
    synthetic.py      synthetic truth and imperfect labels for tests, benchmarks and docs
"""
