"""Config section of the tracking stage (the [tracking] table of configs/*.toml)."""

from pydantic import BaseModel, ConfigDict


class TrackingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
