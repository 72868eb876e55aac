"""The simulator's driver: scenario, sensors, truth, written to one drive log.

    simulate("town.h5", seconds=20, seed=0, profile="default")

Same (seed, profile, seconds) give the same sensor data, byte for byte: every random draw
comes from numpy Generators seeded from `seed`, one stream per sensor.
"""

from __future__ import annotations

import logging
import math
import os
import time as clock
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avlabel.io.logstore import DriveLogWriter
from avlabel.sim import rig
from avlabel.sim.camera import pixel_rays, render
from avlabel.sim.lidar import simulate_sweep
from avlabel.sim.navigation import antenna_positions, ego_poses, gnss_errors, gnss_fixes, imu_samples
from avlabel.sim.profiles import SimulationProfile, get_profile
from avlabel.sim.radar import simulate_scan
from avlabel.sim.raycast import ObjectAtlas, StaticScene
from avlabel.sim.scenario import Scenario, build_scenario
from avlabel.sim.truth import truth_frame
from avlabel.structs import Calibration, CameraImage, GnssSeries, ImuSeries, Labels, LidarSweep, PoseSeries, RadarScan

log = logging.getLogger(__name__)

# Where the town lies on Earth (WGS84 degrees, ellipsoidal metres): a hilly city.
ORIGIN_LAT_LON_ALT = (37.7793, -122.4193, 52.0)
LOG_START_US = 1_700_000_000_000_000  # log-clock time of the log's first instant
MIN_SECONDS, MAX_SECONDS = 0.2, 3600.0
_SCENARIO_HORIZON = 30.0  # at least this many seconds of traffic, so short logs are prefixes of longer ones


@dataclass(slots=True)
class SimulationReport:
    """What a simulation produced and where its time went (seconds per stage)."""

    path: Path
    seconds: float
    seed: int
    profile: str
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    frames: dict[str, int] = field(default_factory=dict)
    points: int = 0
    truth_cuboids: int = 0


def simulate(path: str | os.PathLike[str], *, seconds: float = 20.0, seed: int = 0, profile: str = "default", progress: bool = False) -> Path:
    """Simulate a drive log with exact ground truth and write it to `path` (HDF5, written
    atomically). Returns the path."""
    return run_simulation(path, seconds=seconds, seed=seed, profile=profile, progress=progress).path


def run_simulation(path: str | os.PathLike[str], *, seconds: float = 20.0, seed: int = 0, profile: str = "default",
                   progress: bool = False) -> SimulationReport:
    """`simulate`, returning a report with per-stage timings (for benchmarks)."""
    settings = get_profile(profile)
    seconds = _check_seconds(seconds)
    seed = _check_seed(seed)
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"simulate: {target} is a directory; give a file path such as {target / 'town.h5'}")
    report = SimulationReport(target, seconds, seed, settings.name)
    streams = {name: np.random.default_rng(child) for name, child in zip(
        ("lidar", "radar", "camera", "gnss", "imu"), np.random.SeedSequence([seed, 2]).spawn(5))}

    # ---- the world and everything moving in it
    started = clock.perf_counter()
    scenario, errors = simulation_world(seed=seed, profile=settings.name, seconds=seconds, gnss_rng=streams["gnss"])
    calibrations = _calibrations(settings)
    gnss_times = rig.sample_times(rig.GNSS, seconds)
    static, atlas = StaticScene(scenario.static_mesh), ObjectAtlas(scenario.agents)
    report.timings["scenario"] += clock.perf_counter() - started
    log.info("simulating %.1f s, seed %d, profile %s: %d objects, %d static triangles",
             seconds, seed, settings.name, len(scenario.agents), len(scenario.static_mesh))

    description = f"avlabel simulator: seed {seed}, profile {settings.name}, {seconds:g} s"
    with DriveLogWriter(target, name=target.stem, description=description, origin_lat_lon_alt=ORIGIN_LAT_LON_ALT) as writer:
        for calibration in calibrations.values():
            writer.add_calibration(calibration)
        bar = _progress_bar(settings, seconds, progress)
        try:
            labels = _lidar(writer, scenario, static, atlas, settings, calibrations[rig.LIDAR], seconds, streams["lidar"], report, bar)
            _radar(writer, scenario, static, calibrations[rig.RADAR], seconds, streams["radar"], report, bar)
            _cameras(writer, scenario, static, settings, calibrations, seconds, streams["camera"], report, bar)
        finally:
            if bar is not None:
                bar.close()
        started = clock.perf_counter()
        _navigation(writer, scenario, calibrations, seconds, gnss_times, errors, streams["imu"], report)
        writer.set_truth(Labels(tuple(labels), {"producer": "avlabel.sim", "seed": seed, "profile": settings.name, "seconds": seconds}))
        report.truth_cuboids = sum(len(frame) for frame in labels)
        report.timings["navigation and truth"] += clock.perf_counter() - started
        started = clock.perf_counter()
    report.timings["writing"] += clock.perf_counter() - started
    log.info("wrote %s: %s", target, ", ".join(f"{name} {value:.1f} s" for name, value in report.timings.items()))
    return report


def simulation_world(*, seed: int, profile: str, seconds: float, gnss_rng: np.random.Generator | None = None) -> tuple[Scenario, np.ndarray]:
    """The scenario `simulate` uses for these arguments, in the log's world frame (ENU at the
    first GNSS fix), and the GNSS errors (F, 3) it draws. For tests and tools that need to
    re-render what a log shows."""
    settings = get_profile(profile)
    if gnss_rng is None:
        gnss_rng = np.random.default_rng(np.random.SeedSequence([seed, 2]).spawn(5)[3])
    scenario = build_scenario(seed, max(seconds, _SCENARIO_HORIZON) + 0.5, tree_detail=settings.tree_detail, traffic_density=settings.traffic_density)
    gnss_times = rig.sample_times(rig.GNSS, seconds)
    errors = gnss_errors(len(gnss_times), gnss_rng)
    first_fix = antenna_positions(scenario, rig.calibration(rig.GNSS).ego_from_sensor, gnss_times[:1])[0] + errors[0]
    return scenario.shifted(-first_fix), errors


def _check_seconds(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, np.integer, np.floating)) or not math.isfinite(seconds):
        raise ValueError(f"simulate: seconds must be a finite number, got {seconds!r}")
    if not MIN_SECONDS <= float(seconds) <= MAX_SECONDS:
        raise ValueError(f"simulate: seconds must lie in [{MIN_SECONDS}, {MAX_SECONDS}], got {seconds}; a LiDAR sweep alone takes 0.1 s")
    return float(seconds)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"simulate: seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _calibrations(settings: SimulationProfile) -> dict[str, Calibration]:
    names = [rig.LIDAR, rig.RADAR, *settings.cameras, rig.GNSS, rig.IMU]
    return {name: rig.calibration(name, settings.camera_size if name in rig.CAMERAS else None) for name in names}


def _progress_bar(settings: SimulationProfile, seconds: float, progress: bool):  # -> tqdm | None
    if not progress:
        return None
    from tqdm import tqdm

    total = len(rig.sample_times(rig.LIDAR, seconds)) + len(rig.sample_times(rig.RADAR, seconds))
    total += sum(len(rig.sample_times(name, seconds)) for name in settings.cameras)
    return tqdm(total=total, desc="simulate", unit="frame")


def _stamp(time: float, offset_us: int = 0) -> int:
    """Log time (seconds from the start) to a stamp in microseconds on a clock `offset_us` ahead."""
    return LOG_START_US + int(round(time * 1e6)) + offset_us


def _lidar(writer: DriveLogWriter, scenario: Scenario, static: StaticScene, atlas: ObjectAtlas, settings: SimulationProfile, calibration: Calibration,
           seconds: float, rng: np.random.Generator, report: SimulationReport, bar) -> list:
    beams = rig.lidar_beams(settings.lidar_beams)
    labels = []
    for index, time in enumerate(rig.sample_times(rig.LIDAR, seconds)):
        started = clock.perf_counter()
        sweep = simulate_sweep(scenario, static, atlas, calibration.ego_from_sensor, beams, settings.lidar_columns, float(time), rng)
        report.timings["lidar"] += clock.perf_counter() - started
        started = clock.perf_counter()
        labels.append(truth_frame(scenario, float(time), _stamp(time), index, sweep.points_per_instance))
        report.timings["navigation and truth"] += clock.perf_counter() - started
        started = clock.perf_counter()
        writer.add_lidar_sweep(LidarSweep(calibration.sensor, _stamp(time, calibration.clock_offset_us), sweep.points), truth=sweep.truth)
        report.timings["writing"] += clock.perf_counter() - started
        report.points += len(sweep.points)
        report.frames[calibration.sensor] = index + 1
        if bar is not None:
            bar.update()
    return labels


def _radar(writer: DriveLogWriter, scenario: Scenario, static: StaticScene, calibration: Calibration, seconds: float, rng: np.random.Generator,
           report: SimulationReport, bar) -> None:
    for index, time in enumerate(rig.sample_times(rig.RADAR, seconds)):
        started = clock.perf_counter()
        scan = simulate_scan(scenario, static, calibration.ego_from_sensor, float(time), rng)
        report.timings["radar"] += clock.perf_counter() - started
        started = clock.perf_counter()
        writer.add_radar_scan(RadarScan(calibration.sensor, _stamp(time, calibration.clock_offset_us), scan.detections), instance=scan.instance)
        report.timings["writing"] += clock.perf_counter() - started
        report.frames[calibration.sensor] = index + 1
        if bar is not None:
            bar.update()


def _cameras(writer: DriveLogWriter, scenario: Scenario, static: StaticScene, settings: SimulationProfile, calibrations: dict[str, Calibration], seconds: float,
             rng: np.random.Generator, report: SimulationReport, bar) -> None:
    for name in settings.cameras:
        calibration = calibrations[name]
        rays = pixel_rays(calibration)
        for index, time in enumerate(rig.sample_times(name, seconds)):
            started = clock.perf_counter()
            rendering = render(scenario, static, calibration, rays, float(time), rng, shadows=settings.camera_shadows)
            report.timings["cameras"] += clock.perf_counter() - started
            started = clock.perf_counter()
            image = CameraImage(name, _stamp(time, calibration.clock_offset_us), rendering.image)
            writer.add_camera_image(image, encoding=settings.camera_encoding, quality=settings.jpeg_quality)
            report.timings["writing"] += clock.perf_counter() - started
            report.frames[name] = index + 1
            if bar is not None:
                bar.update()


def _navigation(writer: DriveLogWriter, scenario: Scenario, calibrations: dict[str, Calibration], seconds: float, gnss_times: np.ndarray, errors: np.ndarray,
                rng: np.random.Generator, report: SimulationReport) -> None:
    pose_times = np.arange(int(round(seconds * rig.POSE_RATE)) + 1) / rig.POSE_RATE
    writer.set_poses(PoseSeries(np.array([_stamp(t) for t in pose_times], dtype=np.int64), ego_poses(scenario, pose_times)))
    gnss = calibrations[rig.GNSS]
    positions = antenna_positions(scenario, gnss.ego_from_sensor, gnss_times)
    latitude, longitude, altitude = gnss_fixes(positions, errors, ORIGIN_LAT_LON_ALT)
    latitude[0], longitude[0], altitude[0] = ORIGIN_LAT_LON_ALT  # the first fix defines the world origin
    writer.set_gnss(GnssSeries(np.array([_stamp(t, gnss.clock_offset_us) for t in gnss_times], dtype=np.int64), latitude, longitude, altitude))
    imu = calibrations[rig.IMU]
    imu_times = rig.sample_times(rig.IMU, seconds)
    orientation, angular_velocity, specific_force = imu_samples(scenario, imu.ego_from_sensor, imu_times, rng)
    writer.set_imu(ImuSeries(np.array([_stamp(t, imu.clock_offset_us) for t in imu_times], dtype=np.int64), orientation, angular_velocity, specific_force))
    report.frames.update({"poses": len(pose_times), rig.GNSS: len(gnss_times), rig.IMU: len(imu_times)})
