"""Synchronised frames: every sensor sample tied to each LiDAR sweep, on one clock.

For each sweep of the chosen LiDAR, at its log-clock time t (sensor stamp minus the
LiDAR's clock offset):

1. the ego pose and velocity at t (stored poses, or built from GNSS and IMU);
2. the sweep's points de-skewed into the ego frame at t;
3. the nearest image of every camera, within the camera tolerance;
4. the radar scans assigned to this sweep: each scan goes to the sweep nearest in time (so
   no scan is used twice), if within the radar tolerance; detections moved into the ego
   frame at t;
5. the nearest GNSS fix and IMU sample, within their tolerances;
6. the streams with nothing within tolerance, named in `missing`.

Every stamp goes to the log clock with `log_time = sensor_stamp - clock_offset_us`, the
offset taken from `SyncConfig.clock_offset_us` where given, else from the calibration.
A sweep whose points fall outside the ego poses (plus the allowed extrapolation) cannot be
placed in the world: it is skipped with a warning and counted in the report.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avlabel.geometry.transforms import invert_rigid
from avlabel.io.errors import InputError
from avlabel.io.logstore import DriveLog
from avlabel.structs import Calibration
from avlabel.sync.deskew import deskew_points
from avlabel.sync.poses import PoseInterpolator
from avlabel.sync.settings import SyncConfig
from avlabel.sync.world import poses_from_gnss_imu

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class CameraMatch:
    """The image of one camera tied to a sweep.

    index: image index in the camera's stream; timestamp_us: its capture time on the log
    clock; offset_us: capture time minus the sweep's time (log clock).
    """

    index: int
    timestamp_us: int
    offset_us: int


@dataclass(frozen=True, slots=True)
class SampleMatch:
    """The GNSS fix or IMU sample nearest a sweep: index in its series, log-clock time,
    and that time minus the sweep's."""

    index: int
    timestamp_us: int
    offset_us: int


@dataclass(frozen=True, slots=True, eq=False)
class RadarMatch:
    """One radar scan tied to a sweep.

    detections_ego: (D, 5) float32, columns RADAR_FIELDS. x, y, z are in the ego frame *at
    the sweep's time* (moved there through the world with the ego poses at the scan's and
    the sweep's times), so radar and LiDAR points of a static object coincide.
    radial_velocity and rcs are as measured: radial velocity relative to the sensor, along
    its line of sight at scan time, not ego-motion compensated.
    ego_from_radar: (4, 4) the radar's pose at its scan time, in the same ego frame.
    """

    index: int
    timestamp_us: int
    offset_us: int
    detections_ego: np.ndarray
    ego_from_radar: np.ndarray

    @property
    def line_of_sight(self) -> np.ndarray:
        """(D, 3) float64 unit vectors from the radar (at its scan time) to each detection,
        in the sweep's ego frame: the direction its radial velocity was measured along."""
        rays = self.detections_ego[:, :3].astype(np.float64) - self.ego_from_radar[:3, 3]
        return rays / np.maximum(np.linalg.norm(rays, axis=1, keepdims=True), 1e-9)


@dataclass(frozen=True, slots=True, eq=False)
class SyncedFrame:
    """One LiDAR sweep with everything tied to it.

    index: the sweep's index in its stream; timestamp_us: its log-clock time.
    points: (N, 6) float32, columns POINT_FIELDS, x, y, z in the ego frame at timestamp_us
    (de-skewed unless the config says not to); t_offset_us still relative to timestamp_us.
    world_from_ego: (4, 4) float64 at timestamp_us; ego_velocity: (3,) float64 m/s, world frame.
    cameras: camera name -> CameraMatch; radar: radar name -> scans (possibly empty list);
    samples: "gnss" / "imu" stream name -> SampleMatch; missing: names of the streams with no
    sample within tolerance of this sweep.
    """

    index: int
    timestamp_us: int
    points: np.ndarray
    world_from_ego: np.ndarray
    ego_velocity: np.ndarray
    cameras: dict[str, CameraMatch]
    radar: dict[str, list[RadarMatch]]
    missing: tuple[str, ...]
    samples: dict[str, SampleMatch] = field(default_factory=dict)
    lidar: str = ""


# --------------------------------------------------------------------------- association


def nearest(reference_us: np.ndarray, sample_us: np.ndarray, tolerance_us: int) -> tuple[np.ndarray, np.ndarray]:
    """For each reference time, the nearest sample within tolerance.

    reference_us (S,) int64, sample_us (M,) int64 sorted ascending. Returns index (S,)
    int64 (-1 where no sample is within `tolerance_us`) and offset (S,) int64, sample time
    minus reference time (0 where missing). Ties go to the earlier sample.
    """
    reference_us = np.asarray(reference_us, dtype=np.int64)
    sample_us = np.asarray(sample_us, dtype=np.int64)
    if not len(sample_us):
        return np.full(len(reference_us), -1, np.int64), np.zeros(len(reference_us), np.int64)
    after = np.clip(np.searchsorted(sample_us, reference_us), 0, len(sample_us) - 1)
    before = np.clip(after - 1, 0, len(sample_us) - 1)
    pick = np.where(np.abs(sample_us[before] - reference_us) <= np.abs(sample_us[after] - reference_us), before, after)
    offset = sample_us[pick] - reference_us
    found = np.abs(offset) <= tolerance_us
    return np.where(found, pick, -1), np.where(found, offset, 0)


def clock_offsets(log: DriveLog, config: SyncConfig) -> dict[str, int]:
    """Clock offset (sensor clock minus log clock, us) of every calibrated sensor, the
    config's `clock_offset_us` overriding the calibration's."""
    unknown = sorted(set(config.clock_offset_us) - set(log.calibrations))
    if unknown:
        raise InputError(f"config sync.clock_offset_us: no sensor named {', '.join(map(repr, unknown))} in {log.path} (it has {', '.join(sorted(log.calibrations))})")
    return {sensor: int(config.clock_offset_us.get(sensor, calibration.clock_offset_us)) for sensor, calibration in log.calibrations.items()}


def _series_calibration(log: DriveLog, kind: str) -> Calibration | None:
    """The calibration of the log's GNSS or IMU (the first of that kind), if any."""
    matches = [calibration for calibration in log.calibrations.values() if calibration.kind == kind]
    return sorted(matches, key=lambda calibration: calibration.sensor)[0] if matches else None


def ego_poses(log: DriveLog, config: SyncConfig | None = None) -> PoseInterpolator:
    """The log's ego poses as an interpolator: stored poses, else built from GNSS and IMU.

    Raises InputError when the log has neither.
    """
    return _ego_poses_and_source(log, config or SyncConfig())[0]


def _ego_poses_and_source(log: DriveLog, config: SyncConfig) -> tuple[PoseInterpolator, str]:
    stored = log.poses()
    if stored is not None and len(stored):
        return PoseInterpolator(stored, max_extrapolation_us=config.max_pose_extrapolation_us), "stored"
    gnss, imu = log.gnss(), log.imu()
    if gnss is None or imu is None:
        raise InputError(f"{log.path}: poses: the log has no ego poses and no GNSS and IMU to build them from")
    offsets = clock_offsets(log, config)
    gnss_calibration, imu_calibration = _series_calibration(log, "gnss"), _series_calibration(log, "imu")
    try:
        built = poses_from_gnss_imu(
            gnss, imu,
            gnss_calibration=gnss_calibration, imu_calibration=imu_calibration,
            origin_lat_lon_alt=log.origin_lat_lon_alt,
            gnss_clock_offset_us=offsets[gnss_calibration.sensor] if gnss_calibration else 0,
            imu_clock_offset_us=offsets[imu_calibration.sensor] if imu_calibration else 0,
        )
    except ValueError as error:
        raise InputError(f"{log.path}: poses from gnss/imu: {error}") from None
    return PoseInterpolator(built, max_extrapolation_us=config.max_pose_extrapolation_us), "gnss_imu"


@dataclass(frozen=True, slots=True, eq=False)
class _Stream:
    """One associated stream: its log-clock sample times, and per sweep the matched sample."""

    name: str
    kind: str
    tolerance_us: int
    sample_us: np.ndarray  # (M,) log clock
    match: np.ndarray  # (S,) sample index per sweep, -1 missing (cameras, gnss, imu)
    offset_us: np.ndarray  # (S,)
    scan_sweep: np.ndarray | None = None  # radar: (M,) sweep index per scan, -1 unassigned


class LogSync:
    """Association of one log's streams to the sweeps of one LiDAR, computed once; frames are
    then read one at a time with `frame(index)`."""

    def __init__(self, log: DriveLog, config: SyncConfig, *, lidar: str | None = None, poses: PoseInterpolator | None = None) -> None:
        self.log = log
        self.config = config
        self.lidar = lidar or log.lidar
        if self.lidar not in log.sensors("lidar"):
            raise InputError(f"{log.path}: no LiDAR named {self.lidar!r} (the log has {', '.join(log.sensors('lidar')) or 'none'})")
        self.offsets = clock_offsets(log, config)
        if poses is None:
            poses, self.pose_source = _ego_poses_and_source(log, config)
        else:
            self.pose_source = "given"
        self.poses = poses
        self.sweep_us = log.timestamps(self.lidar) - self.offsets[self.lidar]
        self.streams = self._associate()

    # -- association, once per log

    def _associate(self) -> list[_Stream]:
        streams = []
        covered = np.asarray(self.poses.covers(self.sweep_us))
        for kind in ("camera", "radar"):
            for sensor in self.log.sensors(kind):
                sample_us = self.log.timestamps(sensor) - self.offsets[sensor]
                tolerance = self.config.tolerance_for(sensor, kind)
                if kind == "camera":
                    # Only images the poses cover can be used (projection needs the pose at capture).
                    usable = np.flatnonzero(self.poses.covers(sample_us))
                    match, offset = nearest(self.sweep_us, sample_us[usable], tolerance)
                    match = np.where(match >= 0, usable[np.maximum(match, 0)], -1)
                    streams.append(_Stream(sensor, kind, tolerance, sample_us, match, offset))
                else:
                    scan_sweep, _ = nearest(sample_us, self.sweep_us, tolerance)
                    scan_sweep = np.where(self.poses.covers(sample_us) & (scan_sweep >= 0), scan_sweep, -1)
                    scan_sweep = np.where((scan_sweep >= 0) & covered[np.maximum(scan_sweep, 0)], scan_sweep, -1)
                    counts = np.bincount(scan_sweep[scan_sweep >= 0], minlength=len(self.sweep_us))
                    match = np.where(counts > 0, 0, -1)
                    streams.append(_Stream(sensor, kind, tolerance, sample_us, match, np.zeros(len(self.sweep_us), np.int64), scan_sweep))
        for kind, series in (("gnss", self.log.gnss()), ("imu", self.log.imu())):
            if series is None:
                continue
            calibration = _series_calibration(self.log, kind)
            name = calibration.sensor if calibration is not None else kind
            sample_us = series.timestamps_us - (self.offsets[name] if calibration is not None else 0)
            tolerance = self.config.tolerance_for(name, kind)
            match, offset = nearest(self.sweep_us, sample_us, tolerance)
            streams.append(_Stream(name, kind, tolerance, sample_us, match, offset))
        return streams

    # -- frames

    def __len__(self) -> int:
        return len(self.sweep_us)

    def frame(self, index: int) -> SyncedFrame | None:
        """The synced sweep `index`, or None when the poses do not cover it (see module doc)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.log.path}: lidar/{self.lidar}: sweep {index} out of range (0..{len(self) - 1})")
        index %= len(self)
        reference_us = int(self.sweep_us[index])
        sweep = self.log.sweep(index, self.lidar)
        points = sweep.points
        if len(points):
            span = (reference_us + int(np.floor(points[:, 4].min())), reference_us + int(np.ceil(points[:, 4].max())))
        else:
            span = (reference_us, reference_us)
        if not self.poses.covers(np.array(span, dtype=np.int64)).all():
            logger.warning(
                "%s: sweep %d (%d..%d us, log clock) is outside the ego poses (%d..%d us): skipped",
                self.log.path.name, index, span[0], span[1], self.poses.start_us, self.poses.end_us,
            )
            return None
        ego_from_lidar = self.log.calibrations[self.lidar].ego_from_sensor
        if self.config.deskew:
            points_ego = deskew_points(points, reference_us, ego_from_lidar, self.poses, step_us=self.config.deskew_step_us)
        else:
            points_ego = points.copy()
            points_ego[:, :3] = points[:, :3] @ ego_from_lidar[:3, :3].T.astype(np.float32) + ego_from_lidar[:3, 3].astype(np.float32)
        world_from_ego = self.poses.at(reference_us)
        cameras: dict[str, CameraMatch] = {}
        radar: dict[str, list[RadarMatch]] = {}
        samples: dict[str, SampleMatch] = {}
        missing = []
        ego_from_world = invert_rigid(world_from_ego)
        for stream in self.streams:
            if stream.kind == "radar":
                scans = np.flatnonzero(stream.scan_sweep == index)
                radar[stream.name] = [self._radar_match(stream, int(scan), reference_us, ego_from_world) for scan in scans]
                if not len(scans):
                    missing.append(stream.name)
                continue
            match = int(stream.match[index])
            if match < 0:
                missing.append(stream.name)
                continue
            found = (match, int(stream.sample_us[match]), int(stream.offset_us[index]))
            if stream.kind == "camera":
                cameras[stream.name] = CameraMatch(*found)
            else:
                samples[stream.name] = SampleMatch(*found)
        return SyncedFrame(
            index=index,
            timestamp_us=reference_us,
            points=points_ego,
            world_from_ego=world_from_ego,
            ego_velocity=self.poses.velocity(reference_us),
            cameras=cameras,
            radar=radar,
            missing=tuple(missing),
            samples=samples,
            lidar=self.lidar,
        )

    def _radar_match(self, stream: _Stream, scan: int, reference_us: int, ego_from_world: np.ndarray) -> RadarMatch:
        scan_us = int(stream.sample_us[scan])
        detections = self.log.radar_scan(scan, stream.name).detections.copy()
        ego_now_from_radar = ego_from_world @ self.poses.at(scan_us) @ self.log.calibrations[stream.name].ego_from_sensor
        detections[:, :3] = (detections[:, :3].astype(np.float64) @ ego_now_from_radar[:3, :3].T + ego_now_from_radar[:3, 3]).astype(np.float32)
        return RadarMatch(scan, scan_us, scan_us - reference_us, detections, ego_now_from_radar)

    def frames(self) -> Iterator[SyncedFrame]:
        for index in range(len(self)):
            frame = self.frame(index)
            if frame is not None:
                yield frame

    # -- report

    def report(self) -> dict[str, Any]:
        """Per-stream association figures, for the manifest (no sweep data is read)."""
        covered = np.asarray(self.poses.covers(self.sweep_us))
        streams: dict[str, Any] = {}
        frames_missing = np.zeros(len(self), dtype=bool)
        for stream in self.streams:
            entry: dict[str, Any] = {"kind": stream.kind, "samples": int(len(stream.sample_us)), "tolerance_us": stream.tolerance_us}
            if stream.kind == "radar":
                assigned = stream.scan_sweep >= 0
                offsets = stream.sample_us[assigned] - self.sweep_us[stream.scan_sweep[assigned]]
                entry.update(scans_assigned=int(assigned.sum()), scans_unassigned=int((~assigned).sum()))
                matched = stream.match >= 0
            else:
                matched = stream.match >= 0
                offsets = stream.offset_us[matched]
            entry.update(
                matched=int(matched.sum()),
                missing=int((~matched).sum()),
                median_abs_dt_us=float(np.median(np.abs(offsets))) if len(offsets) else None,
                max_abs_dt_us=int(np.abs(offsets).max()) if len(offsets) else None,
            )
            frames_missing |= ~matched
            streams[stream.name] = entry
        return {
            "lidar": self.lidar,
            "sweeps": len(self),
            "sweeps_outside_poses": int((~covered).sum()),
            "sweeps_with_missing_streams": int(frames_missing.sum()),
            "poses": {"source": self.pose_source, "count": int(len(self.poses.timestamps_us)), "start_us": self.poses.start_us, "end_us": self.poses.end_us},
            "clock_offsets_us": dict(self.offsets),
            "streams": streams,
        }


# --------------------------------------------------------------------------- stage API


def synced_frames(log: DriveLog, config: SyncConfig, *, lidar: str | None = None) -> Iterator[SyncedFrame]:
    """Every sweep of `lidar` (default the log's first) as a SyncedFrame, in order; sweeps the
    ego poses do not cover are skipped (with a warning; `sync_report` counts them)."""
    return LogSync(log, config, lidar=lidar).frames()


def sync_report(log: DriveLog, config: SyncConfig, *, lidar: str | None = None) -> dict[str, Any]:
    """Association figures of a log: per stream matched / missing sweep counts and the median
    and largest |sample time - sweep time|; also sweeps outside the poses, and clock offsets."""
    return LogSync(log, config, lidar=lidar).report()
