"""Config section of the eval stage (the [evaluation] table of configs/*.toml)."""

from pydantic import BaseModel, ConfigDict


class EvaluationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
