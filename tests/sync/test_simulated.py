"""Sync and projection on a simulated drive, where poses, truth and clocks are exact.

The figures these tests hold (and scripts/measure_sync.py prints) are stated in each test.
"""

from __future__ import annotations

import numpy as np
import pytest

from avlabel.io.logstore import DriveLog
from avlabel.sync.clock import estimate_camera_offset, estimate_imu_offset, estimate_radar_offset
from avlabel.sync.frames import LogSync, ego_poses, sync_report
from avlabel.sync.settings import SyncConfig

from sim_checks import building_surface_distances, corner_projection_errors, rendered_object_checks, turning_wall_spreads
from sim_fixtures import turning_log, turning_log_path, turning_world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

# Sweeps to check projection on: straight at speed, stopped, and in the turn.
PROJECTION_SWEEPS = [5, 25, 60, 120, 165, 175, 185, 195]


@pytest.fixture(scope="module")
def sync(turning_log: DriveLog) -> LogSync:
    return LogSync(turning_log, SyncConfig())


def test_every_sweep_gets_every_stream(turning_log: DriveLog):
    report = sync_report(turning_log, SyncConfig())
    assert report["sweeps"] == 200 and report["sweeps_outside_poses"] == 0
    # Cameras run at 12 Hz, so some sweep always has one within half a frame; radar at 13 Hz.
    for name, stream in report["streams"].items():
        assert stream["missing"] == 0, (name, stream)
    assert report["streams"]["camera_front"]["max_abs_dt_us"] <= 42_000
    assert report["streams"]["radar_front"]["scans_assigned"] == report["streams"]["radar_front"]["samples"]


def test_deskewing_flattens_a_wall_seen_while_turning(turning_log: DriveLog, sync: LogSync):
    """Measured: in the 0.45 rad/s turn, the wall behind the ego (its points 100 ms apart
    across the sweep's seam) has a median RMS distance to its plane of 0.042 m de-skewed
    against 0.115 m raw, over 10 sweeps (the LiDAR's range noise alone is 0.02 m)."""
    walls = turning_wall_spreads(turning_log, sync)
    assert len(walls) >= 3, walls
    before = np.median([wall["before_m"] for wall in walls])
    after = np.median([wall["after_m"] for wall in walls])
    assert after < 0.06 and before > 2.0 * after, (before, after, walls)


def test_deskewed_building_points_lie_on_the_true_surfaces(turning_log: DriveLog, sync: LogSync, turning_world):
    """Against the simulator's own building meshes, over sweeps in the turn: measured median
    7 mm and 90th percentile 21 mm de-skewed (range noise is 20 mm) against 186 mm and
    520 mm raw."""
    distances = building_surface_distances(turning_log, sync, turning_world, [176, 180, 184, 188])
    assert np.median(distances["deskewed"]) < 0.015 and np.percentile(distances["deskewed"], 90) < 0.035
    assert np.percentile(distances["raw"], 90) > 5 * np.percentile(distances["deskewed"], 90)


def test_projected_truth_corners_match_the_simulator_within_half_a_pixel(turning_log: DriveLog, sync: LogSync, turning_world):
    """Measured: 2e-5 px at most, both through the world at capture time and along the LiDAR
    chain (ego at sweep time -> world -> ego at capture time -> camera)."""
    errors = corner_projection_errors(turning_log, sync, turning_world, PROJECTION_SWEEPS)
    assert len(errors["world"]) > 500 and len(errors["lidar_chain"]) > 300
    assert errors["world"].max() < 0.5 and errors["lidar_chain"].max() < 0.5
    assert np.median(errors["world"]) < 0.01


def test_projected_truth_boxes_frame_the_rendered_objects(turning_log: DriveLog, sync: LogSync, turning_world):
    """Every object's rendered pixels lie inside its projected truth box (one pixel of
    rasterisation slack), and the box's pixel extent encloses the object's."""
    objects = rendered_object_checks(turning_log, sync, turning_world, PROJECTION_SWEEPS[::2])
    assert len(objects) >= 5
    assert min(item["inside"] for item in objects) > 0.97, objects
    gaps = np.array([item["gaps_px"] for item in objects])
    assert gaps.min() > -1.0, objects  # no object pixel beyond its box by more than a pixel
    assert np.median(gaps) < 6.0  # and the boxes are tight, not huge


def test_clock_offsets_are_recovered_or_reported_unobservable(turning_log: DriveLog):
    """Measured on this log: IMU -2221 +- 37 us against -2260 configured; the radar's Doppler
    cannot pin its offset on this gentle drive (+- 4 ms: reported not observable); cameras on
    these 192x120 images: within 2 ms where observable. Stated tolerance: the IMU within
    0.2 ms; every estimate marked observable within 3 sigma + 1 ms of the configured offset."""
    poses = ego_poses(turning_log)
    imu_calibration = turning_log.calibrations["imu"]
    imu = estimate_imu_offset(turning_log.imu(), poses, ego_from_imu=imu_calibration.ego_from_sensor,
                              calibrated_us=imu_calibration.clock_offset_us)
    assert imu.observable and abs(imu.error_us) < 200, imu
    estimates = [estimate_radar_offset(turning_log, "radar_front", poses)]
    estimates += [estimate_camera_offset(turning_log, camera, poses) for camera in turning_log.sensors("camera")]
    for estimate in estimates:
        if estimate.observable:
            assert abs(estimate.error_us) < 3 * estimate.uncertainty_us + 1_000, estimate
    assert any(estimate.observable for estimate in estimates[1:])
