"""The evaluation report: one self-contained HTML page (plots embedded as base64 PNG).

Sections: headline numbers; detection per class (nuScenes AP and TP errors, KITTI R40
3D/BEV AP) with precision-recall curves; distance bands and error versus distance; the
class confusion matrix; tracking per class (CLEAR, identity, HOTA, AMOTA) with track
timelines; annotation effort; the worst cases, each as a small bird's-eye picture of
truth (green) and labels (blue) around it, world frame, x right, y up.

Matplotlib draws through its Agg canvas directly (no pyplot), so rendering never touches
the caller's backend or global figure state.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from avlabel.eval.data_classes import TRACK_MATCHED, TRACK_MISSED, TRACK_SWITCHED, EvaluationResult, WorstCase
from avlabel.io.atomic import write_text
from avlabel.structs import Labels, box_corners

logger = logging.getLogger(__name__)

_TRUTH_COLOUR, _LABEL_COLOUR, _CASE_COLOUR = "#2e9e44", "#2f6fd0", "#d6332a"
_STATUS_COLOURS = {TRACK_MATCHED: "#5cb85c", TRACK_SWITCHED: "#f0ad4e", TRACK_MISSED: "#d9534f"}
_MAX_TIMELINES = 40
_WINDOW_M = 14.0  # half-width of a worst-case picture


def write_report(result: EvaluationResult, report_dir: str | os.PathLike[str], *, predictions: Labels, truth: Labels) -> Path:
    """Write `report_dir/index.html` (atomically) and return its path.

    predictions and truth are the Labels that were evaluated; they supply the boxes around
    each worst case.
    """
    directory = Path(report_dir)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"report_dir: {directory} exists and is not a directory; give a folder for index.html")
    sections = [
        _headline(result),
        _detection(result),
        _distance(result),
        _confusion(result),
        _tracking(result),
        _effort(result),
        _worst_cases(result, predictions, truth),
    ]
    page = _PAGE.format(style=_STYLE, body="\n".join(sections), classes=html.escape(", ".join(result.classes) or "none"))
    path = directory / "index.html"
    write_text(path, page)
    logger.info("wrote the evaluation report %s", path)
    return path


# --------------------------------------------------------------------------- sections


def _headline(result: EvaluationResult) -> str:
    headline = result.headline()
    cards = [
        ("mAP", headline["mAP"], "nuScenes"),
        ("NDS", headline["NDS"], "nuScenes"),
        ("AP 3D", result.detection.mean_ap_3d, "KITTI R40, IoU"),
        ("MOTA", headline["MOTA"], "CLEAR MOT"),
        ("HOTA", headline["HOTA"], f"similarity {result.config['tracking']['hota_similarity']}"),
        ("IDF1", headline["IDF1"], "identity F1"),
        ("AMOTA", headline["AMOTA"], "nuScenes tracking"),
        ("no-edit share", headline["no_edit_share"], f"3D IoU >= {result.effort.iou_threshold:g}, class right"),
        ("edits / track", headline["edits_per_track"], "per truth track"),
    ]
    body = "".join(
        f'<div class="card"><div class="value">{_number(value, 3 if name != "edits / track" else 1)}</div>'
        f'<div class="name">{html.escape(name)}</div><div class="note">{html.escape(note)}</div></div>'
        for name, value, note in cards
    )
    facts = (
        f"{result.frames} frames; {result.truth_cuboids} truth cuboids, {result.prediction_cuboids} labelled cuboids; "
        f"{result.ignore_regions} don't-care regions; "
        + ("ego poses used: range filter and distance bands." if result.poses_used else "no ego poses: no range filter or distance bands.")
    )
    return f'<section><p class="facts">{html.escape(facts)}</p><div class="cards">{body}</div></section>'


def _detection(result: EvaluationResult) -> str:
    detection = result.detection
    thresholds = result.config["detection"]["distance_thresholds_m"]
    header = ["class", "truth", "labels", *[f"AP@{value:g}m" for value in thresholds], "AP", "ATE m", "ASE", "AOE rad", "AVE m/s", "AAE", "AP3D R40", "APBEV R40"]
    rows = []
    for label, item in detection.classes.items():
        errors = item.tp_errors
        rows.append([
            label, item.num_truth, item.num_predictions, *[_number(item.ap[value]) for value in thresholds], _number(item.mean_ap),
            *[_number(errors[name]) for name in ("trans_err", "scale_err", "orient_err", "vel_err", "attr_err")],
            _number(item.ap_3d), _number(item.ap_bev),
        ])
    errors = detection.tp_errors
    rows.append([
        "mean", sum(item.num_truth for item in detection.classes.values()), sum(item.num_predictions for item in detection.classes.values()),
        *["" for _ in thresholds], _number(detection.mean_ap),
        *[_number(errors[name]) for name in ("trans_err", "scale_err", "orient_err", "vel_err", "attr_err")],
        _number(detection.mean_ap_3d), _number(detection.mean_ap_bev),
    ])
    scope = "within each class's range from the ego" if result.poses_used else "all (no ego poses, so no range filter)"
    parts = [f"<h2>Detection</h2><p>Truth and labels {html.escape(scope)}; AP and TP errors as nuScenes, AP3D/APBEV as KITTI R40.</p>", _table(header, rows, last_is_total=True)]
    if detection.classes:
        parts.append(_figure_tag(_precision_recall_figure(result), "precision-recall curves per class"))
    return "<section>" + "".join(parts) + "</section>"


def _distance(result: EvaluationResult) -> str:
    bands = result.detection.distance_bands
    if not bands:
        return "<section><h2>By distance from the ego</h2><p>No ego poses were given: evaluate against a drive log to see results by distance.</p></section>"
    header = ["band", "truth", "labels", "mAP", *[f"AP {label}" for label in result.classes], *[f"AP3D {label}" for label in result.classes]]
    rows = [
        [
            f"{band.lower_m:g}-{band.upper_m:g} m" if math.isfinite(band.upper_m) else f"{band.lower_m:g} m +",
            band.num_truth, band.num_predictions, _number(band.mean_ap),
            *[_number(band.ap[label]) for label in result.classes], *[_number(band.ap_3d[label]) for label in result.classes],
        ]
        for band in bands
    ]
    figure = _error_distance_figure(result)
    return "<section><h2>By distance from the ego</h2>" + _table(header, rows) + (figure and _figure_tag(figure, "error versus distance")) + "</section>"


def _confusion(result: EvaluationResult) -> str:
    confusion = result.detection.confusion
    if confusion.counts.sum() == 0:
        return ""
    return (
        "<section><h2>Class confusion</h2><p>Truth and labels paired by centre distance below "
        f"{result.config['detection']['tp_distance_threshold_m']:g} m regardless of class; \"none\" collects what has no partner.</p>"
        + _figure_tag(_confusion_figure(result), "confusion matrix")
        + "</section>"
    )


def _tracking(result: EvaluationResult) -> str:
    tracking = result.tracking
    header = ["class", "truth", "labels", "MOTA", "MOTP m", "IDF1", "IDS", "FRAG", "MT", "ML", "HOTA", "DetA", "AssA", "LocA", "AMOTA", "AMOTP m"]
    rows = [
        [
            label, item.num_truth, item.num_predictions, _number(item.mota), _number(item.motp), _number(item.idf1), item.id_switches,
            item.fragmentations, item.mostly_tracked, item.mostly_lost, _number(item.hota), _number(item.deta), _number(item.assa),
            _number(item.loca), _number(item.amota), _number(item.amotp),
        ]
        for label, item in tracking.classes.items()
    ]
    rows.append([
        "all", sum(item.num_truth for item in tracking.classes.values()), sum(item.num_predictions for item in tracking.classes.values()),
        _number(tracking.mota), _number(tracking.motp), _number(tracking.idf1), tracking.id_switches, tracking.fragmentations,
        sum(item.mostly_tracked for item in tracking.classes.values()), sum(item.mostly_lost for item in tracking.classes.values()),
        _number(tracking.hota), _number(tracking.deta), _number(tracking.assa), _number(tracking.loca), _number(tracking.amota), _number(tracking.amotp),
    ])
    parts = ["<h2>Tracking</h2>", _table(header, rows, last_is_total=True)]
    timelines = result.diagnostics.timelines
    if timelines:
        note = f" (the {_MAX_TIMELINES} longest of {len(timelines)})" if len(timelines) > _MAX_TIMELINES else ""
        parts.append(f"<h3>Truth track timelines{note}</h3>")
        parts.append(_figure_tag(_timeline_figure(result), "track timelines"))
    return "<section>" + "".join(parts) + "</section>"


def _effort(result: EvaluationResult) -> str:
    effort = result.effort
    facts = [
        ("truth cuboids needing no edit", f"{effort.no_edit_cuboids} of {effort.truth_cuboids} ({_percent(effort.no_edit_share)})"),
        ("edits per truth track", _number(effort.edits_per_track, 2)),
        ("keyframe edits", effort.keyframe_edits),
        ("size edits", effort.size_edits),
        ("class edits", effort.class_edits),
        ("trim edits", effort.trim_edits),
        ("labelled tracks to delete", effort.deleted_tracks),
        ("truth tracks to draw from scratch", effort.created_tracks),
    ]
    summary = _table(["", ""], [[name, value] for name, value in facts], header_row=False)
    costly = sorted(effort.tracks, key=lambda track: -track.edits)[:10]
    rows = [
        [track.truth_track_id, track.label, track.frames, track.predicted_track_id or "(none)", track.keyframes,
         "yes" if track.size_edit else "", "yes" if track.class_edit else "", track.trims or "", track.edits]
        for track in costly
    ]
    table = _table(["truth track", "class", "frames", "labelled track", "keyframes", "size", "class", "trims", "edits"], rows) if rows else ""
    return (
        "<section><h2>Annotation effort</h2><p>Corrections apply to whole tracks: a keyframe sets a box, the correction is "
        "interpolated linearly between keyframes; one size per track (model in avlabel.eval.effort).</p>"
        + summary + ("<h3>Tracks needing the most edits</h3>" + table if table else "") + "</section>"
    )


def _worst_cases(result: EvaluationResult, predictions: Labels, truth: Labels) -> str:
    if not result.worst_cases:
        return ""
    titles = {"localisation": "Largest localisation errors", "false_positive": "Highest-scored false positives", "miss": "Misses nearest the ego"}
    truth_frames = {frame.timestamp_us: frame for frame in truth}
    label_frames = {frame.timestamp_us: frame for frame in predictions}
    parts = ["<h2>Worst cases</h2><p>Bird's-eye view, world frame: truth green, labels blue, the case in red.</p>"]
    for kind, title in titles.items():
        cases = [case for case in result.worst_cases if case.kind == kind]
        if not cases:
            continue
        images = "".join(
            '<figure class="case">' + _image_tag(_case_figure(case, truth_frames.get(case.timestamp_us), label_frames.get(case.timestamp_us)), case.description)
            + f"<figcaption>{html.escape(case.label)} at {case.timestamp_us} us: {html.escape(case.description)}</figcaption></figure>"
            for case in cases
        )
        parts.append(f'<h3>{html.escape(title)}</h3><div class="cases">{images}</div>')
    return "<section>" + "".join(parts) + "</section>"


# --------------------------------------------------------------------------- figures


def _precision_recall_figure(result: EvaluationResult) -> Figure:
    classes = list(result.detection.classes.items())
    columns = min(4, len(classes))
    rows = math.ceil(len(classes) / columns)
    figure = Figure(figsize=(3.4 * columns, 3.0 * rows), layout="constrained")
    for index, (label, item) in enumerate(classes):
        axes = figure.add_subplot(rows, columns, index + 1)
        for threshold, curve in item.curves.items():
            axes.plot(curve.recall, curve.precision, label=f"{threshold:g} m (AP {item.ap[threshold]:.2f})")
        axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title=f"{label} ({item.num_truth} truth)")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7, loc="lower left")
    return figure


def _error_distance_figure(result: EvaluationResult) -> Figure | None:
    diagnostics = result.diagnostics
    known = np.isfinite(diagnostics.match_ego_distance)
    if not known.any():
        return None
    figure = Figure(figsize=(11, 3.4), layout="constrained")
    edges = np.array([*result.config["distance_band_edges_m"], max(float(np.nanmax(diagnostics.match_ego_distance)) + 1e-6, result.config["distance_band_edges_m"][-1] + 1)])
    for position, (values, name) in enumerate(
        ((diagnostics.match_trans_err, "translation error (m)"), (diagnostics.match_scale_err, "scale error (1 - IoU)"), (diagnostics.match_orient_err, "orientation error (rad)"))
    ):
        axes = figure.add_subplot(1, 3, position + 1)
        for index, label in enumerate(result.classes):
            chosen = known & (diagnostics.match_class_index == index)
            axes.scatter(diagnostics.match_ego_distance[chosen], values[chosen], s=4, alpha=0.35, label=label)
        centres, means = [], []
        for lower, upper in zip(edges[:-1], edges[1:]):
            inside = known & (diagnostics.match_ego_distance >= lower) & (diagnostics.match_ego_distance < upper)
            if inside.any():
                centres.append((lower + upper) / 2)
                means.append(float(np.mean(values[inside])))
        axes.plot(centres, means, "k-o", markersize=4, label="band mean")
        axes.set(xlabel="distance from the ego (m)", ylabel=name)
        axes.grid(alpha=0.3)
        if position == 0:
            axes.legend(fontsize=7, markerscale=3)
    return figure


def _confusion_figure(result: EvaluationResult) -> Figure:
    confusion = result.detection.confusion
    size = len(confusion.labels)
    figure = Figure(figsize=(0.75 * size + 1.6, 0.62 * size + 1.2), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    counts = confusion.counts.astype(float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(size):
        for column in range(size):
            if row == size - 1 and column == size - 1:
                continue
            axes.text(column, row, str(int(counts[row, column])), ha="center", va="center", color="white" if shares[row, column] > 0.6 else "black", fontsize=8)
    axes.set_xticks(range(size), confusion.labels, rotation=30, ha="right", fontsize=8)
    axes.set_yticks(range(size), confusion.labels, fontsize=8)
    axes.set_xlabel("labelled class", fontsize=9)
    axes.set_ylabel("truth class", fontsize=9)
    return figure


def _timeline_figure(result: EvaluationResult) -> Figure:
    timelines = sorted(result.diagnostics.timelines, key=lambda timeline: -len(timeline.timestamps_us))[:_MAX_TIMELINES]
    timelines.sort(key=lambda timeline: (timeline.label, int(timeline.timestamps_us[0])))
    frames = result.diagnostics.frame_timestamps_us
    start = frames[0] if len(frames) else 0
    step = float(np.median(np.diff(frames))) / 1e6 if len(frames) > 1 else 0.1
    figure = Figure(figsize=(11, 0.9 + 0.22 * len(timelines)), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    for row, timeline in enumerate(timelines):
        times = (timeline.timestamps_us - start) / 1e6
        for status, colour in _STATUS_COLOURS.items():
            chosen = timeline.status == status
            axes.broken_barh([(time, step) for time in times[chosen]], (row - 0.4, 0.8), facecolors=colour)
    axes.set_yticks(range(len(timelines)), [f"{timeline.label} {timeline.track_id}" for timeline in timelines], fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel("time (s)")
    handles = [axes.bar(0, 0, color=colour, label=name) for name, colour in zip(("tracked", "ID switch", "missed"), _STATUS_COLOURS.values())]
    axes.legend(handles=handles, loc="upper right", fontsize=7, ncols=3)
    return figure


def _case_figure(case: WorstCase, truth_frame: Iterable | None, label_frame: Iterable | None) -> Figure:
    focus = case.truth_box if case.truth_box is not None else case.prediction_box
    centre = focus[:2] if focus is not None else np.zeros(2)
    figure = Figure(figsize=(2.9, 2.9), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    # Labels, then the case, then the truth on top (thin), so a box under the case still shows.
    _draw_frame(axes, label_frame, centre, _LABEL_COLOUR, 1.0)
    if case.truth_box is not None:
        _draw_box(axes, case.truth_box, _TRUTH_COLOUR, 3.0)
    if case.prediction_box is not None:
        _draw_box(axes, case.prediction_box, _CASE_COLOUR, 2.4)
    _draw_frame(axes, truth_frame, centre, _TRUTH_COLOUR, 1.1)
    axes.set(xlim=(centre[0] - _WINDOW_M, centre[0] + _WINDOW_M), ylim=(centre[1] - _WINDOW_M, centre[1] + _WINDOW_M), aspect="equal")
    axes.tick_params(labelsize=6)
    axes.grid(alpha=0.25)
    return figure


def _draw_frame(axes: object, frame: Iterable | None, centre: np.ndarray, colour: str, width: float) -> None:
    for cuboid in frame or ():
        if np.abs(cuboid.center[:2] - centre).max() < _WINDOW_M + 5:
            _draw_box(axes, cuboid.box, colour, width, dashed=cuboid.label == "ignore" or cuboid.attributes.get("ignore") is True)


def _draw_box(axes: object, box: np.ndarray, colour: str, width: float, *, dashed: bool = False) -> None:
    """Footprint outline and a heading tick from the centre to the front edge."""
    corners = box_corners(box)[[0, 4, 5, 1, 0], :2]
    style = "--" if dashed else "-"
    axes.plot(corners[:, 0], corners[:, 1], style, color=colour, linewidth=width)  # type: ignore[attr-defined]
    front = box_corners(box)[[0, 1], :2].mean(axis=0)
    axes.plot([box[0], front[0]], [box[1], front[1]], "-", color=colour, linewidth=width)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- HTML pieces


def _figure_tag(figure: Figure | None, alternative: str) -> str:
    if figure is None:
        return ""
    return f'<div class="figure">{_image_tag(figure, alternative)}</div>'


def _image_tag(figure: Figure, alternative: str) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=110)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alternative)}" src="data:image/png;base64,{encoded}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], *, last_is_total: bool = False, header_row: bool = True) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(str(name))}</th>" for name in header) + "</tr>" if header_row else ""
    body = []
    for index, row in enumerate(rows):
        css = ' class="total"' if last_is_total and index == len(rows) - 1 else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(str(value))}</td>" for value in row) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _number(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, (int, np.integer)):
        return str(value)
    return f"{float(value):.{digits}f}"  # type: ignore[arg-type]


def _percent(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{100 * value:.1f}%"


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px 32px; color: #222; background: #fafafa; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 28px; }
h3 { font-size: 14px; margin: 16px 0 6px; color: #444; }
.facts { color: #555; margin-top: 2px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; }
.card { background: white; border: 1px solid #e1e1e1; border-radius: 6px; padding: 8px 12px; min-width: 96px; }
.card .value { font-size: 22px; font-weight: 600; } .card .name { font-size: 13px; font-weight: 600; color: #333; }
.card .note { font-size: 11px; color: #777; }
table { border-collapse: collapse; background: white; font-size: 12px; margin: 6px 0; }
th, td { border: 1px solid #e3e3e3; padding: 3px 8px; text-align: right; } th { background: #f1f3f6; }
td:first-child, th:first-child { text-align: left; } tr.total td { font-weight: 600; background: #f7f7f7; }
.figure img { max-width: 100%; background: white; border: 1px solid #eee; margin-top: 6px; }
.cases { display: flex; flex-wrap: wrap; gap: 10px; } figure.case { margin: 0; background: white; border: 1px solid #e3e3e3; padding: 4px; }
figure.case img { width: 300px; } figcaption { font-size: 11px; color: #444; max-width: 300px; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>avlabel evaluation</title><style>{style}</style></head>
<body><h1>avlabel evaluation</h1><p class="facts">classes: {classes}</p>
{body}
</body></html>
"""
