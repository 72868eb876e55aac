"""Small labelled scenes for the review tests: built by hand, no simulator, no log."""

from __future__ import annotations

import datetime
import itertools
import random

import numpy as np

from avlabel.review import AcceptProposal, CreateCuboid, DeleteCuboid, MoveCuboid, Relabel, RotateCuboid, SetTrackSize
from avlabel.structs import Cuboid, LabelFrame, Labels

START_US = 1_000_000
STEP_US = 100_000


def stamps(count: int) -> np.ndarray:
    return START_US + np.arange(count, dtype=np.int64) * STEP_US


def make_labels(frames: int = 10) -> Labels:
    """Three machine tracks over `frames` sweeps at 10 Hz, world frame:
    "1" a car driving +x at 10 m/s, "2" a standing pedestrian, "3" a weak short-lived car."""
    result = []
    for index, stamp in enumerate(stamps(frames)):
        cuboids = [
            Cuboid(f"car-{index}", "1", "car", [index * 1.0, 0.0, 0.8], [4.5, 1.9, 1.6], 0.0, score=0.9, num_points=80,
                   velocity=[10.0, 0.0], attributes={"state": "observed", "uncertainty": 0.1, "track_score": 0.9}),
            Cuboid(f"ped-{index}", "2", "pedestrian", [5.0, 5.0, 0.9], [0.6, 0.6, 1.8], 1.0, score=0.8, num_points=30,
                   attributes={"state": "smoothed", "uncertainty": 0.2, "track_score": 0.8}),
        ]
        if 3 <= index < 6:
            cuboids.append(Cuboid(f"weak-{index}", "3", "car", [20.0, -6.0, 0.8], [4.0, 1.8, 1.5], 0.5, score=0.3, num_points=4,
                                  attributes={"state": "observed", "uncertainty": 0.9, "track_score": 0.3}))
        result.append(LabelFrame(int(stamp), tuple(cuboids)))
    return Labels(tuple(result), {"producer": "tests"})


class FakeClock:
    """A clock that ticks `step_s` seconds on every reading (deterministic times)."""

    def __init__(self, start: str = "2024-05-01T09:00:00+00:00", step_s: float = 2.0) -> None:
        self._start = datetime.datetime.fromisoformat(start)
        self._ticks = itertools.count()
        self._step = step_s

    def __call__(self) -> datetime.datetime:
        return self._start + datetime.timedelta(seconds=self._step * next(self._ticks))


def turning_ego(times_us: np.ndarray, speed: float = 8.0, yaw_rate: float = 0.3) -> np.ndarray:
    """world_from_ego (T, 4, 4) of an ego driving a circle: speed m/s, yaw_rate rad/s."""
    seconds = (np.asarray(times_us) - times_us[0]) / 1e6
    heading = yaw_rate * seconds
    radius = speed / yaw_rate
    poses = np.tile(np.eye(4), (len(seconds), 1, 1))
    poses[:, 0, 3] = radius * np.sin(heading)
    poses[:, 1, 3] = radius * (1 - np.cos(heading))
    poses[:, 0, 0] = poses[:, 1, 1] = np.cos(heading)
    poses[:, 0, 1] = -np.sin(heading)
    poses[:, 1, 0] = np.sin(heading)
    return poses


def random_operation(rng: random.Random, labels) -> object:
    """A random operation that fits `labels` (used by the chain and crash tests)."""
    tracks = labels.tracks()
    track_id = rng.choice(sorted(tracks))
    stamp = int(rng.choice(tracks[track_id].timestamps_us))
    choices = [
        lambda: MoveCuboid(stamp, track_id, (rng.uniform(-1, 1), rng.uniform(-1, 1), 0.0)),
        lambda: RotateCuboid(stamp, track_id, rng.uniform(-0.5, 0.5)),
        lambda: SetTrackSize(track_id, (rng.uniform(3, 5), rng.uniform(1.5, 2), rng.uniform(1.4, 1.8))),
        lambda: Relabel(track_id, rng.choice(["car", "truck", "other"])),
        lambda: AcceptProposal(track_id),
        lambda: CreateCuboid(int(rng.choice(labels.timestamps_us)), (rng.uniform(-20, 20), rng.uniform(-20, 20), 0.8, 4.0, 1.8, 1.5, 0.0), "car"),
        lambda: DeleteCuboid(stamp, track_id),
    ]
    return rng.choice(choices)()
