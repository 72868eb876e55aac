"""The `avlabel` command line: parse, load config, call the library, print.

Heavy imports (open3d, the simulator, evaluation) happen inside the command that needs
them, so `avlabel info` starts fast. Errors in input are one line on stderr and exit code 2;
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from avlabel.io.errors import InputError

REPOSITORY = Path(__file__).resolve().parent.parent
SAMPLE_LOG = REPOSITORY / "sample_data" / "town_seed7.h5"


# --------------------------------------------------------------------------- commands


def _cmd_simulate(args: argparse.Namespace) -> int:
    from avlabel.sim import simulate

    if args.seconds <= 0:
        raise InputError(f"--seconds: expected a positive duration, got {args.seconds}")
    path = simulate(args.out, seconds=args.seconds, seed=args.seed, profile=args.profile, progress=True)
    _print_summary(path)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from avlabel.io.logstore import DriveLog

    with DriveLog(args.log) as log:
        if args.deep:
            from tqdm import tqdm

            log.validate(deep=True, progress=lambda items, desc: tqdm(items, desc=desc, unit="frame", leave=False, disable=None))
        summary = log.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(args.log, summary)
        print("valid" + (" (every frame read)" if args.deep else " (structure; --deep reads every frame)"))
    return 0


def _cmd_truth(args: argparse.Namespace) -> int:
    from avlabel.io.labels_file import write_labels
    from avlabel.io.logstore import DriveLog

    with DriveLog(args.log) as log:
        truth = log.truth()
        if truth is None:
            raise InputError(f"{args.log}: truth/cuboids: the log has no ground truth")
        write_labels(args.out, truth)
    print(f"wrote {args.out}: {len(truth)} frames, {truth.num_cuboids()} cuboids, {len(truth.tracks())} tracks")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from avlabel.config import load_config
    from avlabel.pipeline import run_logs

    config = load_config(args.config)
    summary = run_logs(args.logs, args.out, config, workers=args.workers, engine=args.engine, progress=True, on_result=_print_result)
    print(f"{len(summary.results) - len(summary.failed)} of {len(summary.results)} logs done in {summary.seconds:.1f} s; summary in {Path(args.out) / 'summary.json'}")
    for failure in summary.failed:
        print(f"FAILED {failure.error}", file=sys.stderr)
    return 1 if summary.failed else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from avlabel.config import load_config
    from avlabel.eval.evaluate import evaluate_paths
    from avlabel.pipeline import run_logs

    out = Path(args.out)
    log_path = Path(args.log) if args.log else SAMPLE_LOG
    if args.simulate or not log_path.exists():
        from avlabel.sim import simulate

        log_path = out / "demo_log.h5"
        print(f"simulating a {args.seconds:g} s drive log into {log_path}")
        simulate(log_path, seconds=args.seconds, seed=args.seed, profile="sample", progress=True)
    print(f"== drive log {log_path}")
    _print_summary(log_path)
    print("== labelling: sync, proposals, tracking")
    config = load_config(args.config)
    summary = run_logs([log_path], out, config, progress=True, on_result=_print_result)
    if summary.failed:
        print(f"FAILED {summary.failed[0].error}", file=sys.stderr)
        return 1
    result = summary.results[0]
    print("== evaluation against the log's ground truth")
    report_dir = out / "report"
    evaluation = evaluate_paths(result.labels_path, log_path, config=config.evaluation, json_path=out / "evaluation.json", report_dir=report_dir)
    _print_headline(evaluation.headline())
    print(f"labels: {result.labels_path}\nreport: {report_dir / 'index.html'}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from avlabel.config import load_config
    from avlabel.eval.evaluate import evaluate_paths

    config = load_config(args.config)
    evaluation = evaluate_paths(args.pred, args.gt, config=config.evaluation, json_path=args.json, report_dir=args.report)
    _print_headline(evaluation.headline())
    if args.json:
        print(f"result: {args.json}")
    if args.report:
        print(f"report: {Path(args.report) / 'index.html'}")
    return 0


def _cmd_project(args: argparse.Namespace) -> int:
    import cv2

    from avlabel.config import load_config
    from avlabel.io.atomic import atomic_path
    from avlabel.io.logstore import DriveLog
    from avlabel.sync.overlay import render_overlay

    if not str(args.out).lower().endswith(".png"):
        raise InputError(f"--out {args.out}: expected a .png path")
    config = load_config(args.config)
    labels = None
    if args.labels:
        from avlabel.io.labels_file import read_labels

        labels = read_labels(args.labels)
    with DriveLog(args.log) as log:
        image = render_overlay(log, args.frame, args.camera, labels, config=config, lidar=args.lidar)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"--out {args.out}: could not encode the overlay as PNG")
    with atomic_path(args.out) as temporary:
        temporary.write_bytes(encoded.tobytes())
    print(f"wrote {args.out}: {image.shape[1]}x{image.shape[0]}, sweep {args.frame}, camera {args.camera}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from avlabel.io import importers

    if args.format == "kitti-object":
        path = importers.import_kitti_object(args.source, args.out, progress=True)
    elif args.format == "kitti-raw":
        path = importers.import_kitti_raw(args.source, args.out, progress=True)
    else:
        path = importers.import_nuscenes(args.source, args.out, version=args.version, scene=args.scene, progress=True)
    _print_summary(path)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from avlabel.io import exporters
    from avlabel.io.labels_file import read_labels
    from avlabel.io.logstore import DriveLog

    labels = read_labels(args.labels)
    with DriveLog(args.log) as log:
        if args.format == "nuscenes":
            result = exporters.export_nuscenes(labels, log, args.out, version=args.version)
        else:
            exporter = {"kitti": exporters.export_kitti, "scale": exporters.export_scale, "openlabel": exporters.export_openlabel}[args.format]
            result = exporter(labels, log, args.out)
    skipped = f" ({result.skipped} the format cannot hold were left out)" if result.skipped else ""
    print(f"wrote {result.path}: {args.format}, {result.frames} frames, {result.cuboids} cuboids{skipped}")
    for note in result.notes:
        print(f"  {note}")
    return 0



def _cmd_view(args: argparse.Namespace) -> int:
    from avlabel.viewer import view

    labels_path = view(args.log, args.labels, annotator=args.annotator, cameras=args.camera, screenshot=args.screenshot, memory_gib=args.memory_gib)
    print(f"wrote {args.screenshot}; labels in {labels_path}" if args.screenshot else f"labels in {labels_path}")
    return 0

# --------------------------------------------------------------------------- output


def _print_result(result: Any) -> None:
    if result.ok:
        print(f"ok     {result.name}: {result.frames} frames, {result.cuboids} cuboids, {result.seconds:.1f} s -> {result.labels_path}")
    else:
        print(f"failed {result.name}: {result.error}")


def _print_headline(headline: dict[str, Any]) -> None:
    def number(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}"

    print(f"  detection  mAP {number(headline['mAP'])}  NDS {number(headline['NDS'])}")
    print("  AP per class  " + "  ".join(f"{label} {number(value)}" for label, value in headline["AP"].items()))
    print(f"  tracking   MOTA {number(headline['MOTA'])}  HOTA {number(headline['HOTA'])}  IDF1 {number(headline['IDF1'])}  AMOTA {number(headline['AMOTA'])}")
    print(f"  effort     no-edit share {number(headline['no_edit_share'])}  edits per track {number(headline['edits_per_track'])}")


def _print_summary(path: Any, summary: dict[str, Any] | None = None) -> None:
    if summary is None:
        from avlabel.io.logstore import DriveLog

        with DriveLog(path) as log:
            summary = log.summary()
    print(f"{path}: log {summary['name']!r}, {summary['duration_s']:.1f} s, {summary['file_size_mb']:.1f} MB, {summary['schema']}")
    print(f"  {'stream':<22}{'kind':<8}{'frames':>7}{'rate Hz':>9}{'gaps':>6}{'offset us':>11}  detail")
    for sensor, stream in summary["streams"].items():
        rate = f"{stream['rate_hz']:.1f}" if stream.get("rate_hz") else "-"
        detail = ""
        if "points" in stream:
            detail = f"{stream['points'] / max(stream['frames'], 1):,.0f} points/sweep"
        elif "detections" in stream:
            detail = f"{stream['detections'] / max(stream['frames'], 1):,.1f} detections/scan"
        elif "image_size" in stream:
            detail = f"{stream['image_size'][0]}x{stream['image_size'][1]} {stream['distortion_model']}"
        offset = stream.get("clock_offset_us", "")
        print(f"  {sensor:<22}{stream['kind']:<8}{stream['frames']:>7}{rate:>9}{stream['gaps']:>6}{offset!s:>11}  {detail}")
    if summary["truth_frames"]:
        print(f"  truth: {summary['truth_cuboids']} cuboids over {summary['truth_frames']} frames, {summary['truth_tracks']} tracks")
    else:
        print("  truth: none")


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avlabel", description="Turn drive logs into reviewed 3D cuboid labels.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each stage")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    demo = command("demo", _cmd_demo, "run the whole chain on the sample log (or a freshly simulated one) and print metrics")
    demo.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    demo.add_argument("--log", help="drive log to use instead of the sample log")
    demo.add_argument("--simulate", action="store_true", help="simulate a fresh log instead of using the sample log")
    demo.add_argument("--seconds", type=float, default=4.0, help="length of a simulated log")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--config", help="config TOML (default configs/default.toml)")

    simulate = command("simulate", _cmd_simulate, "write a synthetic drive log with exact ground truth")
    simulate.add_argument("out", help="output .h5 path")
    simulate.add_argument("--seconds", type=float, default=20.0)
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--profile", default="default", help="sensor profile: default, sample or test")

    info = command("info", _cmd_info, "summarise and validate a drive log")
    info.add_argument("log")
    info.add_argument("--deep", action="store_true", help="read and check every frame")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")

    truth = command("truth", _cmd_truth, "write a log's ground truth as a labels file")
    truth.add_argument("log")
    truth.add_argument("--out", required=True)

    run = command("run", _cmd_run, "label drive logs: writes OUT/<log>/labels.json and manifest.json")
    run.add_argument("logs", nargs="+", metavar="LOG.h5")
    run.add_argument("--out", required=True)
    run.add_argument("--config", help="config TOML (default configs/default.toml)")
    run.add_argument("--workers", type=int, help="logs processed in parallel")
    run.add_argument("--engine", choices=("local", "ray"), help="local process pool or a Ray cluster (RAY_ADDRESS)")

    project = command("project", _cmd_project, "draw a sweep's points and cuboids onto a camera image (PNG)")
    project.add_argument("log", metavar="LOG.h5")
    project.add_argument("--frame", type=int, required=True, help="LiDAR sweep index")
    project.add_argument("--camera", required=True, help="camera name (see avlabel info)")
    project.add_argument("--out", required=True, help="output .png path")
    project.add_argument("--labels", help="labels file to draw (default: the log's truth, if any)")
    project.add_argument("--lidar", help="LiDAR whose sweeps are counted (default: the log's first)")
    project.add_argument("--config", help="config TOML (default configs/default.toml)")

    importing = command("import", _cmd_import, "import a dataset's recording as a drive log (truth in the world frame)")
    import_formats = importing.add_subparsers(dest="format", required=True, metavar="FORMAT")
    kitti_object = import_formats.add_parser("kitti-object", help="KITTI object folder: velodyne/, calib/, image_2/, label_2/")
    kitti_object.add_argument("source", metavar="DIR")
    kitti_object.add_argument("out", metavar="OUT.h5")
    kitti_raw = import_formats.add_parser("kitti-raw", help="KITTI raw drive folder (*_sync): velodyne_points, image_0x, oxts, calib files")
    kitti_raw.add_argument("source", metavar="DRIVE_DIR")
    kitti_raw.add_argument("out", metavar="OUT.h5")
    nuscenes = import_formats.add_parser("nuscenes", help="one nuScenes scene, through nuscenes-devkit")
    nuscenes.add_argument("source", metavar="DATAROOT")
    nuscenes.add_argument("out", metavar="OUT.h5")
    nuscenes.add_argument("--version", default="v1.0-mini", help="table folder under DATAROOT (default v1.0-mini)")
    nuscenes.add_argument("--scene", required=True, help="scene name, e.g. scene-0061")

    export = command("export", _cmd_export, "write labels over a drive log in another format")
    export.add_argument("format", choices=("kitti", "nuscenes", "scale", "openlabel"))
    export.add_argument("labels", metavar="LABELS", help="labels file (avlabel.labels/1)")
    export.add_argument("log", metavar="LOG.h5")
    export.add_argument("out", metavar="OUT", help="output folder (an OpenLABEL .json file for openlabel)")
    export.add_argument("--version", default="v1.0-mini", help="nuScenes table folder name (default v1.0-mini)")
    viewer = command("view", _cmd_view, "review and correct labels in the Open3D viewer (edits journaled, saved atomically)")
    viewer.add_argument("log", metavar="LOG.h5")
    viewer.add_argument("--labels", help="labels file to review (default: LOG.labels.json beside the log, started from the log's truth, else empty)")
    viewer.add_argument("--annotator", required=True, help="your name, recorded with every edit")
    viewer.add_argument("--camera", action="append", help="camera to show (repeatable; default: all)")
    viewer.add_argument("--memory-gib", type=float, default=None,
                        help="how much of the log to keep in memory, read while you are idle (default 2; 0: only the last few sweeps)")
    viewer.add_argument("--screenshot", metavar="PNG", help="save the window as a PNG and exit (headless: starts Xvfb if DISPLAY is unset)")
    evaluate = command("eval", _cmd_eval, "score labels against ground truth (a drive log's truth or a labels file)")
    evaluate.add_argument("--pred", required=True, metavar="LABELS", help="labels file to score")
    evaluate.add_argument("--gt", required=True, metavar="LOG_OR_LABELS", help="drive log (.h5) with truth, or a labels file")
    evaluate.add_argument("--json", metavar="FILE", help="write the full result as JSON")
    evaluate.add_argument("--report", metavar="DIR", help="write an HTML report (DIR/index.html)")
    evaluate.add_argument("--config", help="config TOML (default configs/default.toml)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except InputError as error:
        if args.debug:
            raise
        print(f"avlabel: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("avlabel: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
