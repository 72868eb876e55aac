"""Config section of the eval stage (the [evaluation] table of configs/*.toml).

Per-class values are tables keyed by label; a label missing from a table takes the
section's `default_*` value. Defaults follow the reference benchmarks: nuScenes for the
centre-distance detection metrics and AMOTA, KITTI for the IoU thresholds of 3D/BEV AP.

    [evaluation]
    classes = []                       # [] = every class that appears in truth or predictions
    [evaluation.detection.class_range_m]
    car = 50.0
    pedestrian = 40.0
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TP_ERROR_NAMES = ("trans_err", "scale_err", "orient_err", "vel_err", "attr_err")


class DetectionSettings(BaseModel):
    """Detection metrics: nuScenes centre-distance AP, TP errors, NDS; KITTI-style IoU AP."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # nuScenes: a prediction matches the closest unmatched truth of its class within the
    # threshold (BEV centre distance, metres); AP is averaged over the thresholds.
    distance_thresholds_m: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    tp_distance_threshold_m: float = 2.0  # the threshold whose matches give the TP errors
    min_recall: float = Field(0.1, ge=0.0, le=1.0)
    min_precision: float = Field(0.1, ge=0.0, lt=1.0)
    mean_ap_weight: float = Field(5.0, ge=0.0)  # NDS = (w mAP + sum of TP scores) / (w + 5)
    # Truth and predictions farther than this from the ego (BEV, metres) are not evaluated
    # (needs the log's poses; without them nothing is filtered).
    class_range_m: dict[str, float] = {"car": 50.0, "truck": 50.0, "pedestrian": 40.0, "cyclist": 40.0, "other": 30.0}
    default_class_range_m: float = 50.0
    # Heading period for the orientation error: 1.0 = a full turn, 0.5 = a box that looks
    # the same turned around (nuScenes' barrier).
    orientation_period_turns: dict[str, float] = {}
    default_orientation_period_turns: float = 1.0
    # TP errors not defined for a class (nuScenes: cones have no orientation, attribute or
    # velocity); they count as NaN and drop out of the class average.
    skipped_tp_errors: dict[str, tuple[str, ...]] = {}
    # KITTI-style AP: a match needs IoU > the class's threshold (3D and bird's-eye).
    iou_threshold_3d: dict[str, float] = {"car": 0.7, "truck": 0.7, "pedestrian": 0.5, "cyclist": 0.5, "other": 0.5}
    iou_threshold_bev: dict[str, float] = {"car": 0.7, "truck": 0.7, "pedestrian": 0.5, "cyclist": 0.5, "other": 0.5}
    default_iou_threshold: float = 0.5
    recall_positions: int = Field(40, ge=1)  # KITTI R40

    @field_validator("distance_thresholds_m")
    @classmethod
    def _positive_thresholds(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if not values or any(not math.isfinite(value) or value <= 0 for value in values):
            raise ValueError("expected a non-empty list of positive distances in metres, e.g. [0.5, 1.0, 2.0, 4.0]")
        return values

    @field_validator("skipped_tp_errors")
    @classmethod
    def _known_errors(cls, table: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for label, names in table.items():
            unknown = set(names) - set(TP_ERROR_NAMES)
            if unknown:
                raise ValueError(f"{label}: unknown TP error(s) {sorted(unknown)}; expected some of {', '.join(TP_ERROR_NAMES)}")
        return table

    @field_validator("orientation_period_turns")
    @classmethod
    def _periods(cls, table: dict[str, float]) -> dict[str, float]:
        for label, turns in table.items():
            if not 0 < turns <= 1:
                raise ValueError(f"{label}: expected a heading period in (0, 1] turns (1.0 full, 0.5 half), got {turns}")
        return table

    @model_validator(mode="after")
    def _tp_threshold_is_a_threshold(self) -> "DetectionSettings":
        if self.tp_distance_threshold_m not in self.distance_thresholds_m:
            raise ValueError(
                f"tp_distance_threshold_m = {self.tp_distance_threshold_m} must be one of distance_thresholds_m "
                f"{list(self.distance_thresholds_m)}"
            )
        return self

    def class_range(self, label: str) -> float:
        return self.class_range_m.get(label, self.default_class_range_m)

    def orientation_period(self, label: str) -> float:
        """Heading period in radians for the orientation error of a class."""
        return 2.0 * math.pi * self.orientation_period_turns.get(label, self.default_orientation_period_turns)

    def iou_threshold(self, label: str, kind: Literal["3d", "bev"]) -> float:
        table = self.iou_threshold_3d if kind == "3d" else self.iou_threshold_bev
        return table.get(label, self.default_iou_threshold)


class TrackingSettings(BaseModel):
    """Tracking metrics: CLEAR MOT and IDF1 (motmetrics), HOTA (TrackEval), AMOTA (nuScenes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Truth and prediction of one class are paired when their BEV centres are closer than
    # this (nuScenes tracking: 2 m); MOTP is then a mean distance in metres.
    match_distance_m: float = Field(2.0, gt=0.0)
    # Predictions below this score are dropped for MOTA, MOTP, IDF1 and HOTA
    # (AMOTA sweeps the score itself).
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)
    # HOTA similarity: "iou_3d" or "center_distance" (max(0, 1 - d / hota_zero_distance_m)).
    hota_similarity: Literal["iou_3d", "iou_bev", "center_distance"] = "iou_3d"
    hota_zero_distance_m: float = Field(2.0, gt=0.0)
    # AMOTA / AMOTP: recall thresholds from amota_min_recall to 1, and the values given to
    # recalls the predictions never reach.
    amota_recall_thresholds: int = Field(40, ge=2)
    amota_min_recall: float = Field(0.1, ge=0.0, lt=1.0)
    amota_worst: float = 0.0
    amotp_worst_m: float = 2.0


class EffortSettings(BaseModel):
    """Annotation effort: how much of the labels already fit, and the edits the rest needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A label fits (needs no edit) when its 3D IoU with the truth reaches this and its class is right.
    iou_threshold: float = Field(0.7, gt=0.0, le=1.0)
    # One size edit per track when the track's size and the truth's size agree less than
    # this (IoU of the two sizes with centres and headings aligned).
    size_tolerance: float = Field(0.9, gt=0.0, le=1.0)
    # Truth and predicted tracks are associated by BEV centre distance below this (metres).
    association_distance_m: float = Field(2.0, gt=0.0)


class EvaluationConfig(BaseModel):
    """What is evaluated, how truth marks don't-care regions, and each metric family's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Classes evaluated; [] = every label that appears in the truth or the predictions
    # (ignore labels aside). Labels outside the list are dropped from both sides.
    classes: tuple[str, ...] = ()
    # Don't-care regions: truth cuboids with one of these labels, or whose attribute
    # `ignore_attribute` is true. They are not objects to find: a prediction whose footprint
    # lies in one by at least `ignore_overlap` (share of its area) and that matches no real
    # truth is neither a true nor a false positive.
    ignore_labels: tuple[str, ...] = ("ignore",)
    ignore_attribute: str = "ignore"
    ignore_overlap: float = Field(0.5, gt=0.0, le=1.0)
    # In tracking, predictions in a don't-care region are left out before association.
    # Truth cuboids with fewer LiDAR points (num_points) are not evaluated (nuScenes drops
    # truth without points: 1); 0 keeps all, for truth whose point counts are unknown.
    min_truth_points: int = Field(0, ge=0)
    # The cuboid attribute compared for the attribute error (nuScenes' attribute_name).
    attribute_key: str = "attribute"
    # Distance bands from the ego (BEV, metres): [0, 20), [20, 40), [40, 60), [60, inf).
    distance_band_edges_m: tuple[float, ...] = (0.0, 20.0, 40.0, 60.0)
    # Worst cases kept for the report, per kind.
    worst_cases: int = Field(3, ge=0)

    detection: DetectionSettings = DetectionSettings()
    tracking: TrackingSettings = TrackingSettings()
    effort: EffortSettings = EffortSettings()

    @field_validator("distance_band_edges_m")
    @classmethod
    def _increasing(cls, edges: tuple[float, ...]) -> tuple[float, ...]:
        if not edges or any(not math.isfinite(edge) or edge < 0 for edge in edges) or list(edges) != sorted(set(edges)):
            raise ValueError("expected strictly increasing distances >= 0 in metres, e.g. [0, 20, 40, 60]")
        return edges

    @field_validator("classes", "ignore_labels")
    @classmethod
    def _no_duplicates(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(names)) != len(names) or any(not name for name in names):
            raise ValueError("expected distinct, non-empty labels")
        return names

    @model_validator(mode="after")
    def _classes_are_not_ignored(self) -> "EvaluationConfig":
        clash = set(self.classes) & set(self.ignore_labels)
        if clash:
            raise ValueError(f"classes and ignore_labels share {sorted(clash)}; a label is either evaluated or a don't-care region")
        return self
