"""Render the simulator's documentation figures.

    python scripts/render_sim_docs.py [--seed 0] [--time 10.05] [--profile default] [--out docs]

Writes docs/sim_camera.png (the front camera at the sweep nearest --time, truth cuboids
drawn through the lens model) and docs/sim_sweep.png (bird's-eye view of that LiDAR sweep,
points coloured by semantic class, truth boxes outlined). Uses the same scenario, rig and
models as `avlabel simulate` for the seed and profile, without writing a whole log.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from avlabel.io.logstore import SEMANTIC_CLASSES  # noqa: E402
from avlabel.sim import get_profile, simulation_world  # noqa: E402
from avlabel.sim.camera import pixel_rays, render  # noqa: E402
from avlabel.sim.lidar import simulate_sweep  # noqa: E402
from avlabel.sim.navigation import ego_poses  # noqa: E402
from avlabel.sim.raycast import ObjectAtlas, StaticScene  # noqa: E402
from avlabel.sim.rig import LIDAR, calibration, lidar_beams  # noqa: E402
from avlabel.sim.truth import truth_frame  # noqa: E402
from avlabel.structs import box_corners  # noqa: E402

SEMANTIC_COLORS = {
    "unlabelled": "#000000", "road": "#5a5a66", "sidewalk": "#d28cd2", "terrain": "#8fcf52", "building": "#e8872e",
    "pole": "#f2d500", "vegetation": "#1f8a2c", "object": "#e0202a", "noise": "#00b4ff",
}
_EDGES = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)]


def camera_figure(scenario, static, profile, time: float, cuboids, out: Path) -> None:
    camera = calibration("camera_front", profile.camera_size)
    rays = pixel_rays(camera)
    rendering = render(scenario, static, camera, rays, time, np.random.default_rng(0), shadows=profile.camera_shadows)
    # beyond the image's widest ray the lens polynomial folds back: draw only boxes inside it
    widest = float(np.max(np.hypot(rays[:, 0], rays[:, 1]) / rays[:, 2]))
    image = cv2.cvtColor(rendering.image, cv2.COLOR_RGB2BGR)
    camera_from_world = np.linalg.inv(ego_poses(scenario, np.array([time]))[0] @ camera.ego_from_sensor)
    for cuboid in cuboids:
        corners = box_corners(cuboid.box) @ camera_from_world[:3, :3].T + camera_from_world[:3, 3]
        if corners[:, 2].min() < 1.0 or np.linalg.norm(corners.mean(axis=0)) > 70.0:
            continue
        if np.max(np.hypot(corners[:, 0], corners[:, 1]) / corners[:, 2]) > widest:
            continue
        for first, second in _EDGES:  # sample each edge so it bends with the lens
            line = np.linspace(corners[first], corners[second], 12)
            pixels, _ = cv2.projectPoints(line.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), camera.intrinsics, camera.distortion)
            cv2.polylines(image, [pixels.reshape(-1, 2).round().astype(np.int32)], False, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.imwrite(str(out), image)


def sweep_figure(scenario, static, profile, time: float, out: Path) -> list:
    lidar = calibration(LIDAR)
    sweep = simulate_sweep(scenario, static, ObjectAtlas(scenario.agents), lidar.ego_from_sensor, lidar_beams(profile.lidar_beams),
                           profile.lidar_columns, time, np.random.default_rng(0))
    frame = truth_frame(scenario, time, 0, 0, sweep.points_per_instance)
    lidar_from_world = np.linalg.inv(ego_poses(scenario, np.array([time]))[0] @ lidar.ego_from_sensor)
    figure, axes = plt.subplots(figsize=(10, 10), dpi=110)
    colors = np.array([matplotlib.colors.to_rgb(SEMANTIC_COLORS[name]) for name in SEMANTIC_CLASSES])
    points = sweep.points
    axes.scatter(points[:, 0], points[:, 1], s=0.15, c=colors[sweep.truth.semantic], linewidths=0)
    for cuboid in frame:
        corners = box_corners(cuboid.box)[[0, 1, 5, 4, 0]] @ lidar_from_world[:3, :3].T + lidar_from_world[:3, 3]
        axes.plot(corners[:, 0], corners[:, 1], color="black", linewidth=0.8)
        if cuboid.attributes["moving"]:
            axes.plot(corners[:2, 0], corners[:2, 1], color="red", linewidth=1.4)  # the front edge
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=SEMANTIC_COLORS[name], label=name) for name in SEMANTIC_CLASSES[1:]]
    axes.legend(handles=handles, loc="upper right", fontsize=8)
    axes.set_xlim(-60, 60)
    axes.set_ylim(-60, 60)
    axes.set_aspect("equal")
    axes.set_xlabel("x forward (m, LiDAR frame)")
    axes.set_ylabel("y left (m)")
    axes.set_title(f"simulated sweep at t = {time:.2f} s: {len(points)} points, {len(frame)} truth boxes (red edge: moving, front)")
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)
    return list(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time", type=float, default=10.05, help="log time in seconds (a sweep stamp: 0.05 + k/10)")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    profile = get_profile(arguments.profile)
    scenario, _ = simulation_world(seed=arguments.seed, profile=profile.name, seconds=max(arguments.time + 1.0, 20.0))
    static = StaticScene(scenario.static_mesh)
    arguments.out.mkdir(parents=True, exist_ok=True)
    cuboids = sweep_figure(scenario, static, profile, arguments.time, arguments.out / "sim_sweep.png")
    camera_figure(scenario, static, profile, arguments.time, cuboids, arguments.out / "sim_camera.png")


if __name__ == "__main__":
    main()
