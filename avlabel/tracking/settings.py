"""Config section of the tracking stage (the [tracking] table of configs/*.toml).

Everything that depends on the kind of object (gates, noise, speeds, how much evidence a
track needs) lives in one table per class, `[tracking.classes.<label>]`; the tracker looks
values up by a track's label and never branches on class names. Units are SI: metres,
seconds, radians, metres per second.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from avlabel.structs import CLASSES


class ClassTracking(BaseModel):
    """How objects of one class are associated, filtered, consolidated and scored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- association (forward pass)
    distance_gate: float = Field(3.0, gt=0)  # m: centre distance beyond which a detection never joins a track ...
    gate_growth: float = Field(10.0, ge=0)  # m/s: ... widened by 3 std of the prediction, at most this much per second unseen
    giou_gate: float = Field(-0.5, ge=-1, le=1)  # BEV GIoU below which a detection never joins a track
    mahalanobis_gate: float = Field(5.0, gt=0)  # std: centre offset beyond this many of the predicted spread never joins
    distance_weight: float = Field(1.0, ge=0)  # cost = (1 - GIoU) + distance_weight * distance / distance_gate
    compatible_labels: tuple[str, ...] = ()  # other classes a detection may carry and still join (confusions)
    birth_score: float = Field(0.2, ge=0, le=1)  # unmatched detections at least this confident start a track
    coast_seconds: float = Field(0.6, ge=0)  # a track unmatched for longer leaves the forward pass

    # -- motion model (see avlabel.tracking.motion)
    acceleration_noise: float = Field(3.0, gt=0)  # m/s^2, std of the white acceleration driving vx, vy
    yaw_acceleration_noise: float = Field(1.0, gt=0)  # rad/s^2, std driving the yaw rate
    vertical_noise: float = Field(0.2, gt=0)  # m/sqrt(s), random walk of the centre height
    initial_speed: float = Field(10.0, gt=0)  # m/s, prior std of the velocity of a new track
    maximum_acceleration: float = Field(4.0, gt=0)  # m/s^2: across a gap of t s, pieces may part from constant velocity by a t^2 / 2

    # -- measurement noise (see avlabel.tracking.measurements)
    position_noise: float = Field(0.15, gt=0)  # m, centre std of a well-observed detection next to the ego
    position_noise_per_metre: float = Field(0.004, ge=0)  # m per m of range added to the centre std
    sparse_points: float = Field(20.0, ge=0)  # below this many points the noise grows as sqrt(sparse_points / n)
    vertical_noise_ratio: float = Field(0.5, gt=0)  # height std as a fraction of the centre std
    yaw_noise: float = Field(0.1, gt=0)  # rad, yaw std of a well-observed detection
    birth_yaw_noise: float = Field(0.6, ge=0)  # rad: yaw std of a new track (its first box may be a quarter turn off)
    yaw_gate: float = Field(0.5, gt=0)  # rad: a measured yaw further than this (and 3 std) from the track's is not used
    velocity_noise: float = Field(0.6, gt=0)  # m/s, std of a radar velocity [vx, vy]
    velocity_gate: float = Field(4.0, gt=0)  # std: a radar velocity this far from the track's predicted one is not used
    lateral_velocity_noise: float = Field(0.5, ge=0)  # m/s: speed across the heading is 0 within this (0: free to slide, pedestrians)

    # -- consolidation (see avlabel.tracking.consolidation)
    typical_size: tuple[float, float, float] = (4.5, 1.9, 1.6)  # m, [length, width, height] of the class
    size_prior_points: float = Field(100.0, ge=0)  # the typical size votes for a track's size with this many points' weight
    minimum_size: tuple[float, float, float] = (3.0, 1.4, 1.0)  # m: no object of this class is smaller
    maximum_size: tuple[float, float, float] = (6.5, 3.0, 3.0)  # m: a track larger in any dimension is not of this class
    full_view_points: int = Field(150, ge=1)  # an observation with this many points shows the object in full
    size_quantile: float = Field(0.5, gt=0, lt=1)  # weighted quantile of the full views' sizes (and the typical size)
    anchor_partial_views: bool = True  # re-centre partial detections on their visible corner, at the track's size
    moving_speed: float = Field(1.0, ge=0)  # m/s: smoothed speed above which heading follows motion
    stationary_speed: float = Field(0.4, ge=0)  # m/s: a track never faster than this ...
    stationary_extent: float = Field(1.5, ge=0)  # m: ... whose smoothed centre spans less than this is parked
    parked_extension_seconds: float = Field(30.0, ge=0)  # a confident parked track is carried this long past its ends
    extension_uncertainty: float = Field(0.3, ge=0)  # m/s: uncertainty added per second away from the evidence
    maximum_gap_seconds: float = Field(2.0, ge=0)  # gaps up to this long are filled with interpolated boxes (parked: all)

    # -- track-level evidence
    confident_observations: int = Field(8, ge=1)  # observations at which length stops limiting the score
    minimum_observations: int = Field(3, ge=1)  # fewer observed frames: the track is dropped
    drop_score: float = Field(0.25, ge=0, le=1)  # track score below this: dropped
    review_score: float = Field(0.5, ge=0, le=1)  # track score below this: kept, flagged for review

    @model_validator(mode="after")
    def _ordered(self) -> "ClassTracking":
        if self.review_score < self.drop_score:
            raise ValueError(f"review_score ({self.review_score}) must be at least drop_score ({self.drop_score})")
        if self.stationary_speed > self.moving_speed:
            raise ValueError(f"stationary_speed ({self.stationary_speed}) must not exceed moving_speed ({self.moving_speed})")
        return self


def _default_classes() -> dict[str, ClassTracking]:
    """The class tables configs/default.toml states (a test keeps the two equal)."""
    return {
        "car": ClassTracking(compatible_labels=("truck", "other")),
        "truck": ClassTracking(
            compatible_labels=("car", "other"),
            distance_gate=4.0,
            acceleration_noise=2.5,
            maximum_acceleration=3.0,
            typical_size=(8.5, 2.6, 3.2),
            minimum_size=(5.0, 2.0, 2.0),
            maximum_size=(20.0, 3.5, 4.8),
            full_view_points=250,
            stationary_extent=2.0,
        ),
        "pedestrian": ClassTracking(
            compatible_labels=("cyclist", "other"),
            distance_gate=1.5,
            giou_gate=-0.9,
            acceleration_noise=2.0,
            yaw_acceleration_noise=4.0,
            maximum_acceleration=2.0,
            initial_speed=2.0,
            position_noise=0.1,
            yaw_noise=0.5,
            yaw_gate=3.2,
            lateral_velocity_noise=0.0,
            typical_size=(0.6, 0.6, 1.75),
            minimum_size=(0.2, 0.2, 0.8),
            maximum_size=(1.5, 1.5, 2.4),
            full_view_points=40,
            moving_speed=0.5,
            stationary_speed=0.2,
            stationary_extent=0.6,
            parked_extension_seconds=2.0,
            drop_score=0.5,
            review_score=0.6,
        ),
        "cyclist": ClassTracking(
            compatible_labels=("pedestrian", "other"),
            distance_gate=2.5,
            giou_gate=-0.8,
            acceleration_noise=2.5,
            yaw_acceleration_noise=2.0,
            maximum_acceleration=3.0,
            initial_speed=5.0,
            position_noise=0.12,
            yaw_noise=0.3,
            typical_size=(1.8, 0.6, 1.7),
            minimum_size=(1.2, 0.3, 1.0),
            maximum_size=(2.8, 1.5, 2.4),
            full_view_points=50,
            moving_speed=0.8,
            stationary_extent=0.8,
            parked_extension_seconds=2.0,
        ),
        "other": ClassTracking(
            compatible_labels=("car", "truck", "pedestrian", "cyclist"),
            distance_gate=2.0,
            giou_gate=-0.8,
            maximum_acceleration=3.0,
            initial_speed=3.0,
            yaw_gate=3.2,
            lateral_velocity_noise=0.0,
            typical_size=(0.8, 0.8, 1.0),
            minimum_size=(0.1, 0.1, 0.1),
            maximum_size=(20.0, 20.0, 10.0),
            size_prior_points=0.0,
            full_view_points=40,
            parked_extension_seconds=2.0,
        ),
    }


class TrackingConfig(BaseModel):
    """The [tracking] table: stage-wide settings and one `classes.<label>` table per class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    class_mismatch_cost: float = Field(0.5, ge=0)  # added to the association cost when labels differ (but are compatible)
    outlier_gate: float = Field(4.0, gt=0)  # std: a detection this far from its track's smoothed centre leaves the track
    stitch_seconds: float = Field(3.0, ge=0)  # tracklets this far apart in time may be joined into one track
    stitch_gate: float = Field(3.0, gt=0)  # Mahalanobis distance (sigmas) under which two tracklets join
    stitch_overlap: int = Field(2, ge=0)  # frames a later tracklet may overlap the end of the one it continues
    parked_stitch_seconds: float = Field(30.0, ge=0)  # two parked tracklets at one place this far apart in time join
    range_without_poses: float = Field(25.0, gt=0)  # m: the range the noise model assumes when there are no poses
    observed_size_attribute: str = "observed_size"  # proposal attribute with the extents actually seen ("" = box size)
    duplicate_iou: float = Field(0.1, gt=0, le=1)  # BEV IoU at which two tracks' boxes count as one object ...
    duplicate_share: float = Field(0.5, gt=0, le=1)  # ... in this share of their common frames: the weaker is merged in
    classes: dict[str, ClassTracking] = Field(default_factory=_default_classes)

    @field_validator("classes", mode="before")
    @classmethod
    def _over_defaults(cls, tables: object) -> object:
        """A class table in a config file overrides only the fields it names."""
        if not isinstance(tables, dict):
            return tables
        merged: dict[str, object] = {label: table.model_dump() for label, table in _default_classes().items()}
        for label, table in tables.items():
            base = merged.get(label, {})
            merged[label] = {**base, **table} if isinstance(table, dict) and isinstance(base, dict) else table
        return merged

    @model_validator(mode="after")
    def _every_class(self) -> "TrackingConfig":
        missing = [label for label in CLASSES if label not in self.classes]
        if missing:
            raise ValueError(f"classes: no table for {', '.join(missing)}; add [tracking.classes.<label>] for each")
        for label, table in self.classes.items():
            unknown = [other for other in table.compatible_labels if other not in self.classes]
            if unknown:
                raise ValueError(f"classes.{label}.compatible_labels: {', '.join(unknown)} have no [tracking.classes.<label>] table")
        return self

    def compatible(self, track_label: str, detection_label: str) -> bool:
        """May a detection of `detection_label` join a track of `track_label`?"""
        return detection_label == track_label or detection_label in self.for_label(track_label).compatible_labels

    def for_label(self, label: str) -> ClassTracking:
        """The table of one class; ValueError with advice for a label the config does not know."""
        table = self.classes.get(label)
        if table is None:
            raise ValueError(
                f"tracking: no settings for class {label!r} (known: {', '.join(sorted(self.classes))}); "
                f"add a [tracking.classes.{label}] table to the config"
            )
        return table
