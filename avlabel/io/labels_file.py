"""The labels file, `labels.json`, schema "avlabel.labels/1" (see DESIGN.md).

    {"schema": "avlabel.labels/1",
     "metadata": {...},                                  provenance, history (free-form)
     "frames": [{"timestamp_us": int,                    log clock, one frame per sweep
                 "cuboids": [{"id", "track_id", "label", "center": [x, y, z],
                              "size": [l, w, h], "yaw", "score", "num_points",
                              "source": "auto" | "human" | "truth",
                              "velocity": [vx, vy],      only where known
                              ...attributes}]}]}          any further keys, kept as they are

Everything is in the world frame. Reading validates the whole file first and reports the
first problem as one line: the file, the JSON path of the field, and what was expected.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from avlabel.io.atomic import write_text
from avlabel.io.errors import LabelsError
from avlabel.structs import LABELS_SCHEMA, Cuboid, LabelFrame, Labels

_CORE_FIELDS = ("id", "track_id", "label", "center", "size", "yaw", "score", "num_points", "source", "velocity")


def _finite(values: list[float]) -> list[float]:
    if not all(math.isfinite(value) for value in values):
        raise ValueError("values must be finite numbers")
    return values


class _CuboidModel(BaseModel):
    model_config = ConfigDict(extra="allow", strict=False)

    id: str = Field(min_length=1)
    track_id: str = Field(min_length=1)
    label: str = Field(min_length=1)
    center: list[float] = Field(min_length=3, max_length=3)
    size: list[float] = Field(min_length=3, max_length=3)
    yaw: float
    score: float = Field(ge=0.0, le=1.0)
    num_points: int = Field(ge=0)
    source: Literal["auto", "human", "truth"]
    velocity: list[float] | None = Field(default=None, min_length=2, max_length=2)

    _check_center = field_validator("center", "velocity")(lambda values: values if values is None else _finite(values))

    @field_validator("size")
    @classmethod
    def _positive(cls, values: list[float]) -> list[float]:
        if not all(math.isfinite(value) and value > 0 for value in values):
            raise ValueError("length, width and height must be finite and > 0")
        return values

    @field_validator("yaw")
    @classmethod
    def _finite_yaw(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("yaw must be a finite number of radians")
        return value


class _FrameModel(BaseModel):
    model_config = ConfigDict(extra="allow")

    timestamp_us: int
    cuboids: list[_CuboidModel]


class _LabelsModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: Literal["avlabel.labels/1"] = Field(alias="schema")
    metadata: dict[str, Any] = Field(default_factory=dict)
    frames: list[_FrameModel]


def read_labels(path: str | os.PathLike[str]) -> Labels:
    """Read and validate a labels file; raises LabelsError with one clear line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabelsError(path, "", "no such file") from None
    except IsADirectoryError:
        raise LabelsError(path, "", "is a directory, expected a labels JSON file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise LabelsError(path, "", f"cannot read as UTF-8 text: {error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise LabelsError(path, f"line {error.lineno} column {error.colno}", f"not valid JSON ({error.msg})") from None
    return labels_from_document(document, path)


def labels_from_document(document: Any, source: str | os.PathLike[str] = "<labels>") -> Labels:
    """Validate a parsed labels document (a dict) and build Labels."""
    if not isinstance(document, dict):
        raise LabelsError(source, "", f"expected a JSON object with 'schema' and 'frames', got {type(document).__name__}")
    if document.get("schema") != LABELS_SCHEMA:
        raise LabelsError(source, "schema", f"expected {LABELS_SCHEMA!r}, got {document.get('schema')!r}")
    try:
        model = _LabelsModel.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
        raise LabelsError(source, where or "document", f"{first['msg']} (got {_short(first.get('input'))})") from None
    frames = []
    try:
        for frame in model.frames:
            cuboids = tuple(_cuboid(cuboid) for cuboid in frame.cuboids)
            frames.append(LabelFrame(frame.timestamp_us, cuboids, dict(frame.model_extra or {})))
        return Labels(tuple(frames), model.metadata)
    except ValueError as error:
        raise LabelsError(source, "frames", str(error)) from None


def labels_to_document(labels: Labels) -> dict[str, Any]:
    """The JSON document of a Labels value (plain dicts, lists and numbers)."""
    return {
        "schema": LABELS_SCHEMA,
        "metadata": labels.metadata,
        "frames": [
            {"timestamp_us": frame.timestamp_us, "cuboids": [_cuboid_document(c) for c in frame.cuboids], **frame.attributes}
            for frame in labels.frames
        ],
    }


def write_labels(path: str | os.PathLike[str], labels: Labels) -> None:
    """Write atomically: readers see the old file or the new one, never half of one."""
    write_text(path, json.dumps(labels_to_document(labels), separators=(",", ":"), default=_json_default))


def _cuboid(model: _CuboidModel) -> Cuboid:
    attributes = dict(model.model_extra or {})
    return Cuboid(
        id=model.id,
        track_id=model.track_id,
        label=model.label,
        center=np.array(model.center),
        size=np.array(model.size),
        yaw=model.yaw,
        score=model.score,
        num_points=model.num_points,
        source=model.source,
        velocity=None if model.velocity is None else np.array(model.velocity),
        attributes=attributes,
    )


def _cuboid_document(cuboid: Cuboid) -> dict[str, Any]:
    clashing = set(cuboid.attributes) & set(_CORE_FIELDS)
    if clashing:
        raise ValueError(f"cuboid {cuboid.id!r}: attributes may not reuse core field names {sorted(clashing)}")
    document: dict[str, Any] = {
        "id": cuboid.id,
        "track_id": cuboid.track_id,
        "label": cuboid.label,
        "center": cuboid.center.tolist(),
        "size": cuboid.size.tolist(),
        "yaw": cuboid.yaw,
        "score": cuboid.score,
        "num_points": cuboid.num_points,
        "source": cuboid.source,
    }
    if cuboid.velocity is not None:
        document["velocity"] = cuboid.velocity.tolist()
    document.update(cuboid.attributes)
    return document


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a labels file")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
