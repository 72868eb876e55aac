"""A set of labels over a log: frames of cuboids, keyed by log-clock time."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from avlabel.structs import _checks
from avlabel.structs.cuboid import Cuboid, Track

SCHEMA = "avlabel.labels/1"


@dataclass(frozen=True, slots=True, eq=False)
class LabelFrame(_checks.ArrayEquality):
    """The cuboids of one LiDAR sweep. `timestamp_us` is the sweep's log-clock time."""

    timestamp_us: int
    cuboids: tuple[Cuboid, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp_us", _checks.integer("frame.timestamp_us", self.timestamp_us))
        object.__setattr__(self, "cuboids", tuple(self.cuboids))
        ids = [cuboid.id for cuboid in self.cuboids]
        if len(set(ids)) != len(ids):
            duplicate = next(cuboid_id for cuboid_id in ids if ids.count(cuboid_id) > 1)
            raise ValueError(f"frame {self.timestamp_us}: cuboid id {duplicate!r} appears twice")
        tracks = [cuboid.track_id for cuboid in self.cuboids]
        if len(set(tracks)) != len(tracks):
            duplicate = next(track for track in tracks if tracks.count(track) > 1)
            raise ValueError(f"frame {self.timestamp_us}: track {duplicate!r} has two cuboids")

    def boxes(self) -> np.ndarray:
        """(M, 7) float64 boxes of this frame's cuboids."""
        if not self.cuboids:
            return np.zeros((0, 7))
        return np.stack([cuboid.box for cuboid in self.cuboids])

    def __len__(self) -> int:
        return len(self.cuboids)

    def __iter__(self) -> Iterator[Cuboid]:
        return iter(self.cuboids)


@dataclass(frozen=True, slots=True, eq=False)
class Labels(_checks.ArrayEquality):
    """Labels of one log: frames in strictly increasing time.

    metadata: free-form provenance (log name, producer, config, edit history).
    """

    frames: tuple[LabelFrame, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "frames", tuple(self.frames))
        _checks.timestamps("labels.frames[].timestamp_us", [frame.timestamp_us for frame in self.frames] or np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[LabelFrame]:
        return iter(self.frames)

    @property
    def timestamps_us(self) -> np.ndarray:
        return np.array([frame.timestamp_us for frame in self.frames], dtype=np.int64)

    def num_cuboids(self) -> int:
        return sum(len(frame) for frame in self.frames)

    def tracks(self) -> dict[str, Track]:
        """Every track id to its Track, in order of first appearance."""
        rows: dict[str, list[tuple[int, Cuboid]]] = defaultdict(list)
        for frame in self.frames:
            for cuboid in frame.cuboids:
                rows[cuboid.track_id].append((frame.timestamp_us, cuboid))
        tracks = {}
        for track_id, entries in rows.items():
            labels = [cuboid.label for _, cuboid in entries]
            tracks[track_id] = Track(
                track_id=track_id,
                label=max(set(labels), key=labels.count),
                timestamps_us=np.array([stamp for stamp, _ in entries], dtype=np.int64),
                boxes=np.stack([cuboid.box for _, cuboid in entries]),
                scores=np.array([cuboid.score for _, cuboid in entries]),
            )
        return tracks
