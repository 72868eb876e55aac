"""Config section of the sync stage (the [sync] table of configs/*.toml)."""

from pydantic import BaseModel, ConfigDict


class SyncConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
