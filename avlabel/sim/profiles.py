"""Simulation profiles: how detailed and how heavy a simulated log is.

One table, `PROFILES`; `simulate(..., profile=NAME)` looks the name up here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SimulationProfile:
    name: str
    lidar_beams: int  # rings of the rotating LiDAR
    lidar_columns: int  # firings per revolution (azimuth steps)
    camera_size: tuple[int, int]  # (width, height) in pixels
    cameras: tuple[str, ...]  # which rig cameras to simulate (see avlabel.sim.rig.CAMERAS)
    camera_encoding: str  # "jpeg" or "png"
    jpeg_quality: int
    camera_shadows: bool  # cast a shadow ray per pixel
    tree_detail: int  # icosphere subdivisions of crowns and bushes
    traffic_density: float  # scales the number of random agents
    description: str


PROFILES: dict[str, SimulationProfile] = {
    profile.name: profile
    for profile in (
        SimulationProfile(
            "default", 64, 2048, (960, 600), ("camera_front", "camera_front_left", "camera_front_right", "camera_rear"),
            "jpeg", 90, True, 2, 1.0, "full detail: 64 beams x 2048 steps, four 960x600 cameras",
        ),
        SimulationProfile(
            "sample", 32, 720, (480, 300), ("camera_front", "camera_front_left", "camera_front_right"),
            "jpeg", 70, True, 2, 1.0, "the committed sample log: 32 beams x 720 steps (0.5 deg), three 480x300 JPEG cameras",
        ),
        SimulationProfile(
            "test", 32, 400, (192, 120), ("camera_front", "camera_front_left", "camera_front_right"),
            "jpeg", 95, False, 1, 0.8, "fast, for unit tests: 32 beams x 400 steps, three 192x120 cameras",
        ),
    )
}


def get_profile(name: str) -> SimulationProfile:
    """The profile called `name`; ValueError lists the choices."""
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown simulation profile {name!r}; choose one of: {', '.join(PROFILES)}") from None
