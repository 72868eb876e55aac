"""Ground removal that survives slopes and curbs: region-wise planes on a polar grid.

The ego frame (x forward, y left, z up, ground under the ego near z = 0) is cut into
rings around the ego, and every ring into sectors of roughly equal arc length (a
concentric zone model, as Patchwork does). Each bin fits a plane to its lowest points
(principal axes, refined a few times on the points near the plane). A plane is kept
only when it is upright, flat, and continuous with the accepted plane of the bin just
inside it; otherwise the bin inherits that inner plane. Growing outward this way
follows a sloped street ring by ring and ignores bins whose lowest points are a car
roof or the foot of a wall. A point is ground when it is less than
`ground_threshold` above its bin's plane.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from avlabel.perception import kernels
from avlabel.perception.settings import GroundConfig


@dataclass(frozen=True, slots=True, eq=False)
class PolarGrid:
    """Bins of the concentric zone model, ordered ring by ring outward.

    ring_edges (R + 1,) metres; sectors (R,) per ring; first_bin (R + 1,) index of each
    ring's first bin; centres (B, 2) ego-frame (x, y) of each bin's centre; inner (B,) the
    bin of the previous ring under each bin's centre angle (-1 for the first ring)."""

    ring_edges: np.ndarray
    sectors: np.ndarray
    first_bin: np.ndarray
    centres: np.ndarray
    inner: np.ndarray

    @classmethod
    def from_config(cls, config: GroundConfig) -> "PolarGrid":
        """The grid of a config (built once per distinct config)."""
        return _grid_of(config)

    @classmethod
    def build(cls, config: GroundConfig) -> "PolarGrid":
        edges = np.asarray(config.ring_edges, dtype=np.float64)
        middles = (edges[:-1] + edges[1:]) / 2
        sectors = np.clip(np.round(2 * np.pi * middles / config.sector_arc_length), config.min_sectors, config.max_sectors).astype(np.int64)
        first_bin = np.concatenate([[0], np.cumsum(sectors)])
        centres, inner = [], []
        for ring, count in enumerate(sectors):
            angles = -np.pi + (np.arange(count) + 0.5) * 2 * np.pi / count
            centres.append(np.column_stack([middles[ring] * np.cos(angles), middles[ring] * np.sin(angles)]))
            if ring == 0:
                inner.append(np.full(count, -1))
            else:
                previous = sectors[ring - 1]
                inner.append(first_bin[ring - 1] + np.minimum(((angles + np.pi) / (2 * np.pi) * previous).astype(np.int64), previous - 1))
        return cls(edges, sectors, first_bin, np.concatenate(centres), np.concatenate(inner).astype(np.int64))

    @property
    def bins(self) -> int:
        return int(self.first_bin[-1])

    def bin_of(self, xy: np.ndarray) -> np.ndarray:
        """Bin index (N,) int64 of ego-frame points xy (N, 2); -1 outside the grid."""
        ranges = np.hypot(xy[:, 0], xy[:, 1])
        rings = np.searchsorted(self.ring_edges, ranges, side="right") - 1
        inside = (rings >= 0) & (rings < len(self.sectors))
        rings = np.clip(rings, 0, len(self.sectors) - 1)
        counts = self.sectors[rings]
        angles = np.arctan2(xy[:, 1], xy[:, 0])
        sectors = np.minimum(((angles + np.pi) / (2 * np.pi) * counts).astype(np.int64), counts - 1)
        return np.where(inside, self.first_bin[rings] + sectors, -1)


@dataclass(frozen=True, slots=True, eq=False)
class GroundModel:
    """The ground of one sweep: one plane [nx, ny, nz, d] (n . p + d = 0, ego frame) per
    bin of `grid`, and which bins fitted their own plane (the rest inherit)."""

    grid: PolarGrid
    planes: np.ndarray  # (B, 4)
    accepted: np.ndarray  # (B,) bool

    def height_at(self, xy: np.ndarray) -> np.ndarray:
        """Ground height z (N,) under ego-frame points xy (N, 2); beyond the grid, the
        outermost ring's plane continues."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        bins = self.grid.bin_of(xy)
        outside = bins < 0
        if outside.any():
            ranges = np.hypot(xy[outside, 0], xy[outside, 1])
            clipped = xy[outside] * (np.minimum(ranges, self.grid.ring_edges[-1] - 1e-6) / np.maximum(ranges, 1e-9))[:, None]
            clipped[ranges < self.grid.ring_edges[0]] = 0.0
            bins[outside] = np.maximum(self.grid.bin_of(clipped), 0)
        plane = self.planes[bins]
        return -(plane[:, 3] + plane[:, 0] * xy[:, 0] + plane[:, 1] * xy[:, 1]) / plane[:, 2]


@functools.lru_cache(maxsize=8)
def _grid_of(config: GroundConfig) -> PolarGrid:
    return PolarGrid.build(config)


def fit_ground(points: np.ndarray, config: GroundConfig, grid: PolarGrid | None = None) -> tuple[GroundModel, np.ndarray]:
    """Fit the ground of a sweep and measure every point's height above it.

    points: (N, >=3) ego frame. Returns the GroundModel and heights (N,) float64 in metres
    above the local ground plane (negative below it).
    """
    grid = grid or PolarGrid.from_config(config)
    points = np.asarray(points)
    bins, order, offsets = kernels._polar_bins(points, grid.ring_edges, grid.sectors, grid.first_bin)
    planes, accepted = kernels._ground_bins(
        points,
        order,
        offsets,
        grid.centres,
        grid.inner,
        config.seed_count,
        config.seed_height,
        config.plane_distance,
        config.iterations,
        config.min_bin_points,
        math.cos(math.radians(config.max_tilt_degrees)),
        config.max_flatness,
        config.step_tolerance,
        config.max_slope,
        math.cos(math.radians(config.max_bend_degrees)),
        config.ground_height_at_ego,
    )
    model = GroundModel(grid, planes, accepted)
    heights = kernels._height_above_planes(points, bins, planes)
    outside = np.flatnonzero(bins < 0)
    if len(outside):
        heights[outside] = points[outside, 2] - model.height_at(points[outside, :2])
    return model, heights


def ground_mask(points: np.ndarray, config: GroundConfig) -> np.ndarray:
    """(N,) bool: which ego-frame points (N, >=3) are ground (road, sidewalk, terrain)."""
    _, heights = fit_ground(points, config)
    return heights < config.ground_threshold
