"""Proposals as measurements: every detection of a log in flat arrays, with its noise.

Detections are already world-frame cuboids; the ego poses serve to know how far each one
was from the sensor, because a box fitted to a distant, sparse cluster is worse than one
next to the car. The noise model, per class (see `ClassTracking`):

    centre std  = (position_noise + position_noise_per_metre * range) * sparsity
    height std  = vertical_noise_ratio * centre std
    yaw std     = yaw_noise * sparsity
    sparsity    = sqrt(max(1, sparse_points / num_points))     (1 when num_points is unknown, 0)

Radar velocities (`Cuboid.velocity`, world-frame [vx, vy]) get `velocity_noise`. Classes with
`lateral_velocity_noise` > 0 get the lateral-speed pseudo-measurement (0, see motion.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avlabel.structs import Cuboid, Labels, PoseSeries
from avlabel.tracking import shape
from avlabel.tracking.motion import MEASUREMENT_SIZE
from avlabel.tracking.settings import TrackingConfig

# Metres by which an extent may exceed the box side it lies along (rounding of the attribute).
_FITS = 0.05


@dataclass(frozen=True, slots=True, eq=False)
class Detections:
    """Every proposal of a log, N rows, world frame; frames F in the proposals' order."""

    timestamps_us: np.ndarray  # (F,) int64, log clock, one per frame of the proposals
    ego_positions: np.ndarray  # (F, 3) float64, world-frame ego position per frame (NaN without poses)
    frame: np.ndarray  # (N,) int64, index of each detection's frame
    boxes: np.ndarray  # (N, 7) float64, [x, y, z, l, w, h, yaw]
    scores: np.ndarray  # (N,) float64 in [0, 1]
    labels: tuple[str, ...]  # (N,)
    num_points: np.ndarray  # (N,) int64, LiDAR points inside, 0 when unknown
    seen_sizes: np.ndarray  # (N, 3) float64, [l, w, h] the sensor saw (see seen_sizes()), for the size vote
    side_visible: np.ndarray  # (N,) bool, the ego saw the box's side (outside its width), so its length (True without poses)
    velocities: np.ndarray  # (N, 2) float64, radar [vx, vy] m/s, NaN where unknown
    ranges: np.ndarray  # (N,) float64, ground-plane distance from the ego, m (NaN without poses)
    measurements: np.ndarray  # (N, 7) float64, [x, y, z, yaw, vx, vy, lateral_speed] (motion.MEASUREMENT), NaN: not measured
    noise_std: np.ndarray  # (N, 7) float64, std of each measurement component
    cuboids: tuple[Cuboid, ...]  # (N,) the proposals themselves

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def num_frames(self) -> int:
        return len(self.timestamps_us)

    @property
    def times_s(self) -> np.ndarray:
        """(F,) float64 seconds since the first frame."""
        if not len(self.timestamps_us):
            return np.zeros(0)
        return (self.timestamps_us - self.timestamps_us[0]) / 1e6

    def in_frame(self, index: int) -> np.ndarray:
        """(M,) int64 rows of the detections of frame `index`."""
        return np.flatnonzero(self.frame == index)


def ego_positions(poses: PoseSeries | None, timestamps_us: np.ndarray) -> np.ndarray:
    """(F, 3) world-frame ego positions at `timestamps_us`, linearly interpolated (clamped
    at the ends); NaN everywhere when there are no poses."""
    if poses is None or not len(poses):
        return np.full((len(timestamps_us), 3), np.nan)
    translations = poses.world_from_ego[:, :3, 3]
    return np.column_stack([np.interp(timestamps_us, poses.timestamps_us, translations[:, axis]) for axis in range(3)])


def collect(proposals: Labels, config: TrackingConfig, poses: PoseSeries | None) -> Detections:
    """Flatten `proposals` into Detections with the noise model above."""
    cuboids = tuple(cuboid for frame in proposals.frames for cuboid in frame.cuboids)
    frame = np.repeat(np.arange(len(proposals.frames)), [len(frame) for frame in proposals.frames]).astype(np.int64)
    timestamps_us = proposals.timestamps_us
    positions = ego_positions(poses, timestamps_us)
    boxes = np.array([cuboid.box for cuboid in cuboids]).reshape(-1, 7)
    labels = tuple(cuboid.label for cuboid in cuboids)
    tables = [config.for_label(label) for label in labels]  # fails early, with advice, on unknown classes
    num_points = np.array([cuboid.num_points for cuboid in cuboids], dtype=np.int64)
    velocities = np.array(
        [cuboid.velocity if cuboid.velocity is not None else (np.nan, np.nan) for cuboid in cuboids], dtype=np.float64
    ).reshape(-1, 2)
    seen = seen_sizes(cuboids, config.observed_size_attribute, boxes, positions[frame])
    ranges = np.linalg.norm(boxes[:, :2] - positions[frame, :2], axis=1) if len(cuboids) else np.zeros(0)
    noise_range = np.where(np.isfinite(ranges), ranges, config.range_without_poses)

    def column(name: str) -> np.ndarray:
        return np.array([getattr(table, name) for table in tables], dtype=np.float64)

    sparse_points = column("sparse_points")
    sparsity = np.sqrt(np.maximum(1.0, sparse_points / np.maximum(num_points, 1)))
    sparsity[num_points == 0] = 1.0
    centre = (column("position_noise") + column("position_noise_per_metre") * noise_range) * sparsity
    noise_std = np.empty((len(cuboids), MEASUREMENT_SIZE))
    noise_std[:, 0] = noise_std[:, 1] = centre
    noise_std[:, 2] = centre * column("vertical_noise_ratio")
    noise_std[:, 3] = column("yaw_noise") * sparsity
    noise_std[:, 4] = noise_std[:, 5] = column("velocity_noise")
    lateral = column("lateral_velocity_noise")
    noise_std[:, 6] = np.where(lateral > 0, lateral, 1.0)
    return Detections(
        timestamps_us=timestamps_us,
        ego_positions=positions,
        frame=frame,
        boxes=boxes,
        scores=np.array([cuboid.score for cuboid in cuboids], dtype=np.float64),
        labels=labels,
        num_points=num_points,
        seen_sizes=seen,
        side_visible=shape.side_visible(boxes, positions[frame]),
        velocities=velocities,
        ranges=ranges,
        measurements=np.column_stack([boxes[:, :3], boxes[:, 6], velocities, np.where(lateral > 0, 0.0, np.nan)]),
        noise_std=noise_std,
        cuboids=cuboids,
    )


def seen_sizes(cuboids: tuple[Cuboid, ...], attribute: str, boxes: np.ndarray | None = None, ego_positions: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) the extents each proposal's points showed, [along, across, height] the box's
    yaw, for voting on a track's one size.

    A proposal stage may grow a partly seen box to its class's typical size (avlabel's
    does, and keeps what it saw in the attribute named `attribute`: [longer, shorter,
    height] extents of its fitted rectangle, whose axes may be the box's either way round).
    The longer extent lies along the box when it exceeds the box's width (a box is at least
    as wide as what it holds), or when the sensor looked at the box more from its side than
    from its end. Seen from an end (boxes (N, 7) and world-frame ego_positions (N, 3)
    given, the box's axis within 45 degrees of the line of sight), what the points show
    best is that end, across the box: a car followed from behind shows its width and a
    little of its roof, not a short length. Without the attribute (or with attribute ""),
    the box's own size.
    """
    sizes = np.array([cuboid.size for cuboid in cuboids], dtype=np.float64).reshape(-1, 3)
    if not attribute:
        return sizes
    seen = np.full((len(cuboids), 3), np.nan)
    for index, cuboid in enumerate(cuboids):
        value = cuboid.attributes.get(attribute)
        if isinstance(value, (list, tuple)) and len(value) == 3 and all(isinstance(item, (int, float)) and item > 0 for item in value):
            seen[index] = (max(value[0], value[1]), min(value[0], value[1]), value[2])
    known = np.isfinite(seen[:, 0])
    if boxes is not None and ego_positions is not None and len(boxes):
        sight = boxes[:, :2] - ego_positions[:, :2]
        end_on = np.abs(np.cos(boxes[:, 6] - np.arctan2(sight[:, 1], sight[:, 0]))) > math.sqrt(0.5)
        across = known & end_on & (seen[:, 0] <= boxes[:, 4] + _FITS)
        seen[across, 0], seen[across, 1] = seen[across, 1], seen[across, 0].copy()
    return np.where(known[:, None], seen, sizes)
