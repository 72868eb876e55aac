"""3D cuboids, the one thing avlabel labels.

A cuboid lives in the world frame (ENU, z up). Its array form, the only one used
anywhere in avlabel, is

    box = [x, y, z, length, width, height, yaw]      float64, shape (7,) or (N, 7)

with (x, y, z) the centre, length along the heading, width across it, height along +z,
and yaw the heading around +z: 0 along +x, counter-clockwise, in [-pi, pi).

Corner order (as nuScenes), in the box's own frame (x forward along the heading, y left, z up):

            4 --------- 0            index  x (forward)  y (left)  z (up)
           /|          /|              0      +l/2        +w/2      +h/2
          / |         / |              1      +l/2        -w/2      +h/2
         5 --------- 1  |              2      +l/2        -w/2      -h/2
         |  7 -------|- 3              3      +l/2        +w/2      -h/2
         | /         | /               4      -l/2        +w/2      +h/2
         |/          |/                5      -l/2        -w/2      +h/2
         6 --------- 2                 6      -l/2        -w/2      -h/2
      rear        front (heading)      7      -l/2        +w/2      -h/2

Corners 0-3 form the front face; 0, 1, 5, 4 the top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avlabel.structs import _checks

BOX_FIELDS = ("x", "y", "z", "length", "width", "height", "yaw")
CLASSES = ("car", "truck", "pedestrian", "cyclist", "other")
SOURCES = ("auto", "human", "truth")
# How a cuboid came to be, for tracked output (see the tracking stage).
STATES = ("observed", "smoothed", "interpolated")

_CORNER_SIGNS = np.array(
    [[1, 1, 1], [1, -1, 1], [1, -1, -1], [1, 1, -1], [-1, 1, 1], [-1, -1, 1], [-1, -1, -1], [-1, 1, -1]],
    dtype=np.float64,
)


def wrap_angle(angle: float | np.ndarray) -> float | np.ndarray:
    """Wrap radians into [-pi, pi)."""
    wrapped = np.mod(np.asarray(angle, dtype=np.float64) + np.pi, 2.0 * np.pi) - np.pi
    return float(wrapped) if np.ndim(wrapped) == 0 else wrapped


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """Corners of boxes (N, 7) as (N, 8, 3), in the order drawn in this module's docstring."""
    boxes = np.asarray(boxes, dtype=np.float64)
    single = boxes.ndim == 1
    boxes = np.atleast_2d(boxes)
    local = _CORNER_SIGNS[None, :, :] * boxes[:, None, 3:6] / 2.0
    cos, sin = np.cos(boxes[:, 6])[:, None], np.sin(boxes[:, 6])[:, None]
    corners = np.empty_like(local)
    corners[..., 0] = cos * local[..., 0] - sin * local[..., 1] + boxes[:, None, 0]
    corners[..., 1] = sin * local[..., 0] + cos * local[..., 1] + boxes[:, None, 1]
    corners[..., 2] = local[..., 2] + boxes[:, None, 2]
    return corners[0] if single else corners


@dataclass(frozen=True, slots=True, eq=False)
class Cuboid(_checks.ArrayEquality):
    """One labelled object at one moment, world frame.

    `attributes` carries anything beyond the core fields (tracking state, uncertainty,
    review flags); it is written flat into the labels file next to the core fields.
    """

    id: str
    track_id: str
    label: str
    center: np.ndarray  # (3,) metres, world frame
    size: np.ndarray  # (3,) length, width, height in metres, all > 0
    yaw: float  # radians around +z, 0 along +x, in [-pi, pi)
    score: float = 1.0  # [0, 1]
    num_points: int = 0  # LiDAR points inside
    source: str = "auto"
    velocity: np.ndarray | None = None  # (2,) m/s in world x, y, where known
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"cuboid {self.id!r}"
        _checks.text(f"{where}.id", self.id)
        _checks.text(f"{where}.track_id", self.track_id)
        _checks.text(f"{where}.label", self.label)
        object.__setattr__(self, "center", _checks.array(f"{where}.center", self.center, np.float64, (3,)))
        size = _checks.array(f"{where}.size", self.size, np.float64, (3,))
        if (size <= 0).any():
            raise ValueError(f"{where}.size: length, width and height must be > 0, got {size.tolist()}")
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "yaw", wrap_angle(_checks.real(f"{where}.yaw", self.yaw)))
        object.__setattr__(self, "score", _checks.real(f"{where}.score", self.score, minimum=0.0, maximum=1.0))
        object.__setattr__(self, "num_points", _checks.integer(f"{where}.num_points", self.num_points, minimum=0))
        _checks.text(f"{where}.source", self.source, choices=SOURCES)
        if self.velocity is not None:
            object.__setattr__(self, "velocity", _checks.array(f"{where}.velocity", self.velocity, np.float64, (2,)))
        if not isinstance(self.attributes, dict):
            raise ValueError(f"{where}.attributes: expected a dict, got {type(self.attributes).__name__}")

    @property
    def box(self) -> np.ndarray:
        """(7,) float64: [x, y, z, length, width, height, yaw]."""
        return np.concatenate([self.center, self.size, [self.yaw]])

    def corners(self) -> np.ndarray:
        """(8, 3) world-frame corners, order in this module's docstring."""
        return box_corners(self.box)

    @classmethod
    def from_box(cls, box: np.ndarray, **fields: Any) -> "Cuboid":
        box = _checks.array("box", box, np.float64, (7,))
        return cls(center=box[:3], size=box[3:6], yaw=float(box[6]), **fields)


@dataclass(frozen=True, slots=True, eq=False)
class Track(_checks.ArrayEquality):
    """One object through time: boxes (T, 7) at timestamps_us (T,), world frame."""

    track_id: str
    label: str
    timestamps_us: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        where = f"track {self.track_id!r}"
        stamps = _checks.timestamps(f"{where}.timestamps_us", self.timestamps_us)
        object.__setattr__(self, "timestamps_us", stamps)
        object.__setattr__(self, "boxes", _checks.array(f"{where}.boxes", self.boxes, np.float64, (len(stamps), 7)))
        object.__setattr__(self, "scores", _checks.array(f"{where}.scores", self.scores, np.float64, (len(stamps),)))

    def __len__(self) -> int:
        return len(self.timestamps_us)

    @property
    def duration_s(self) -> float:
        return float(self.timestamps_us[-1] - self.timestamps_us[0]) / 1e6 if len(self) else 0.0


def yaw_difference(first: float | np.ndarray, second: float | np.ndarray, *, period: float = 2 * math.pi) -> float | np.ndarray:
    """Smallest absolute difference between angles, modulo `period` (pi ignores heading flips)."""
    difference = np.mod(np.asarray(first) - np.asarray(second) + period / 2, period) - period / 2
    result = np.abs(difference)
    return float(result) if np.ndim(result) == 0 else result
