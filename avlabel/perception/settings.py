"""Config section of the perception stage (the [perception] table of configs/*.toml)."""

from pydantic import BaseModel, ConfigDict


class PerceptionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
