"""Bird's-eye picture of one sweep's proposals against the truth: docs/proposals_bev.png.

    .venv/bin/python scripts/plot_proposals_bev.py [--seed 11] [--sweep 10] [--out docs/proposals_bev.png]

Grey dots: ground (as the proposal step decided); dark dots: everything else; coloured
dots: points of a proposal. Green outlines: truth cuboids hit by at least 20 points
(dashed: fewer); coloured outlines: proposals by class, with their score; a tick from
each box's centre shows its heading. Ego frame, metres, 50 m around the ego.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from avlabel.io.logstore import DriveLog  # noqa: E402
from avlabel.perception.propose import log_frame_input, propose_ego  # noqa: E402
from avlabel.perception.settings import PerceptionConfig  # noqa: E402
from avlabel.structs import box_corners  # noqa: E402

COLOURS = {"car": "tab:blue", "truck": "tab:purple", "pedestrian": "tab:red", "cyclist": "tab:orange", "other": "tab:brown"}


def draw_box(axes, box: np.ndarray, colour: str, *, style: str = "-", width: float = 1.2, label: str | None = None) -> None:
    corners = box_corners(box)[[0, 1, 5, 4, 0], :2]
    axes.plot(corners[:, 0], corners[:, 1], style, color=colour, linewidth=width)
    tip = box[:2] + 0.5 * box[3] * np.array([np.cos(box[6]), np.sin(box[6])])
    axes.plot([box[0], tip[0]], [box[1], tip[1]], style, color=colour, linewidth=width)
    if label:
        axes.text(box[0] + 0.6, box[1] + 0.6, label, color=colour, fontsize=6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--sweep", type=int, default=10)
    parser.add_argument("--log", type=Path, default=None, help="an existing simulated log instead of simulating")
    parser.add_argument("--radius", type=float, default=50.0)
    parser.add_argument("--out", type=Path, default=Path("docs/proposals_bev.png"))
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        path = arguments.log
        if path is None:
            from avlabel.sim import simulate

            path = Path(scratch) / "plot.h5"
            simulate(path, seconds=arguments.seconds, seed=arguments.seed, profile="default", progress=False)
        with DriveLog(path) as log:
            index = min(arguments.sweep, log.num_frames(log.lidar) - 1)
            frame = log_frame_input(log, index)
            points, world_from_ego, timestamp_us = frame.points, frame.world_from_ego, frame.timestamp_us
            config = PerceptionConfig()
            proposals = propose_ego(points, config, radar=frame.radar or None, ego_velocity_ego=world_from_ego[:3, :3].T @ frame.ego_velocity,
                                    sensor_origin=frame.sensor_origin)
            truth = {frame.timestamp_us: frame for frame in log.truth().frames}.get(timestamp_us)
            ego_from_world = np.linalg.inv(world_from_ego)
            truth_boxes, truth_points, truth_labels = [], [], []
            for cuboid in truth.cuboids if truth is not None else ():
                box = cuboid.box.copy()
                box[:3] = ego_from_world[:3, :3] @ box[:3] + ego_from_world[:3, 3]
                box[6] += np.arctan2(ego_from_world[1, 0], ego_from_world[0, 0])
                truth_boxes.append(box)
                truth_points.append(cuboid.num_points)
                truth_labels.append(cuboid.label)

    figure, axes = plt.subplots(figsize=(12, 12), dpi=130)
    near = np.hypot(points[:, 0], points[:, 1]) < arguments.radius * 1.05
    ground = proposals.point_height < config.ground.ground_threshold
    axes.scatter(points[near & ground, 0], points[near & ground, 1], s=0.15, c="0.8", linewidths=0)
    axes.scatter(points[near & ~ground, 0], points[near & ~ground, 1], s=0.3, c="0.35", linewidths=0)
    for number, label in enumerate(proposals.labels):
        mine = proposals.point_cluster == number
        axes.scatter(points[mine, 0], points[mine, 1], s=0.8, color=COLOURS.get(label, "k"), linewidths=0)
    for box, count, label in zip(truth_boxes, truth_points, truth_labels):
        if np.hypot(box[0], box[1]) <= arguments.radius:
            draw_box(axes, box, "tab:green", style="-" if count >= 20 else "--", width=2.2 if count >= 20 else 1.0)
    for box, label, score in zip(proposals.boxes, proposals.labels, proposals.scores):
        if np.hypot(box[0], box[1]) <= arguments.radius:
            draw_box(axes, box, COLOURS.get(label, "k"), label=f"{label} {score:.2f}")
    axes.plot(0, 0, marker=(3, 0, -90), markersize=12, color="k")
    axes.set_xlim(-arguments.radius, arguments.radius)
    axes.set_ylim(-arguments.radius, arguments.radius)
    axes.set_aspect("equal")
    axes.set_xlabel("x forward (m)")
    axes.set_ylabel("y left (m)")
    handles = [plt.Line2D([], [], color="tab:green", linewidth=2.2, label="truth (>= 20 points)"),
               plt.Line2D([], [], color="tab:green", linestyle="--", label="truth (< 20 points)")]
    handles += [plt.Line2D([], [], color=colour, label=f"proposal: {name}") for name, colour in COLOURS.items()]
    axes.legend(handles=handles, loc="upper right", fontsize=8)
    axes.set_title(f"proposals vs truth, simulated seed {arguments.seed}, sweep {index} (ego frame, {len(points):,} points)")
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(arguments.out, bbox_inches="tight")
    print(f"wrote {arguments.out}")


if __name__ == "__main__":
    main()
