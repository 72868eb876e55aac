"""Config section of the perception stage (the [perception] table of configs/*.toml).

Sub-tables: [perception.ground], [perception.clustering], [perception.box_fit],
[perception.classes.<name>] (one row per class: size priors and thresholds) and
[perception.radar]. Lengths in metres, angles in degrees where the name says so.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from avlabel.structs import CLASSES


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroundConfig(_Section):
    """Region-wise ground planes on a polar grid around the ego (see ground.py)."""

    ring_edges: tuple[float, ...] = (0.0, 4.0, 6.0, 8.0, 10.5, 13.0, 16.0, 19.5, 23.5, 28.0, 33.0, 39.0, 46.0, 54.0, 63.0, 75.0, 90.0, 110.0, 140.0, 200.0)
    sector_arc_length: float = Field(3.0, gt=0)  # metres of arc per sector at the ring's middle
    min_sectors: int = Field(16, ge=1)
    max_sectors: int = Field(96, ge=1)
    seed_count: int = Field(12, ge=1)  # the lowest points whose mean starts the seeds
    seed_height: float = Field(0.15, gt=0)  # seeds lie within this of that mean
    plane_distance: float = Field(0.1, gt=0)  # points this near the plane refine it
    iterations: int = Field(2, ge=0)
    min_bin_points: int = Field(5, ge=3)
    max_tilt_degrees: float = Field(20.0, gt=0, lt=90)  # steeper planes are walls, not ground
    max_flatness: float = Field(0.01, gt=0)  # mean squared height residual of the plane fit, m^2
    step_tolerance: float = Field(0.35, ge=0)  # height jump allowed between neighbour bins
    max_slope: float = Field(0.05, ge=0)  # plus this much per metre between bin centres (change of grade)
    max_bend_degrees: float = Field(6.0, gt=0, lt=90)  # tilt allowed between neighbour planes
    ground_height_at_ego: float = 0.0  # ground z under the ego origin (ego frame)
    ground_threshold: float = Field(0.2, gt=0)  # points lower than this above the plane are ground

    @field_validator("ring_edges")
    @classmethod
    def _increasing(cls, edges: tuple[float, ...]) -> tuple[float, ...]:
        if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] < 0:
            raise ValueError("ring_edges must be at least two increasing ranges >= 0 (metres)")
        return edges


class ClusteringConfig(_Section):
    """DBSCAN of the non-ground points (see cluster.py)."""

    eps: float = Field(0.35, gt=0)  # metres, at short range
    eps_per_metre: float = Field(0.014, ge=0)  # > 0: the radius grows with range (0.7 m at 50 m)
    eps_band_width: float = Field(10.0, gt=0)  # metres of range clustered with one radius
    min_points: int = Field(3, ge=1)
    wall_rounds: int = Field(2, ge=0)  # peel this many walls off oversize clusters (0: off)
    wall_tolerance: float = Field(0.15, gt=0)  # metres from the wall's line in bird's-eye view
    wall_min_length: float = Field(4.0, gt=0)  # a wall's points span at least this along it
    split_eps: tuple[float, ...] = (0.35,)  # tighter radii, in turn, for clusters no class holds, short of walls (a car and a hedge; none: off)
    split_min_extent: float = Field(1.5, ge=0)  # a piece that leaves such a cluster spans at least this (bird's-eye diagonal, metres)
    fragment_gap: float = Field(0.6, ge=0)  # low pieces this near a taller cluster join it (0: off)
    fragment_max_top: float = Field(1.15, gt=0)  # a piece's top is at most this high above ground
    fragment_max_extent: float = Field(6.2, gt=0)  # the joined cluster's bird's-eye diagonal at most (a car's)
    piece_gap: float = Field(1.0, ge=0)  # pieces of one car this near (bird's-eye boxes) join when together they still fit a car (0: off)
    piece_slack: float = Field(-0.2)  # metres over (+) or under (-) the car's maximum length and width that the joined pieces may span
    piece_max_seen_through: int = Field(2, ge=0)  # joined pieces the sensor saw through more often than this stay apart
    piece_see_through_depth: float = Field(0.3, ge=0)  # metres beyond the joined footprint's face a point must lie to count
    piece_see_through_band: float = Field(0.5, gt=0, le=1)  # share of the pieces' height span, from their lowest point, searched (doors, not windows)
    piece_see_through_margin: float = Field(0.3, ge=0)  # metres the joined footprint shrinks by on every side for that search
    piece_column_degrees: float = Field(0.5, gt=0, le=10)  # bearing slices of the see-through search
    piece_person_extent: float = Field(0.9, gt=0)  # a piece at most this wide ...
    piece_person_top: float = Field(1.6, gt=0)  # ... and taller than this may be a person: it never joins
    group_eps: float = Field(0.2, ge=0)  # bird's-eye radius that parts people in a group (0: off)
    group_band: tuple[float, float] = (1.0, 1.9)  # torso slice above ground, metres
    group_min_top: float = Field(1.5, gt=0)  # a group's top is at least this high ...
    group_max_top: float = Field(2.1, gt=0)  # ... and at most this
    group_max_extent: float = Field(4.0, gt=0)  # bird's-eye diagonal of a group at most
    group_person_extent: float = Field(1.0, gt=0)  # every piece of a group is at most this wide
    merge_range_gap: float = Field(0.0, ge=0)  # join pieces one behind the other along a line of sight (0: off; measured a loss)
    merge_bearing_overlap: float = Field(0.5, ge=0, le=1)  # share of the narrower bearing interval they must share
    merge_max_extent: float = Field(6.0, gt=0)  # bird's-eye diagonal the joined pieces may span (a car's)
    max_height: float = Field(4.5, gt=0)  # points higher above ground are ignored (canopies, signs)
    min_height: float = Field(0.2, ge=0)  # lower than this above ground is left to the ground
    ego_half_length: float = Field(2.6, ge=0)  # the ego's own returns, around the ego origin
    ego_half_width: float = Field(1.2, ge=0)
    max_range: float = Field(80.0, gt=0)
    min_cluster_points: int = Field(10, ge=1)


class BoxFitConfig(_Section):
    """Search-based rectangle fitting on the bird's-eye view (see boxfit.py)."""

    criterion: str = "closeness"  # area | closeness | variance
    angle_step_degrees: float = Field(3.0, gt=0, le=15)  # coarse search step; then a tenth of it around the best
    closeness_floor: float = Field(0.01, gt=0)  # d0 of the closeness criterion, metres
    max_fit_points: int = Field(200, ge=10)  # larger clusters are subsampled for the search
    free_space_margin: float = Field(0.3, ge=0)  # box shrink before counting contradicting points (0: no free-space check)
    free_space_min_difference: int = Field(15, ge=1)  # fewer contradicting points by this much turns a partly seen box
    free_space_ratio: float = Field(5.0, gt=1)  # ... as does a count this many times lower (sparse far objects)
    free_space_cell: float = Field(1.0, gt=0)  # bird's-eye grid cell for the check, metres
    # Beams that crossed a box (shrunk by free_space_margin) between these heights above
    # the ground, and went on beyond it, contradict it too: below, they pass under a car's
    # body; above, through its windows. (0, 0): points inside the box only.
    free_space_band: tuple[float, float] = (0.3, 0.9)

    @field_validator("criterion")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ("area", "closeness", "variance"):
            raise ValueError("criterion must be area, closeness or variance")
        return value


class ClassConfig(_Section):
    """One class's row: size prior (typical l, w, h) and the envelope a fitted box must
    fit in, plus how many points make a fully confident proposal."""

    length: float = Field(gt=0)
    width: float = Field(gt=0)
    height: float = Field(gt=0)
    min_length: float = Field(ge=0)
    max_length: float = Field(gt=0)
    min_width: float = Field(ge=0)
    max_width: float = Field(gt=0)
    min_height: float = Field(ge=0)
    max_height: float = Field(gt=0)
    size_tolerance: float = Field(0.25, gt=0)  # relative spread of the size prior
    max_bottom: float = Field(0.8, ge=0)  # the lowest point may float this high above ground
    min_edge_fraction: float = Field(0.0, ge=0, le=1)  # share of points on the box boundary (0: unused; roofs seen from above are inside)
    max_roughness: float = Field(0.03, gt=0)  # median distance of a ring's point from the chord of its neighbours, metres (foliage is rough)
    min_visible_length: float = Field(0.2, ge=0)  # the longer observed extent must reach this
    min_visible_width: float = Field(0.0, ge=0)  # and the shorter this (a body is never a flat sliver)
    max_speed: float = Field(70.0, gt=0)  # m/s; radar seeing it faster rules the class out
    points_for_confidence: float = Field(30.0, gt=0)  # score support 1 - exp(-n / this)
    prior: float = Field(1.0, gt=0)  # relative frequency weight when choosing the class
    score_scale: float = Field(1.0, gt=0, le=1)  # a catch-all class is never sure: its scores shrink
    # How a partly seen box grows to its size: "axes" along its own axes from the seen end
    # (a car's face is its surface), "sight" along the line of sight, `away_share` of the
    # missing depth behind what was seen (a person is round: the points already reach
    # into the body, and a small blob's fitted axes mean little).
    completion: Literal["axes", "sight"] = "axes"
    away_share: float = Field(1.0, ge=0.5, le=1)


def _default_classes() -> dict[str, ClassConfig]:
    return {
        "car": ClassConfig(length=4.5, width=1.9, height=1.6, min_length=3.2, max_length=5.6, min_width=1.4, max_width=2.3, min_height=1.1, max_height=2.2, points_for_confidence=40.0, min_visible_length=0.9, min_visible_width=0.15),
        "truck": ClassConfig(length=8.0, width=2.5, height=3.3, min_length=5.0, max_length=16.0, min_width=2.0, max_width=2.9, min_height=2.2, max_height=4.3, size_tolerance=0.35, points_for_confidence=60.0, prior=0.5, min_visible_length=1.8, min_visible_width=0.4),
        "pedestrian": ClassConfig(length=0.55, width=0.45, height=1.7, min_length=0.2, max_length=1.1, min_width=0.2, max_width=1.0, min_height=1.2, max_height=2.0, size_tolerance=0.3, points_for_confidence=15.0, max_bottom=1.5, max_roughness=0.13, min_visible_width=0.08, max_speed=3.5, completion="sight", away_share=0.85),
        "cyclist": ClassConfig(length=1.8, width=0.7, height=1.7, min_length=1.2, max_length=2.3, min_width=0.3, max_width=1.1, min_height=1.5, max_height=2.1, size_tolerance=0.3, points_for_confidence=20.0, prior=0.5, min_visible_length=0.5, min_visible_width=0.1, max_roughness=0.07, max_speed=15.0, score_scale=0.7),
        "other": ClassConfig(length=1.0, width=1.0, height=1.0, min_length=0.1, max_length=4.0, min_width=0.1, max_width=3.0, min_height=0.3, max_height=3.0, size_tolerance=0.8, points_for_confidence=40.0, prior=0.2, score_scale=0.6, max_speed=3.0),
    }


class RadarConfig(_Section):
    """Radar association and Doppler velocity (see radar.py)."""

    gate: float = Field(1.5, gt=0)  # metres between a detection and a proposal's box
    min_detections_for_velocity: int = Field(1, ge=1)
    far_range: float = Field(40.0, gt=0)  # beyond this, radar may rescue sparse clusters
    far_min_lidar_points: int = Field(2, ge=1)  # a rescued cluster needs this many LiDAR points
    rescue_min_speed: float = Field(1.0, ge=0)  # m/s over ground: only moving objects are rescued (walls echo too)


class OcclusionConfig(_Section):
    """Objects whose foot is hidden behind something nearer (a car behind a hedge or a
    parked car shows only its upper half): see kernels._foot_hidden."""

    column_degrees: float = Field(0.5, gt=0, le=10)  # bearing slice in which occluders are sought
    margin_degrees: float = Field(1.0, ge=0)  # an occluder reaches this close below the lowest point seen (about two beam spacings)
    gap: float = Field(0.5, ge=0)  # metres nearer than the cluster's nearest point
    hidden_share: float = Field(0.5, gt=0, le=1)  # share of hidden columns from which the foot counts as hidden
    min_visible_height: float = Field(0.3, ge=0)  # and what is seen spans this much height (not one scan line of a misread slope)


class ScoreConfig(_Section):
    """How evidence becomes a score in [0, 1] (see classify.py)."""

    partial_view_factor: float = Field(0.85, gt=0, le=1)  # per dimension seen shorter than the class minimum
    height_slack: float = Field(0.1, ge=0)  # metres of height the envelope forgives at short range
    height_slack_per_metre: float = Field(0.005, ge=0)  # plus this per metre (beam spacing)
    size_slack: float = Field(0.15, gt=0)  # metres over the envelope at which the likelihood is down to 0.6
    edge_softness: float = Field(0.15, gt=0)  # width of the ramp around min_edge_fraction
    roughness_softness: float = Field(0.015, gt=0)  # width of the ramp around max_roughness
    visible_softness: float = Field(0.3, gt=0)  # width of the ramp around min_visible_length
    visible_width_softness: float = Field(0.05, gt=0)  # width of the ramp around min_visible_width
    speed_softness: float = Field(1.0, gt=0)  # m/s, width of the ramp around max_speed
    roughness_reference_step_degrees: float = Field(0.18, gt=0)  # max_roughness holds for a scanner shooting this often along a ring (coarser: scaled)
    min_roughness_triples: int = Field(6, ge=1)  # fewer scan-line triples: roughness unknown
    sight_preference: float = Field(0.3, ge=0, le=1)  # how much a partly seen length prefers the line of sight
    # A scanner's returns per square metre fall with range: beyond this range a point
    # counts as (range / it) ** support_range_power points toward a class's
    # points_for_confidence (0: every point counts as one, at any range).
    support_reference_range: float = Field(40.0, gt=0)
    support_range_power: float = Field(1.0, ge=0)


class PerceptionConfig(_Section):
    ground: GroundConfig = GroundConfig()
    clustering: ClusteringConfig = ClusteringConfig()
    box_fit: BoxFitConfig = BoxFitConfig()
    classes: dict[str, ClassConfig] = Field(default_factory=_default_classes)
    radar: RadarConfig = RadarConfig()
    score: ScoreConfig = ScoreConfig()
    occlusion: OcclusionConfig = OcclusionConfig()
    min_score: float = Field(0.3, ge=0, le=1)  # proposals scoring lower are dropped

    @model_validator(mode="after")
    def _known_classes(self) -> "PerceptionConfig":
        unknown = set(self.classes) - set(CLASSES)
        if unknown:
            raise ValueError(f"classes: unknown class(es) {sorted(unknown)}; expected some of {list(CLASSES)}")
        return self
