"""Bird's-eye plot of one log's tracks: truth beside avlabel's offline tracking.

    .venv/bin/python scripts/plot_tracks_bev.py [--source scene|sim] [--seed 10] [--out docs/tracks_bev.png]

One panel shows the truth tracks, each in its own colour, the other the tracked output: a
tracked id takes the colour of the truth track it covers most (so one object has one
colour in both panels); ids that cover no truth are drawn dashed in red. Both over a map:
for a simulated log, its LiDAR points above the ground accumulated in the world frame
(grey), else the raw proposals' centres; the ego path in black. Footprints every
`--every` sweeps; interpolated boxes dotted. Only `--labels` are drawn (default vehicles).
Text: MOTA, HOTA and ID switches for cars, on the log's visible-span truth.
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
from avlabel.structs import LabelFrame, Labels, box_corners  # noqa: E402
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


def _only(labels: Labels, shown: set[str]) -> Labels:
    frames = tuple(LabelFrame(frame.timestamp_us, tuple(cuboid for cuboid in frame if cuboid.label in shown)) for frame in labels.frames)
    return Labels(frames, dict(labels.metadata))


def _map_points(inputs) -> np.ndarray | None:
    """(N, 2) world-frame LiDAR points 0.3 to 4 m above the ego's ground, from every 10th
    sweep of the simulated log the proposals came from (None if it cannot be read)."""
    source = inputs.proposals.metadata.get("source")
    if not source or not Path(source).exists():
        return None
    from avlabel.io.logstore import DriveLog

    rng = np.random.default_rng(0)
    chunks = []
    with DriveLog(source) as log:
        calibration = log.calibrations[log.lidar]
        stamps = calibration.to_log_time(log.timestamps(log.lidar))
        for index in range(0, len(stamps), 10):
            points = log.sweep(index).points[:, :3].astype(np.float64) @ calibration.ego_from_sensor[:3, :3].T + calibration.ego_from_sensor[:3, 3]
            points = points[(points[:, 2] > 0.3) & (points[:, 2] < 4.0)]
            points = points[rng.random(len(points)) < min(1.0, 15_000 / max(1, len(points)))]
            pose = inputs.poses.world_from_ego[int(np.argmin(np.abs(inputs.poses.timestamps_us - stamps[index])))]
            chunks.append(points @ pose[:3, :3].T[:, :2] + pose[:2, 3])
    return np.concatenate(chunks) if chunks else None


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
    parser.add_argument("--labels", nargs="+", default=["car", "truck"], help="classes to draw")
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

    shown = set(arguments.labels)
    truth = _only(inputs.truth, shown)
    tracked_shown = _only(tracked, shown)
    truth_colours = _colours(list(truth.tracks()))
    owners = _owner_of(tracked_shown, truth)
    unowned = {track_id for track_id, owner in owners.items() if owner is None}

    ego = inputs.poses.world_from_ego[:, :2, 3]
    boxes = np.array([cuboid.center[:2] for frame in truth.frames for cuboid in frame] + [ego.min(axis=0), ego.max(axis=0)])
    low, high = boxes.min(axis=0) - 10.0, boxes.max(axis=0) + 10.0
    if arguments.window:
        low, high = np.array(arguments.window[::2]), np.array(arguments.window[1::2])
    wide = (high[0] - low[0]) >= (high[1] - low[1])
    figure, axes = plt.subplots(2 if wide else 1, 1 if wide else 2, figsize=(18, 13) if wide else (20, 11), sharex=True, sharey=True)
    background = _map_points(inputs) if arguments.source == "sim" else None
    if background is None:
        background = np.array([cuboid.center[:2] for frame in inputs.proposals for cuboid in frame]).reshape(-1, 2)
    for axis, title in zip(axes, ("truth", "avlabel offline tracking")):
        axis.scatter(background[:, 0], background[:, 1], s=0.3, color="0.75", zorder=0, rasterized=True)
        axis.plot(ego[:, 0], ego[:, 1], color="black", linewidth=3, alpha=0.6, zorder=5, label="ego path")
        axis.set_title(title)
        axis.set_aspect("equal")
        axis.set_xlim(low[0], high[0])
        axis.set_ylim(low[1], high[1])
        axis.set_xlabel("world x (m, east)")
        axis.set_ylabel("world y (m, north)")
    _draw(axes[0], truth, lambda track_id: truth_colours[track_id], arguments.every)
    _draw(
        axes[1], tracked_shown, lambda track_id: (1.0, 0.0, 0.0, 1.0) if owners[track_id] is None else truth_colours[owners[track_id]],
        arguments.every, dashed=unowned,
    )
    for track_id, track_boxes in tracked_shown.tracks().items():
        axes[1].annotate(track_id, track_boxes.boxes[0, :2], fontsize=6, color="0.2")
    if cars is not None:
        axes[1].text(
            0.01, 0.99, f"cars within 50 m: MOTA {cars.mota:.3f}  HOTA (BEV IoU) {cars.hota:.3f}  ID switches {cars.id_switches} / {cars.truth_tracks} tracks\n"
            f"{len(tracked_shown.tracks())} tracked ids drawn ({len(unowned)} covering no truth: dashed red); dotted: interpolated boxes",
            transform=axes[1].transAxes, va="top", fontsize=9, bbox={"facecolor": "white", "alpha": 0.85},
        )
    axes[0].legend(loc="lower left", fontsize=8)
    figure.suptitle(f"{inputs.name}: {len(inputs.proposals)} sweeps, bird's-eye view, world frame; {', '.join(sorted(shown))}")
    figure.tight_layout()
    Path(arguments.out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(arguments.out, dpi=110)
    print(f"wrote {arguments.out}")


if __name__ == "__main__":
    main()
