"""Synthetic drive logs with exact ground truth.

    from avlabel.sim import simulate
    simulate("town.h5", seconds=20, seed=0, profile="default", progress=True)

Modules, from the ground up: `layout` (street grid, heights, paint), `world` (static town
meshes), `actors` (object meshes), `motion` (paths, speed control), `scenario` (the ego's
drive and all traffic), `rig` (sensor mounts, clocks, lenses), `raycast` (Open3D scenes),
`lidar`, `radar`, `camera`, `navigation` (poses, GNSS, IMU), `truth` (cuboids),
`profiles` (detail levels) and `simulate` (the driver).
"""

from avlabel.sim.profiles import PROFILES, SimulationProfile, get_profile
from avlabel.sim.simulate import LOG_START_US, SimulationReport, run_simulation, simulate, simulation_world

__all__ = ["LOG_START_US", "PROFILES", "SimulationProfile", "SimulationReport", "get_profile", "run_simulation", "simulate", "simulation_world"]
