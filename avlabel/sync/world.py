"""The world frame from GNSS and IMU, for logs that store no ego poses.

World = local ENU (x east, y north, z up) tangent plane at the log's origin (its
`origin_lat_lon_alt`, else the first GNSS fix), through pymap3d. Orientation comes from the
IMU's world_from_imu quaternions; position from the GNSS fixes, linearly interpolated to
the IMU times, with the antenna's lever arm (its ego_from_sensor translation) removed:

    world_from_ego = world_from_imu @ inverse(ego_from_imu),   position fixed so that
    world_from_ego @ antenna_in_ego = antenna_in_world

Both streams' stamps are moved to the log clock with their clock offsets first.
"""

from __future__ import annotations

import logging

import numpy as np
import pymap3d

from avlabel.geometry.transforms import invert_rigid, make_transform, matrices_from_quaternions
from avlabel.structs import Calibration, GnssSeries, ImuSeries, PoseSeries

logger = logging.getLogger(__name__)


def enu_from_geodetic(gnss: GnssSeries, origin_lat_lon_alt: tuple[float, float, float] | None = None) -> np.ndarray:
    """(N, 3) float64 ENU metres of the GNSS fixes, about `origin_lat_lon_alt` (default the first fix)."""
    if len(gnss) == 0:
        raise ValueError("gnss: no fixes; cannot place the world frame")
    origin = origin_lat_lon_alt or (float(gnss.latitude_deg[0]), float(gnss.longitude_deg[0]), float(gnss.altitude_m[0]))
    east, north, up = pymap3d.geodetic2enu(gnss.latitude_deg, gnss.longitude_deg, gnss.altitude_m, *origin)
    return np.column_stack([east, north, up]).astype(np.float64)


def poses_from_gnss_imu(
    gnss: GnssSeries,
    imu: ImuSeries,
    *,
    gnss_calibration: Calibration | None = None,
    imu_calibration: Calibration | None = None,
    origin_lat_lon_alt: tuple[float, float, float] | None = None,
    gnss_clock_offset_us: int | None = None,
    imu_clock_offset_us: int | None = None,
) -> PoseSeries:
    """Ego poses at the IMU's samples (log clock) that fall within the GNSS fixes' time span.

    Missing calibrations mean the sensor sits at the ego origin, axes aligned, clock offset 0.
    """
    if len(gnss) < 2:
        raise ValueError(f"gnss: {len(gnss)} fix(es); building poses needs at least two")
    if len(imu) == 0:
        raise ValueError("imu: no samples; building poses needs the IMU's orientation")
    ego_from_gnss = gnss_calibration.ego_from_sensor if gnss_calibration is not None else np.eye(4)
    ego_from_imu = imu_calibration.ego_from_sensor if imu_calibration is not None else np.eye(4)
    if gnss_clock_offset_us is None:
        gnss_clock_offset_us = gnss_calibration.clock_offset_us if gnss_calibration is not None else 0
    if imu_clock_offset_us is None:
        imu_clock_offset_us = imu_calibration.clock_offset_us if imu_calibration is not None else 0
    gnss_times = gnss.timestamps_us - gnss_clock_offset_us
    imu_times = imu.timestamps_us - imu_clock_offset_us
    # Orientation: world_from_ego = world_from_imu @ imu_from_ego, at the IMU times inside the GNSS span.
    inside = (imu_times >= gnss_times[0]) & (imu_times <= gnss_times[-1])
    if not inside.any():
        raise ValueError(
            f"gnss and imu do not overlap in time (gnss {gnss_times[0]}..{gnss_times[-1]} us, "
            f"imu {imu_times[0]}..{imu_times[-1]} us on the log clock); check their clock offsets"
        )
    times = imu_times[inside]
    world_from_imu = make_transform(matrices_from_quaternions(imu.orientation_wxyz[inside]), np.zeros(3))
    world_from_ego = world_from_imu @ invert_rigid(ego_from_imu)[None]
    # Position: the antenna's ENU track, interpolated to those times, minus the lever arm.
    antenna_world = enu_from_geodetic(gnss, origin_lat_lon_alt)
    antenna_at_times = np.column_stack([np.interp(times, gnss_times, antenna_world[:, axis]) for axis in range(3)])
    lever_arm_world = np.einsum("nij,j->ni", world_from_ego[:, :3, :3], ego_from_gnss[:3, 3])
    world_from_ego[:, :3, 3] = antenna_at_times - lever_arm_world
    logger.info("built %d ego poses from %d GNSS fixes and the IMU orientation", len(times), len(gnss))
    return PoseSeries(times.astype(np.int64), world_from_ego)
