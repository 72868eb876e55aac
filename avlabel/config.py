"""Typed configuration: one section per stage, loaded from TOML files in configs/.

Each stage owns its section's model (in its own package); this module only assembles
them. Components never see the whole config: small factories turn a section into the
plain arguments a component takes.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from avlabel.eval.settings import EvaluationConfig
from avlabel.io.errors import InputError
from avlabel.perception.settings import PerceptionConfig
from avlabel.sync.settings import SyncConfig
from avlabel.tracking.settings import TrackingConfig

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


class PipelineConfig(BaseModel):
    """Which LiDAR drives the frames, and the batch engine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lidar: str | None = None  # None: the log's first LiDAR
    workers: int = 1
    engine: str = "local"  # local | ray


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pipeline: PipelineConfig = PipelineConfig()
    sync: SyncConfig = SyncConfig()
    perception: PerceptionConfig = PerceptionConfig()
    tracking: TrackingConfig = TrackingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load a TOML config (default: configs/default.toml); one clear line on bad input."""
    path = Path(path) if path is not None else CONFIG_DIR / "default.toml"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path}: not valid TOML: {error}") from None
    return config_from_document(document, path)


def config_from_document(document: dict[str, Any], source: object = "<config>") -> Config:
    try:
        return Config.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{source}: {where}: {first['msg']}") from None
