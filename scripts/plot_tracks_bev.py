"""Bird's-eye plot of one log's tracks: truth beside avlabel's offline tracking.

    .venv/bin/python scripts/plot_tracks_bev.py [--source scene|sim] [--seed 10] [--out docs/tracks_bev.png]

Top: the truth tracks, each in its own colour, over the raw proposals (grey dots) and the
ego path (black). Bottom: the tracked output; a tracked id takes the colour of the truth
track it covers most (so one object has one colour in both panels); ids that cover no
truth are drawn dashed in red. Footprints are drawn every `--every` sweeps; interpolated
boxes dotted. Text in the bottom panel: MOTA, HOTA and ID switches for cars.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tracking"))

from tracking_inputs import scene_inputs, sim_available, sim_inputs  # noqa: E402

from avlabel.config import load_config  # noqa: E402
from avlabel.eval.evaluate import evaluate  # noqa: E402
from avlabel.eval.settings import EvaluationConfig, TrackingSettings  # noqa: E402
from avlabel.structs import Labels, box_corners  # noqa: E402
from avlabel.tracking.track import track  # noqa: E402


def _colours(track_ids: list[str]) -> dict[str, tuple[float, ...]]:
    palette = plt.get_cmap("tab20")
    return {track_id: palette(index % 20) for index, track_id in enumerate(sorted(track_ids, key=lambda text: (len(text), text)))}


def _owner_of(tracked: Labels, truth: Labels) -> dict[str, str | None]:
    """Each tracked id -> the truth id whose boxes it is nearest (within 2 m) most often."""
    votes: dict[str, Counter] = defaultdict(Counter)
    truth_frames = {frame.timestamp_us: frame for frame in truth.frames}
    for frame in tracked.frames:
        expected = truth_frames.get(frame.timestamp_us)
        if expected is None or not len(expected):
            continue
        centres = np.array([cuboid.center[:2] for cuboid in expected])
        for cuboid in frame:
            distance = np.linalg.norm(centres - cuboid.center[:2], axis=1)
            nearest = int(np.argmin(distance))
            if distance[nearest] < 2.0:
                votes[cuboid.track_id][expected.cuboids[nearest].track_id] += 1
    return {track_id: (votes[track_id].most_common(1)[0][0] if votes[track_id] else None) for track_id in tracked.tracks()}


def _draw(axis, labels: Labels, colour_of, every: int, dashed: set[str] = frozenset()) -> None:
    for track_id, track in labels.tracks().items():
        colour = colour_of(track_id)
        style = "--" if track_id in dashed else "-"
        axis.plot(track.boxes[:, 0], track.boxes[:, 1], style, color=colour, linewidth=1.2)
        for box in track.boxes[::every]:
            corners = box_corners(box)[[0, 1, 5, 4, 0], :2]
            axis.plot(corners[:, 0], corners[:, 1], style, color=colour, linewidth=0.6)
    for frame in labels.frames:
        for cuboid in frame:
            if cuboid.attributes.get("state") == "interpolated":
                corners = box_corners(cuboid.box)[[0, 1, 5, 4, 0], :2]
                axis.plot(corners[:, 0], corners[:, 1], ":", color=colour_of(cuboid.track_id), linewidth=0.8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("scene", "sim"), default="scene")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--cache")
    parser.add_argument("--window", type=float, nargs=4, metavar=("XMIN", "XMAX", "YMIN", "YMAX"), help="zoom to this world-frame window")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "tracks_bev.png"))
    arguments = parser.parse_args()
    if arguments.source == "sim" and not sim_available():
        sys.exit("avlabel.sim or avlabel.perception.propose is not available yet; use --source scene")
    with tempfile.TemporaryDirectory() as scratch:
        inputs = (
            sim_inputs(arguments.seed, arguments.seconds, Path(arguments.cache) if arguments.cache else Path(scratch))
            if arguments.source == "sim"
            else scene_inputs(arguments.seed, arguments.seconds)
        )
    tracked = track(inputs.proposals, load_config().tracking, poses=inputs.poses)
    result = evaluate(tracked, inputs.truth, EvaluationConfig(tracking=TrackingSettings(hota_similarity="iou_bev")), world_from_ego=inputs.poses)
    cars = result.tracking.classes.get("car")

    truth_colours = _colours(list(inputs.truth.tracks()))
    owners = _owner_of(tracked, inputs.truth)
    unowned = {track_id for track_id, owner in owners.items() if owner is None}

    figure, axes = plt.subplots(2, 1, figsize=(18, 13), sharex=True, sharey=True)
    proposals = np.array([cuboid.center[:2] for frame in inputs.proposals for cuboid in frame]).reshape(-1, 2)
    ego = inputs.poses.world_from_ego[:, :2, 3]
    for axis, title in zip(axes, ("truth", "avlabel offline tracking")):
        axis.scatter(proposals[:, 0], proposals[:, 1], s=1, color="0.8", zorder=0, label="raw proposals")
        axis.plot(ego[:, 0], ego[:, 1], color="black", linewidth=3, alpha=0.5, zorder=5, label="ego path")
        axis.set_title(title)
        axis.set_aspect("equal")
        axis.set_ylabel("world y (m, north)")
    axes[1].set_xlabel("world x (m, east)")
    _draw(axes[0], inputs.truth, lambda track_id: truth_colours[track_id], arguments.every)
    _draw(
        axes[1], tracked, lambda track_id: (1.0, 0.0, 0.0, 1.0) if owners[track_id] is None else truth_colours[owners[track_id]],
        arguments.every, dashed=unowned,
    )
    for track_id, track_boxes in tracked.tracks().items():
        axes[1].annotate(track_id, track_boxes.boxes[0, :2], fontsize=6, color="0.2")
    if cars is not None:
        axes[1].text(
            0.01, 0.99, f"cars: MOTA {cars.mota:.3f}  HOTA(BEV IoU) {cars.hota:.3f}  ID switches {cars.id_switches} / {cars.truth_tracks} tracks\n"
            f"{len(tracked.tracks())} tracked ids ({len(unowned)} covering no truth, dashed red); dotted: interpolated boxes",
            transform=axes[1].transAxes, va="top", fontsize=9, bbox={"facecolor": "white", "alpha": 0.8},
        )
    axes[0].legend(loc="lower left", fontsize=8)
    if arguments.window:
        axes[0].set_xlim(*arguments.window[:2])
        axes[0].set_ylim(*arguments.window[2:])
    figure.suptitle(f"{inputs.name}: {len(inputs.proposals)} sweeps, bird's-eye view, world frame")
    figure.tight_layout()
    Path(arguments.out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(arguments.out, dpi=110)
    print(f"wrote {arguments.out}")


if __name__ == "__main__":
    main()
