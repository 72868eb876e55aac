"""Class and score of clusters from their shape and point statistics.

Each class is one row of the config table `[perception.classes.<name>]`: a size prior
(typical length, width, height and a relative tolerance), an envelope (min/max of each
dimension), how high the lowest point may float above ground, how much of the cluster
must lie on the box boundary (solid surfaces, unlike foliage), and how many points make
a fully supported proposal. Every row is evaluated the same way, in arrays (K clusters
x C classes); there is no per-class code.

A cluster's observed bird's-eye extents can be assigned to the class's (length, width)
as seen or swapped: a car seen end-on shows a 1.8 m face that is its width, and its
length runs away from the sensor. The better assignment wins, and `swapped` tells the
box completion to turn the heading by 90 degrees.

score = compatibility ** 0.5 * support * surface * solid * visible, with compatibility the
size/shape likelihood in [0, 1], support = 1 - exp(-points / points_for_confidence), and
ramps on the boundary fraction (surface), on the scan-line roughness (solid: foliage,
which beams enter to random depths, is rough; paint and walls are smooth) and on the
longer observed extent (visible: a 30 cm sliver of something is no truck) and, where
radar saw the object move, on the class's top speed (a 6 m/s object is no pedestrian). Its calibration (precision rising with score) is
measured by scripts/measure_proposals.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avlabel.perception.settings import ClassConfig, ScoreConfig


@dataclass(frozen=True, slots=True, eq=False)
class ClusterFeatures:
    """Per-cluster evidence, K clusters, ego frame, metres.

    length >= width: observed bird's-eye extents of the fitted rectangle; height: top
    point above the local ground; bottom: lowest point above the local ground;
    num_points; range: horizontal distance from the sensor; edge_fraction: share of
    points within 0.2 m of the rectangle's boundary; intensity: mean point intensity;
    roughness: median range second difference along scan lines (NaN unknown)."""

    length: np.ndarray
    width: np.ndarray
    height: np.ndarray
    bottom: np.ndarray
    num_points: np.ndarray
    range: np.ndarray
    edge_fraction: np.ndarray
    intensity: np.ndarray
    roughness: np.ndarray | None = None
    sight_alignment: np.ndarray | None = None  # |cos| of the angle between the longer extent and the line of sight
    min_speed: np.ndarray | None = None  # a lower bound of the speed over ground, m/s (radar), NaN unknown
    foot_hidden: np.ndarray | None = None  # bool: something nearer hides the lower part (see kernels._foot_hidden)


@dataclass(frozen=True, slots=True, eq=False)
class Classification:
    """Per cluster (K,): class index into `names`, score in [0, 1], whether the observed
    extents were assigned swapped, and the best class's typical and minimum
    (length, width, height); `compatibility` (K, C) for review."""

    names: tuple[str, ...]
    label: np.ndarray
    score: np.ndarray
    swapped: np.ndarray
    typical_size: np.ndarray  # (K, 3)
    minimum_size: np.ndarray  # (K, 3)
    compatibility: np.ndarray  # (K, C)


def _table(classes: dict[str, ClassConfig]) -> dict[str, np.ndarray]:
    """Class rows as (1, C) arrays, one per numeric field."""
    fields = [name for name, field in ClassConfig.model_fields.items() if field.annotation in (float, int)]
    return {name: np.array([[getattr(row, name) for row in classes.values()]], dtype=np.float64) for name in fields}


def classify(features: ClusterFeatures, classes: dict[str, ClassConfig], config: ScoreConfig) -> Classification:
    """Class, score and extent assignment of K clusters (see the module docstring)."""
    if not classes:
        raise ValueError("perception.classes: the class table is empty; define at least one class")
    names = tuple(classes)
    table = _table(classes)
    count = len(features.length)
    column = lambda values: np.asarray(values, dtype=np.float64).reshape(count, 1)  # noqa: E731
    length, width, height = column(features.length), column(features.width), column(features.height)
    bottom, points, distance = column(features.bottom), column(features.num_points), column(features.range)
    edges = column(features.edge_fraction)

    height_slack = config.height_slack + config.height_slack_per_metre * distance
    height_ok = (height >= table["min_height"] - height_slack) & (height <= table["max_height"] + config.height_slack)
    height_term = _gaussian(height, table["height"], table["size_tolerance"] * table["height"] + height_slack)
    # A floating bottom rules a class out, unless something nearer hides the foot.
    hidden = column(features.foot_hidden) > 0 if features.foot_hidden is not None else np.zeros((count, 1), bool)
    common = height_ok * height_term * ((bottom <= table["max_bottom"]) | hidden)

    # The two ways to read the extents: as seen, or turned by 90 degrees. When the class's
    # length is not fully seen, the hidden part most likely runs away from the sensor, so
    # the reading whose length axis lies along the line of sight is preferred.
    alignment = column(features.sight_alignment) if features.sight_alignment is not None else np.full((count, 1), 0.5)
    options = []
    for along, across, along_sight in ((length, width, alignment), (width, length, np.sqrt(np.clip(1.0 - alignment**2, 0.0, 1.0)))):
        # Beyond the class's envelope the likelihood falls off within size_slack (a
        # pedestrian brushing past a car widens its cluster a little; a wall a lot).
        envelope = _gaussian(np.maximum(along - table["max_length"], 0.0), 0.0, config.size_slack) * _gaussian(
            np.maximum(across - table["max_width"], 0.0), 0.0, config.size_slack
        )
        hidden_length = np.where(along < table["min_length"], 1.0 - config.sight_preference * (1.0 - along_sight), 1.0)
        options.append(envelope * hidden_length * _size_term(along, table["length"], table["min_length"], table["size_tolerance"], config)
                       * _size_term(across, table["width"], table["min_width"], table["size_tolerance"], config))
    swapped_all = options[1] > options[0]
    compatibility = common * np.maximum(options[0], options[1])

    # Evidence per point grows with range: far away a car returns tens of points, near by thousands.
    weight = np.maximum(distance / config.support_reference_range, 1.0) ** config.support_range_power
    support = 1.0 - np.exp(-points * weight / table["points_for_confidence"])
    surface = _ramp(edges - table["min_edge_fraction"], config.edge_softness)
    roughness = column(features.roughness) if features.roughness is not None else np.full((count, 1), np.nan)
    solid = np.where(np.isnan(roughness), 1.0, _ramp(table["max_roughness"] - np.nan_to_num(roughness), config.roughness_softness))
    visible = _ramp(length - table["min_visible_length"], config.visible_softness)
    visible = visible * np.where(table["min_visible_width"] > 0, _ramp(width - table["min_visible_width"], config.visible_width_softness), 1.0)
    speed = column(features.min_speed) if features.min_speed is not None else np.full((count, 1), np.nan)
    possible_speed = np.where(np.isnan(speed), 1.0, _ramp(table["max_speed"] - np.nan_to_num(speed), config.speed_softness))
    scores = np.sqrt(compatibility) * support * surface * solid * visible * possible_speed * table["score_scale"]
    label = np.argmax(scores * table["prior"], axis=1) if count else np.zeros(0, np.int64)
    rows = np.arange(count)
    typical = np.stack([table[name][0] for name in ("length", "width", "height")], axis=1)
    minimum = np.stack([table[name][0] for name in ("min_length", "min_width", "min_height")], axis=1)
    return Classification(
        names=names,
        label=label,
        score=np.clip(scores[rows, label], 0.0, 1.0),
        swapped=swapped_all[rows, label],
        typical_size=typical[label],
        minimum_size=minimum[label],
        compatibility=compatibility,
    )


def _ramp(margin: np.ndarray, softness: float) -> np.ndarray:
    """0 below -softness/2, 1 above +softness/2, linear between."""
    return np.clip(margin / softness + 0.5, 0.0, 1.0)


def _gaussian(value: np.ndarray, centre: np.ndarray, spread: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * ((value - centre) / spread) ** 2)


def _size_term(observed: np.ndarray, typical: np.ndarray, minimum: np.ndarray, tolerance: np.ndarray, config: ScoreConfig) -> np.ndarray:
    """Likelihood of one observed extent: at least the class minimum, it is taken as
    fully seen and scored as a Gaussian around the typical size; shorter, it may be a
    partial view, mildly penalised."""
    seen = _gaussian(observed, typical, tolerance * typical)
    return np.where(observed < minimum, config.partial_view_factor, seen)
