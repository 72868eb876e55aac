"""Config section of the sync stage (the [sync] table of configs/*.toml)."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Sensor kinds that are associated to LiDAR sweeps.
ASSOCIATED_KINDS = ("camera", "radar", "gnss", "imu")
DEFAULT_TOLERANCE_US = {"camera": 50_000, "radar": 50_000, "gnss": 500_000, "imu": 20_000}


class SyncConfig(BaseModel):
    """How sensor samples are tied to each LiDAR sweep, and how sweeps are de-skewed.

    All times in microseconds on the log clock (after clock offsets are applied).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Largest |sample time - sweep time| accepted per sensor kind; a stream with nothing
    # that close to a sweep is reported missing for that sweep. Kinds left out keep their default.
    tolerance_us: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_TOLERANCE_US))
    # Per-sensor tolerance, overriding the kind's (e.g. a 1 Hz GNSS: {gnss = 1_000_000}).
    sensor_tolerance_us: dict[str, int] = Field(default_factory=dict)
    # Per-sensor clock offsets (sensor clock minus log clock) replacing the calibration's,
    # e.g. as recovered by `avlabel.sync.clock.estimate_*`.
    clock_offset_us: dict[str, int] = Field(default_factory=dict)
    # How far past the first / last ego pose a pose may be extrapolated (constant velocity
    # and turn rate); beyond this, pose interpolation is an error.
    max_pose_extrapolation_us: int = Field(default=50_000, ge=0)
    # De-skew each sweep to its timestamp with per-point times; the ego motion is
    # evaluated on knots this far apart and blended linearly between them.
    deskew: bool = True
    deskew_step_us: int = Field(default=1_000, gt=0, le=100_000)
    # Points and box edges closer than this in front of a camera are not projected.
    near_m: float = Field(default=0.1, gt=0.0)

    @field_validator("tolerance_us")
    @classmethod
    def _known_kinds(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(ASSOCIATED_KINDS))
        if unknown:
            raise ValueError(f"unknown sensor kind(s) {', '.join(unknown)}; expected {', '.join(ASSOCIATED_KINDS)}")
        if any(tolerance < 0 for tolerance in value.values()):
            raise ValueError("tolerances must be >= 0 microseconds")
        return {**DEFAULT_TOLERANCE_US, **value}

    def tolerance_for(self, sensor: str, kind: str) -> int:
        """Association tolerance (us) of one sensor."""
        return self.sensor_tolerance_us.get(sensor, self.tolerance_us[kind])
