"""The drive-log store: one HDF5 file per log, every sensor stream with its own stamps.

Layout, schema "avlabel.log/1" (S sweeps, N points, K images, F truth frames, M truth cuboids):

    /                       attrs: schema, name, created_by, description, sequential,
                                   origin_lat_lon_alt (world frame = ENU at this point)
    /calibration/<sensor>   attrs: kind, clock_offset_us, distortion_model
                            ego_from_sensor (4, 4) f8, distortion (k,) f8,
                            cameras also: intrinsics (3, 3) f8, image_size (2,) i8 = (width, height)
    /lidar/<sensor>         timestamps_us (S,) i8, point_offsets (S+1,) i8, points (N, 6) f4
    /radar/<sensor>         timestamps_us (R,) i8, detection_offsets (R+1,) i8, detections (D, 5) f4
    /camera/<sensor>        timestamps_us (K,) i8, images (K,) encoded bytes; attrs: encoding
    /poses                  timestamps_us (P,) i8, world_from_ego (P, 4, 4) f8      [optional]
    /gnss                   timestamps_us, latitude_deg, longitude_deg, altitude_m  [optional]
    /imu                    timestamps_us, orientation_wxyz, angular_velocity,
                            linear_acceleration                                     [optional]
    /truth/cuboids          timestamps_us (F,), cuboid_offsets (F+1,), boxes (M, 7) f8,
                            velocities (M, 2) f8 (NaN = unknown), ids, track_ids, labels,
                            sources (M,) str, scores (M,) f8, num_points (M,) i4,
                            attributes (M,) JSON str, frame_attributes (F,) JSON str  [optional]
    /truth/points/<lidar>   semantic (N,) u1 (SEMANTIC_CLASSES), instance (N,) i4 (-1 none)
    /truth/radar/<sensor>   instance (D,) i4 (-1 none)

Sensor streams keep the stamps their sensor reported (sensor clock); truth frames and
poses are on the log clock. Sweeps, scans and images are read one at a time, so opening a
log and reading frame i touches only what frame i needs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np

import avlabel
from avlabel.io.atomic import atomic_path
from avlabel.io.errors import LogError
from avlabel.structs import _checks
from avlabel.structs import (
    POINT_FIELDS,
    RADAR_FIELDS,
    Calibration,
    CameraImage,
    Cuboid,
    GnssSeries,
    ImuSeries,
    LabelFrame,
    Labels,
    LidarSweep,
    PoseSeries,
    RadarScan,
)

SCHEMA = "avlabel.log/1"

# Per-point truth classes (index = stored uint8 code).
SEMANTIC_CLASSES = ("unlabelled", "road", "sidewalk", "terrain", "building", "pole", "vegetation", "object", "noise")
GROUND_CLASSES = ("road", "sidewalk", "terrain")
SEMANTIC_CODE = {name: code for code, name in enumerate(SEMANTIC_CLASSES)}

_POINTS_CHUNK = 32768
_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
_STRING = h5py.string_dtype("utf-8")
_BYTES = h5py.vlen_dtype(np.uint8)


@dataclass(frozen=True, slots=True)
class PointTruth:
    """Per-point truth for one sweep: semantic (N,) uint8 codes of SEMANTIC_CLASSES and
    instance (N,) int32, the truth track id of the object hit, -1 for none."""

    semantic: np.ndarray
    instance: np.ndarray

    def is_ground(self) -> np.ndarray:
        codes = [SEMANTIC_CODE[name] for name in GROUND_CLASSES]
        return np.isin(self.semantic, codes)


# --------------------------------------------------------------------------- writing


class DriveLogWriter:
    """Writes a log to a temporary file and renames it into place on a clean close.

        with DriveLogWriter("town.h5", name="town") as log:
            log.add_calibration(calibration)
            log.add_lidar_sweep(sweep, truth=point_truth)
            ...
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str,
        description: str = "",
        origin_lat_lon_alt: tuple[float, float, float] | None = None,
        sequential: bool = True,
    ) -> None:
        self.path = Path(path)
        self._atomic = atomic_path(self.path)
        self._temporary = self._atomic.__enter__()
        self._file = h5py.File(self._temporary, "w")
        self._file.attrs.update(
            schema=SCHEMA, name=name, description=description, created_by=f"avlabel {avlabel.__version__}", sequential=sequential
        )
        if origin_lat_lon_alt is not None:
            self._file.attrs["origin_lat_lon_alt"] = np.asarray(origin_lat_lon_alt, dtype=np.float64)
        self._calibrations: dict[str, Calibration] = {}
        self._closed = False

    def __enter__(self) -> "DriveLogWriter":
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, traceback: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    # -- sensors

    def add_calibration(self, calibration: Calibration) -> None:
        if calibration.sensor in self._calibrations:
            raise ValueError(f"{self.path}: sensor {calibration.sensor!r} calibrated twice")
        group = self._file.require_group("calibration").create_group(calibration.sensor)
        group.attrs.update(kind=calibration.kind, clock_offset_us=calibration.clock_offset_us, distortion_model=calibration.distortion_model)
        group["ego_from_sensor"] = calibration.ego_from_sensor
        group["distortion"] = calibration.distortion
        if calibration.kind == "camera":
            group["intrinsics"] = calibration.intrinsics
            group["image_size"] = np.asarray(calibration.image_size, dtype=np.int64)
        self._calibrations[calibration.sensor] = calibration

    def add_lidar_sweep(self, sweep: LidarSweep, truth: PointTruth | None = None) -> None:
        group = self._stream("lidar", sweep.sensor)
        self._append_ragged(group, "points", "point_offsets", sweep.timestamp_us, sweep.points)
        if truth is not None:
            if len(truth.semantic) != len(sweep) or len(truth.instance) != len(sweep):
                raise ValueError(f"point truth for {sweep.sensor}@{sweep.timestamp_us} does not match its {len(sweep)} points")
            truth_group = self._file.require_group(f"truth/points/{sweep.sensor}")
            _append(truth_group, "semantic", np.asarray(truth.semantic, dtype=np.uint8))
            _append(truth_group, "instance", np.asarray(truth.instance, dtype=np.int32))

    def add_radar_scan(self, scan: RadarScan, instance: np.ndarray | None = None) -> None:
        group = self._stream("radar", scan.sensor)
        self._append_ragged(group, "detections", "detection_offsets", scan.timestamp_us, scan.detections)
        if instance is not None:
            if len(instance) != len(scan):
                raise ValueError(f"radar truth for {scan.sensor}@{scan.timestamp_us} does not match its {len(scan)} detections")
            _append(self._file.require_group(f"truth/radar/{scan.sensor}"), "instance", np.asarray(instance, dtype=np.int32))

    def add_camera_image(self, image: CameraImage, *, encoding: str = "jpeg", quality: int = 92) -> None:
        """Encode an RGB image (jpeg or png) and append it."""
        bgr = cv2.cvtColor(image.image, cv2.COLOR_RGB2BGR)
        parameters = [cv2.IMWRITE_JPEG_QUALITY, quality] if encoding == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 6]
        ok, encoded = cv2.imencode(".jpg" if encoding == "jpeg" else ".png", bgr, parameters)
        if not ok:
            raise ValueError(f"could not encode camera image {image.sensor}@{image.timestamp_us} as {encoding}")
        self.add_encoded_image(image.sensor, image.timestamp_us, encoded.tobytes(), encoding=encoding)

    def add_encoded_image(self, camera: str, timestamp_us: int, data: bytes, *, encoding: str) -> None:
        """Append an already encoded image (an importer's original file bytes, say)."""
        if encoding not in ("jpeg", "png"):
            raise ValueError(f"camera {camera}: encoding must be jpeg or png, got {encoding!r}")
        group = self._stream("camera", camera)
        stored = group.attrs.get("encoding")
        if stored is not None and stored != encoding:
            raise ValueError(f"camera {camera}: images already stored as {stored}, not {encoding}")
        group.attrs["encoding"] = encoding
        _append_stamp(group, timestamp_us)
        images = group.get("images") or group.create_dataset("images", shape=(0,), maxshape=(None,), dtype=_BYTES, chunks=(16,))
        images.resize((len(images) + 1,))
        images[-1] = np.frombuffer(data, dtype=np.uint8)

    # -- whole series

    def set_poses(self, poses: PoseSeries) -> None:
        self._write_group("poses", timestamps_us=poses.timestamps_us, world_from_ego=poses.world_from_ego)

    def set_gnss(self, gnss: GnssSeries) -> None:
        self._write_group(
            "gnss",
            timestamps_us=gnss.timestamps_us,
            latitude_deg=gnss.latitude_deg,
            longitude_deg=gnss.longitude_deg,
            altitude_m=gnss.altitude_m,
        )

    def set_imu(self, imu: ImuSeries) -> None:
        self._write_group(
            "imu",
            timestamps_us=imu.timestamps_us,
            orientation_wxyz=imu.orientation_wxyz,
            angular_velocity=imu.angular_velocity,
            linear_acceleration=imu.linear_acceleration,
        )

    def set_truth(self, labels: Labels) -> None:
        """Ground-truth cuboids, one frame per LiDAR sweep (log clock)."""
        cuboids = [cuboid for frame in labels.frames for cuboid in frame.cuboids]
        counts = [len(frame) for frame in labels.frames]
        velocities = np.array([c.velocity if c.velocity is not None else (np.nan, np.nan) for c in cuboids]).reshape(-1, 2)
        self._write_group(
            "truth/cuboids",
            timestamps_us=labels.timestamps_us,
            cuboid_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            boxes=np.array([c.box for c in cuboids]).reshape(-1, 7),
            velocities=velocities,
            ids=np.array([c.id for c in cuboids], dtype=object).astype(_STRING),
            track_ids=np.array([c.track_id for c in cuboids], dtype=object).astype(_STRING),
            labels=np.array([c.label for c in cuboids], dtype=object).astype(_STRING),
            sources=np.array([c.source for c in cuboids], dtype=object).astype(_STRING),
            scores=np.array([c.score for c in cuboids], dtype=np.float64),
            num_points=np.array([c.num_points for c in cuboids], dtype=np.int32),
            attributes=np.array([json.dumps(c.attributes) for c in cuboids], dtype=object).astype(_STRING),
            frame_attributes=np.array([json.dumps(f.attributes) for f in labels.frames], dtype=object).astype(_STRING),
        )
        self._file["truth/cuboids"].attrs["metadata"] = json.dumps(labels.metadata)

    # -- finishing

    def close(self) -> None:
        """Flush, then atomically move the finished log into place."""
        if self._closed:
            return
        self._closed = True
        self._file.close()
        self._atomic.__exit__(None, None, None)

    def abort(self) -> None:
        """Drop everything written so far; the target path is left untouched."""
        if self._closed:
            return
        self._closed = True
        self._file.close()
        self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)

    # -- helpers

    def _stream(self, kind: str, sensor: str) -> h5py.Group:
        calibration = self._calibrations.get(sensor)
        if calibration is None or calibration.kind != kind:
            raise ValueError(f"{self.path}: add the {kind} calibration of {sensor!r} before its data")
        return self._file.require_group(f"{kind}/{sensor}")

    def _append_ragged(self, group: h5py.Group, values: str, offsets: str, timestamp_us: int, rows: np.ndarray) -> None:
        _append_stamp(group, timestamp_us)
        if values not in group:
            group.create_dataset(
                values, shape=(0, rows.shape[1]), maxshape=(None, rows.shape[1]), dtype=np.float32,
                chunks=(_POINTS_CHUNK, rows.shape[1]), **_COMPRESSION,
            )
            group.create_dataset(offsets, data=np.zeros(1, np.int64), maxshape=(None,), chunks=(4096,))
        _append(group, values, rows)
        offset_dataset = group[offsets]
        offset_dataset.resize((len(offset_dataset) + 1,))
        offset_dataset[-1] = len(group[values])

    def _write_group(self, path: str, **arrays: np.ndarray) -> None:
        if path in self._file:
            del self._file[path]
        group = self._file.create_group(path)
        for name, values in arrays.items():
            options = _COMPRESSION if values.dtype.kind in "fi" and values.size > 4096 else {}
            group.create_dataset(name, data=values, **options)


def _append(group: h5py.Group, name: str, rows: np.ndarray) -> None:
    if name not in group:
        chunks = (_POINTS_CHUNK,) + rows.shape[1:]
        group.create_dataset(name, shape=(0,) + rows.shape[1:], maxshape=(None,) + rows.shape[1:], dtype=rows.dtype, chunks=chunks, **_COMPRESSION)
    dataset = group[name]
    start = len(dataset)
    dataset.resize((start + len(rows),) + rows.shape[1:])
    dataset[start:] = rows


def _append_stamp(group: h5py.Group, timestamp_us: int) -> None:
    stamps = group.get("timestamps_us") or group.create_dataset("timestamps_us", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(4096,))
    if len(stamps) and timestamp_us <= stamps[-1]:
        raise ValueError(f"{group.name}: timestamps must increase strictly, got {timestamp_us} after {stamps[-1]}")
    stamps.resize((len(stamps) + 1,))
    stamps[-1] = timestamp_us


# --------------------------------------------------------------------------- reading


class DriveLog:
    """A drive log opened for reading. Structure is validated on open; values (NaN points,
    say) are validated as each frame is read, or all at once by `validate(deep=True)`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise LogError(self.path, "", "no such file")
        if self.path.is_dir():
            raise LogError(self.path, "", "is a directory, expected an HDF5 drive log")
        if self.path.stat().st_size == 0:
            raise LogError(self.path, "", "empty file, expected an HDF5 drive log")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as error:
            raise LogError(self.path, "", f"not a readable HDF5 file (truncated or another format?): {_first_line(error)}") from None
        try:
            self._read_structure()
        except LogError:
            self._file.close()
            raise
        except (OSError, KeyError, ValueError, RuntimeError) as error:
            self._file.close()
            raise LogError(self.path, "", f"unreadable structure (truncated?): {_first_line(error)}") from None

    # -- context management

    def __enter__(self) -> "DriveLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __getstate__(self) -> dict[str, Any]:  # open again in another process
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    # -- metadata

    @property
    def name(self) -> str:
        return self._attrs["name"]

    @property
    def description(self) -> str:
        return self._attrs.get("description", "")

    @property
    def sequential(self) -> bool:
        """False for logs of unrelated snapshots (KITTI object): nothing tracks across frames."""
        return bool(self._attrs.get("sequential", True))

    @property
    def origin_lat_lon_alt(self) -> tuple[float, float, float] | None:
        origin = self._attrs.get("origin_lat_lon_alt")
        return None if origin is None else tuple(float(v) for v in origin)  # type: ignore[return-value]

    @property
    def calibrations(self) -> dict[str, Calibration]:
        return dict(self._calibrations)

    def sensors(self, kind: str) -> list[str]:
        """Names of the sensors of one kind that have data, in name order."""
        return sorted(self._streams.get(kind, {}))

    @property
    def lidar(self) -> str:
        """The main (first) LiDAR."""
        names = self.sensors("lidar")
        if not names:
            raise LogError(self.path, "lidar", "the log has no LiDAR stream")
        return names[0]

    # -- streams

    def timestamps(self, sensor: str) -> np.ndarray:
        """(n,) int64 stamps of a stream as its sensor reported them (sensor clock)."""
        self._stream(sensor)
        return self._stamps[sensor].copy()

    def num_frames(self, sensor: str) -> int:
        return len(self.timestamps(sensor))

    def sweep(self, index: int, sensor: str | None = None) -> LidarSweep:
        sensor = sensor or self.lidar
        points = self._ragged(sensor, "points", index)
        return self._build(f"lidar/{sensor}/points[{index}]", LidarSweep, sensor=sensor, timestamp_us=int(self._stamps[sensor][index]), points=points)

    def point_truth(self, index: int, sensor: str | None = None) -> PointTruth | None:
        sensor = sensor or self.lidar
        if f"truth/points/{sensor}" not in self._file:
            return None
        start, stop = self._stream(sensor)["point_offsets"][index : index + 2]
        group = self._file[f"truth/points/{sensor}"]
        return PointTruth(semantic=self._read(group["semantic"], slice(start, stop)), instance=self._read(group["instance"], slice(start, stop)))

    def radar_scan(self, index: int, sensor: str) -> RadarScan:
        detections = self._ragged(sensor, "detections", index)
        return self._build(f"radar/{sensor}/detections[{index}]", RadarScan, sensor=sensor, timestamp_us=int(self._stamps[sensor][index]), detections=detections)

    def radar_truth(self, index: int, sensor: str) -> np.ndarray | None:
        """(D,) int32 truth track id of each detection of scan `index`, -1 for clutter."""
        if f"truth/radar/{sensor}" not in self._file:
            return None
        start, stop = self._stream(sensor)["detection_offsets"][index : index + 2]
        return self._read(self._file[f"truth/radar/{sensor}/instance"], slice(start, stop))

    def camera_image(self, index: int, sensor: str) -> CameraImage:
        group = self._file[f"camera/{sensor}"]
        data = self._read(group["images"], index)
        bgr = cv2.imdecode(np.asarray(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise LogError(self.path, f"camera/{sensor}/images[{index}]", f"cannot decode the stored {group.attrs.get('encoding')} image")
        return CameraImage(sensor=sensor, timestamp_us=int(self._stamps[sensor][index]), image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def encoded_image(self, index: int, sensor: str) -> tuple[bytes, str]:
        """The stored image bytes and their encoding ('jpeg' or 'png'), undecoded."""
        group = self._file[f"camera/{sensor}"]
        return bytes(self._read(group["images"], index)), str(group.attrs["encoding"])

    def poses(self) -> PoseSeries | None:
        return self._series("poses", PoseSeries)

    def gnss(self) -> GnssSeries | None:
        return self._series("gnss", GnssSeries)

    def imu(self) -> ImuSeries | None:
        return self._series("imu", ImuSeries)

    def truth(self) -> Labels | None:
        """Ground-truth cuboids (source "truth"), or None when the log has none."""
        if "truth/cuboids" not in self._file:
            return None
        group = self._file["truth/cuboids"]
        where = "truth/cuboids"
        try:
            data = {name: group[name][()] for name in group}
            offsets = data["cuboid_offsets"]
            frames = []
            for index, stamp in enumerate(data["timestamps_us"]):
                cuboids = []
                for row in range(offsets[index], offsets[index + 1]):
                    velocity = data["velocities"][row]
                    cuboids.append(
                        Cuboid.from_box(
                            data["boxes"][row],
                            id=_text(data["ids"][row]),
                            track_id=_text(data["track_ids"][row]),
                            label=_text(data["labels"][row]),
                            source=_text(data["sources"][row]),
                            score=float(data["scores"][row]),
                            num_points=int(data["num_points"][row]),
                            velocity=None if np.isnan(velocity).any() else velocity,
                            attributes=json.loads(_text(data["attributes"][row])),
                        )
                    )
                frames.append(LabelFrame(int(stamp), tuple(cuboids), json.loads(_text(data["frame_attributes"][index]))))
            return Labels(tuple(frames), json.loads(group.attrs.get("metadata", "{}")))
        except KeyError as error:
            raise LogError(self.path, where, f"missing dataset {error}") from None
        except (ValueError, IndexError) as error:
            raise LogError(self.path, where, _first_line(error)) from None

    # -- checks and summary

    def validate(self, *, deep: bool = False, progress: Any = None) -> None:
        """Raise LogError on the first problem. deep=True reads every frame (slow on big logs)."""
        if not deep:
            return
        for kind, reader in (("lidar", self.sweep), ("camera", self.camera_image), ("radar", self.radar_scan)):
            for sensor in self.sensors(kind):
                frames: Iterable[int] = range(self.num_frames(sensor))
                if progress is not None:
                    frames = progress(frames, desc=f"{kind} {sensor}")
                for index in frames:
                    reader(index, sensor)  # type: ignore[operator]
        self.truth()

    def summary(self) -> dict[str, Any]:
        """Sensors, rates, duration, counts and gaps, for `avlabel info` and manifests."""
        streams = {}
        all_stamps = []
        for kind in ("lidar", "radar", "camera"):
            for sensor in self.sensors(kind):
                calibration = self._calibrations[sensor]
                stamps = np.asarray(self.timestamps(sensor)) - calibration.clock_offset_us
                all_stamps.append(stamps)
                entry: dict[str, Any] = {"kind": kind, "frames": int(len(stamps)), "clock_offset_us": calibration.clock_offset_us}
                entry.update(_rate_and_gaps(stamps))
                if kind in ("lidar", "radar"):
                    offsets = self._stream(sensor)["point_offsets" if kind == "lidar" else "detection_offsets"]
                    entry["points" if kind == "lidar" else "detections"] = int(offsets[-1])
                if kind == "camera":
                    entry["image_size"] = list(calibration.image_size or ())
                    entry["distortion_model"] = calibration.distortion_model
                streams[sensor] = entry
        for kind, group in (("gnss", "gnss"), ("imu", "imu"), ("poses", "poses")):
            if group in self._file:
                stamps = self._file[f"{group}/timestamps_us"][()]
                all_stamps.append(stamps)
                streams[kind] = {"kind": kind, "frames": int(len(stamps)), **_rate_and_gaps(stamps)}
        joined = np.concatenate(all_stamps) if all_stamps else np.zeros(0, np.int64)
        truth = self._file.get("truth/cuboids")
        return {
            "name": self.name,
            "schema": self._attrs["schema"],
            "created_by": self._attrs.get("created_by", ""),
            "sequential": self.sequential,
            "start_us": int(joined.min()) if joined.size else None,
            "duration_s": float(joined.max() - joined.min()) / 1e6 if joined.size else 0.0,
            "streams": streams,
            "truth_frames": int(len(truth["timestamps_us"])) if truth is not None else 0,
            "truth_cuboids": int(len(truth["boxes"])) if truth is not None else 0,
            "truth_tracks": int(len(set(truth["track_ids"][()]))) if truth is not None else 0,
            "file_size_mb": self.path.stat().st_size / 1e6,
        }

    # -- internals

    def _read_structure(self) -> None:
        self._attrs = {key: _text(value) if isinstance(value, bytes) else value for key, value in self._file.attrs.items()}
        schema = self._attrs.get("schema")
        if schema is None:
            raise LogError(self.path, "/ attrs", f"no 'schema' attribute: not an avlabel drive log (expected {SCHEMA})")
        if schema != SCHEMA:
            raise LogError(self.path, "/ attrs", f"schema {schema!r} is not supported (expected {SCHEMA})")
        if "name" not in self._attrs:
            raise LogError(self.path, "/ attrs", "missing 'name'")
        self._calibrations = {}
        for sensor, group in self._file.get("calibration", {}).items():
            self._calibrations[sensor] = self._read_calibration(sensor, group)
        self._streams: dict[str, dict[str, h5py.Group]] = {}
        self._stamps: dict[str, np.ndarray] = {}
        for kind, values, offsets, width in (
            ("lidar", "points", "point_offsets", len(POINT_FIELDS)),
            ("radar", "detections", "detection_offsets", len(RADAR_FIELDS)),
            ("camera", "images", None, None),
        ):
            for sensor, group in self._file.get(kind, {}).items():
                where = f"{kind}/{sensor}"
                calibration = self._calibrations.get(sensor)
                if calibration is None or calibration.kind != kind:
                    raise LogError(self.path, where, f"no {kind} calibration under /calibration/{sensor}")
                stamps = self._require(group, "timestamps_us", np.int64, (None,))
                try:
                    _checks.timestamps(f"{where}/timestamps_us", stamps)
                except ValueError as error:
                    raise LogError(self.path, f"{where}/timestamps_us", str(error).split(": ", 1)[-1]) from None
                if offsets is not None:
                    data = self._require(group, values, np.float32, (None, width))
                    offset_values = self._require(group, offsets, np.int64, (len(stamps) + 1,))
                    if offset_values[0] != 0 or (np.diff(offset_values) < 0).any() or offset_values[-1] != data.shape[0]:
                        raise LogError(self.path, f"{where}/{offsets}", f"offsets must rise from 0 to {data.shape[0]} (the row count of {values})")
                else:
                    images = group.get("images")
                    if images is None or images.shape != (len(stamps),):
                        raise LogError(self.path, f"{where}/images", f"expected {len(stamps)} encoded images, one per timestamp")
                    if group.attrs.get("encoding") not in ("jpeg", "png"):
                        raise LogError(self.path, where, "attribute 'encoding' must be jpeg or png")
                self._streams.setdefault(kind, {})[sensor] = group
                self._stamps[sensor] = stamps
        for sensor in self._file.get("truth/points", {}):
            if sensor not in self._streams.get("lidar", {}):
                raise LogError(self.path, f"truth/points/{sensor}", "point truth for a LiDAR with no stream")
            rows = self._streams["lidar"][sensor]["points"].shape[0]
            for name, dtype in (("semantic", np.uint8), ("instance", np.int32)):
                self._require(self._file[f"truth/points/{sensor}"], name, dtype, (rows,), read=False)

    def _read_calibration(self, sensor: str, group: h5py.Group) -> Calibration:
        where = f"calibration/{sensor}"
        try:
            kind = _text(group.attrs["kind"])
            fields: dict[str, Any] = {
                "sensor": sensor,
                "kind": kind,
                "ego_from_sensor": group["ego_from_sensor"][()],
                "clock_offset_us": int(group.attrs.get("clock_offset_us", 0)),
                "distortion_model": _text(group.attrs.get("distortion_model", "none")),
                "distortion": group["distortion"][()] if "distortion" in group else np.zeros(0),
            }
            if kind == "camera":
                if "intrinsics" not in group:
                    raise LogError(self.path, where, "camera has no intrinsics (3x3 matrix expected)")
                fields["intrinsics"] = group["intrinsics"][()]
                fields["image_size"] = tuple(int(v) for v in group["image_size"][()])
            return Calibration(**fields)
        except KeyError as error:
            raise LogError(self.path, where, f"missing {error}") from None
        except ValueError as error:
            raise LogError(self.path, where, str(error).split(": ", 1)[-1]) from None

    def _require(self, group: h5py.Group, name: str, dtype: Any, shape: tuple[int | None, ...], read: bool = True) -> Any:
        where = f"{group.name.lstrip('/')}/{name}"
        dataset = group.get(name)
        if not isinstance(dataset, h5py.Dataset):
            raise LogError(self.path, where, "missing dataset")
        if dataset.dtype != np.dtype(dtype):
            raise LogError(self.path, where, f"expected dtype {np.dtype(dtype)}, found {dataset.dtype}")
        if len(dataset.shape) != len(shape) or any(want is not None and got != want for got, want in zip(dataset.shape, shape)):
            expected = "(" + ", ".join("N" if want is None else str(want) for want in shape) + ")"
            raise LogError(self.path, where, f"expected shape {expected}, found {dataset.shape}")
        return self._read(dataset, ()) if read and dataset.ndim == 1 else dataset

    def _read(self, dataset: h5py.Dataset, selection: Any) -> Any:
        try:
            return dataset[selection]
        except (OSError, ValueError, RuntimeError) as error:
            raise LogError(self.path, dataset.name.lstrip("/"), f"cannot read stored data (truncated or corrupted?): {_first_line(error)}") from None

    def _stream(self, sensor: str) -> h5py.Group:
        for streams in self._streams.values():
            if sensor in streams:
                return streams[sensor]
        known = ", ".join(sorted(s for streams in self._streams.values() for s in streams)) or "none"
        raise LogError(self.path, sensor, f"no such sensor stream (the log has: {known})")

    def _ragged(self, sensor: str, values: str, index: int) -> np.ndarray:
        group = self._stream(sensor)
        offsets = group["point_offsets" if values == "points" else "detection_offsets"]
        count = len(offsets) - 1
        if not -count <= index < count:
            raise IndexError(f"{self.path}: {group.name.lstrip('/')}: frame {index} out of range (0..{count - 1})")
        index %= count
        start, stop = offsets[index : index + 2]
        return self._read(group[values], slice(int(start), int(stop)))

    def _build(self, where: str, kind: type, **fields: Any) -> Any:
        try:
            return kind(**fields)
        except ValueError as error:
            raise LogError(self.path, where, str(error).split(": ", 1)[-1]) from None

    def _series(self, name: str, kind: type) -> Any:
        group = self._file.get(name)
        if group is None:
            return None
        try:
            return kind(**{key: self._read(group[key], ()) for key in kind.__dataclass_fields__})
        except KeyError as error:
            raise LogError(self.path, name, f"missing dataset {error}") from None
        except ValueError as error:
            raise LogError(self.path, name, str(error).split(": ", 1)[-1]) from None


def open_log(path: str | os.PathLike[str]) -> DriveLog:
    """Open and validate the structure of a drive log; raises LogError with one clear line."""
    return DriveLog(path)


def _rate_and_gaps(stamps: np.ndarray) -> dict[str, Any]:
    if len(stamps) < 2:
        return {"rate_hz": None, "gaps": 0, "max_gap_s": None}
    steps = np.diff(np.asarray(stamps, dtype=np.int64))
    median = float(np.median(steps))
    return {
        "rate_hz": 1e6 / median if median > 0 else None,
        "gaps": int(np.count_nonzero(steps > 1.5 * median)),
        "max_gap_s": float(steps.max()) / 1e6,
    }


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
