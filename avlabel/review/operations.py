"""Review operations: plain frozen dataclasses, one per thing an annotator can do.

An operation names what it edits by the frame's log-clock time (`timestamp_us`, the
LiDAR sweep's time, as in the labels file) and the cuboid's `track_id` (a track has at most
one cuboid per frame, so the pair names exactly one cuboid). Every geometric value is in
the world frame: offsets and boxes in metres, angles in radians around +z.

Operations carry everything needed to apply them, so the journal can replay them without
the drive log: the session fills in the parts that need outside knowledge before an
operation is applied and journaled (fresh ids for `CreateCuboid` and `SplitTrack`, the
fitted box of `FitBoxToPoints`).

Each class has a `kind`, the name written to the journal; `operation_to_document` and
`operation_from_document` are the round trip.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from avlabel.structs import CLASSES

INTERPOLATION_MODES = ("path", "correction")
MERGE_OVERLAP_POLICIES = ("error", "keep", "replace")


def _vector(where: str, value: Any, length: int) -> tuple[float, ...]:
    try:
        values = tuple(float(item) for item in value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected {length} numbers, got {value!r}") from None
    if len(values) != length:
        raise ValueError(f"{where}: expected {length} numbers, got {len(values)}")
    if not all(math.isfinite(item) for item in values):
        raise ValueError(f"{where}: values must be finite, got {list(values)}")
    return values


def _timestamp(where: str, value: Any, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: expected integer microseconds (a frame's timestamp_us), got {value!r}")
    return int(value)


def _name(where: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _label(where: str, value: Any) -> str:
    if value not in CLASSES:
        raise ValueError(f"{where}: expected one of {', '.join(CLASSES)}; got {value!r}")
    return value


def _set(instance: Any, name: str, value: Any) -> None:
    object.__setattr__(instance, name, value)


@dataclass(frozen=True, slots=True)
class Select:
    """Point the session at one cuboid (or at nothing with track_id None). Not an edit:
    journaled so a replay restores where the annotator was, never undone."""

    kind: ClassVar[str] = "select"
    timestamp_us: int
    track_id: str | None = None

    def __post_init__(self) -> None:
        _set(self, "timestamp_us", _timestamp("select.timestamp_us", self.timestamp_us))
        _set(self, "track_id", _name("select.track_id", self.track_id, optional=True))


@dataclass(frozen=True, slots=True)
class MoveCuboid:
    """Shift one cuboid by `offset` (dx, dy, dz) metres, world frame."""

    kind: ClassVar[str] = "move_cuboid"
    timestamp_us: int
    track_id: str
    offset: tuple[float, float, float]

    def __post_init__(self) -> None:
        _set(self, "timestamp_us", _timestamp("move_cuboid.timestamp_us", self.timestamp_us))
        _set(self, "track_id", _name("move_cuboid.track_id", self.track_id))
        _set(self, "offset", _vector("move_cuboid.offset", self.offset, 3))


@dataclass(frozen=True, slots=True)
class RotateCuboid:
    """Turn one cuboid about its vertical axis by `angle` radians (counter-clockwise)."""

    kind: ClassVar[str] = "rotate_cuboid"
    timestamp_us: int
    track_id: str
    angle: float

    def __post_init__(self) -> None:
        _set(self, "timestamp_us", _timestamp("rotate_cuboid.timestamp_us", self.timestamp_us))
        _set(self, "track_id", _name("rotate_cuboid.track_id", self.track_id))
        _set(self, "angle", _vector("rotate_cuboid.angle", (self.angle,), 1)[0])


@dataclass(frozen=True, slots=True)
class ResizeCuboid:
    """Change one cuboid's (length, width, height) by `change` metres. Length and width
    grow symmetrically about the centre; height grows upwards (the bottom face stays on
    the ground). The result must stay larger than 1 cm in every dimension."""

    kind: ClassVar[str] = "resize_cuboid"
    timestamp_us: int
    track_id: str
    change: tuple[float, float, float]

    def __post_init__(self) -> None:
        _set(self, "timestamp_us", _timestamp("resize_cuboid.timestamp_us", self.timestamp_us))
        _set(self, "track_id", _name("resize_cuboid.track_id", self.track_id))
        _set(self, "change", _vector("resize_cuboid.change", self.change, 3))


@dataclass(frozen=True, slots=True)
class SetBox:
    """Replace one cuboid's box with `box` [x, y, z, length, width, height, yaw] (a drag
    in the viewer, or a value typed in)."""

    kind: ClassVar[str] = "set_box"
    timestamp_us: int
    track_id: str
    box: tuple[float, float, float, float, float, float, float]

    def __post_init__(self) -> None:
        _set(self, "timestamp_us", _timestamp("set_box.timestamp_us", self.timestamp_us))
        _set(self, "track_id", _name("set_box.track_id", self.track_id))
        _set(self, "box", _vector("set_box.box", self.box, 7))
        if min(self.box[3:6]) <= 0:
            raise ValueError(f"set_box.box: length, width and height must be > 0, got {list(self.box[3:6])}")


@dataclass(frozen=True, slots=True)
class FitBoxToPoints:
    """Fit one cuboid to the LiDAR points inside it (grown by `margin` metres), with the
    proposal stage's box fitter. `box` is filled in by the session (the fit result), so
    the journal replays without the drive log."""

    kind: ClassVar[str] = "fit_box"
    timestamp_us: int
    track_id: str
    margin: float = 0.3
    box: tuple[float, float, float, float, float, float, float] | None = None
    num_points: int | None = None

    def __post_init__(self) -> None:
        _set(self, "timestamp_us", _timestamp("fit_box.timestamp_us", self.timestamp_us))
        _set(self, "track_id", _name("fit_box.track_id", self.track_id))
        _set(self, "margin", _vector("fit_box.margin", (self.margin,), 1)[0])
        if self.margin < 0:
            raise ValueError(f"fit_box.margin: expected metres >= 0, got {self.margin}")
        if self.box is not None:
            _set(self, "box", _vector("fit_box.box", self.box, 7))
        if self.num_points is not None and (isinstance(self.num_points, bool) or not isinstance(self.num_points, int) or self.num_points < 0):
            raise ValueError(f"fit_box.num_points: expected a count >= 0, got {self.num_points!r}")


@dataclass(frozen=True, slots=True)
class CreateCuboid:
    """Add a cuboid to one frame. With `track_id` of an existing track, the cuboid extends
    that track (a frame the tracker missed); without, it starts a new track. The session
    fills in `track_id` and `cuboid_id` when they are None. `default_box_at` gives a
    class-sized box standing at a clicked point."""

    kind: ClassVar[str] = "create_cuboid"
    timestamp_us: int
    box: tuple[float, float, float, float, float, float, float]
    label: str
    track_id: str | None = None
    cuboid_id: str | None = None

    def __post_init__(self) -> None:
        _set(self, "timestamp_us", _timestamp("create_cuboid.timestamp_us", self.timestamp_us))
        _set(self, "box", _vector("create_cuboid.box", self.box, 7))
        if min(self.box[3:6]) <= 0:
            raise ValueError(f"create_cuboid.box: length, width and height must be > 0, got {list(self.box[3:6])}")
        _set(self, "label", _label("create_cuboid.label", self.label))
        _set(self, "track_id", _name("create_cuboid.track_id", self.track_id, optional=True))
        _set(self, "cuboid_id", _name("create_cuboid.cuboid_id", self.cuboid_id, optional=True))


@dataclass(frozen=True, slots=True)
class DeleteCuboid:
    """Remove one cuboid of one frame (the rest of its track stays)."""

    kind: ClassVar[str] = "delete_cuboid"
    timestamp_us: int
    track_id: str

    def __post_init__(self) -> None:
        _set(self, "timestamp_us", _timestamp("delete_cuboid.timestamp_us", self.timestamp_us))
        _set(self, "track_id", _name("delete_cuboid.track_id", self.track_id))


@dataclass(frozen=True, slots=True)
class DeleteTrack:
    """Remove every cuboid of a track."""

    kind: ClassVar[str] = "delete_track"
    track_id: str

    def __post_init__(self) -> None:
        _set(self, "track_id", _name("delete_track.track_id", self.track_id))


@dataclass(frozen=True, slots=True)
class Relabel:
    """Give every cuboid of a track the class `label` (one of avlabel.structs.CLASSES)."""

    kind: ClassVar[str] = "relabel"
    track_id: str
    label: str

    def __post_init__(self) -> None:
        _set(self, "track_id", _name("relabel.track_id", self.track_id))
        _set(self, "label", _label("relabel.label", self.label))


@dataclass(frozen=True, slots=True)
class AcceptProposal:
    """Confirm the machine's cuboid at one frame, or every cuboid of the track when
    `timestamp_us` is None. Cuboids already corrected keep their "corrected" status."""

    kind: ClassVar[str] = "accept"
    track_id: str
    timestamp_us: int | None = None

    def __post_init__(self) -> None:
        _set(self, "track_id", _name("accept.track_id", self.track_id))
        _set(self, "timestamp_us", _timestamp("accept.timestamp_us", self.timestamp_us, optional=True))


@dataclass(frozen=True, slots=True)
class RejectProposal:
    """Reject the machine's cuboid at one frame, or the whole track when `timestamp_us`
    is None: the cuboids leave the labels, the rejection stays in the history."""

    kind: ClassVar[str] = "reject"
    track_id: str
    timestamp_us: int | None = None

    def __post_init__(self) -> None:
        _set(self, "track_id", _name("reject.track_id", self.track_id))
        _set(self, "timestamp_us", _timestamp("reject.timestamp_us", self.timestamp_us, optional=True))


@dataclass(frozen=True, slots=True)
class MergeTracks:
    """Fold track `absorbed` into track `kept` (one object the tracker cut in two).

    overlap: what to do where both tracks have a cuboid in the same frame:
        "error"   refuse, naming the frames (the default: look before merging)
        "keep"    keep `kept`'s cuboid there
        "replace" keep `absorbed`'s cuboid there
    """

    kind: ClassVar[str] = "merge_tracks"
    kept: str
    absorbed: str
    overlap: str = "error"

    def __post_init__(self) -> None:
        _set(self, "kept", _name("merge_tracks.kept", self.kept))
        _set(self, "absorbed", _name("merge_tracks.absorbed", self.absorbed))
        if self.kept == self.absorbed:
            raise ValueError(f"merge_tracks: a track cannot absorb itself ({self.kept!r}); pick two different tracks")
        if self.overlap not in MERGE_OVERLAP_POLICIES:
            raise ValueError(f"merge_tracks.overlap: expected one of {', '.join(MERGE_OVERLAP_POLICIES)}; got {self.overlap!r}")


@dataclass(frozen=True, slots=True)
class SplitTrack:
    """Cut a track in two: cuboids at and after `timestamp_us` move to `new_track_id`
    (two objects the tracker joined). The session fills `new_track_id` when None."""

    kind: ClassVar[str] = "split_track"
    track_id: str
    timestamp_us: int
    new_track_id: str | None = None

    def __post_init__(self) -> None:
        _set(self, "track_id", _name("split_track.track_id", self.track_id))
        _set(self, "timestamp_us", _timestamp("split_track.timestamp_us", self.timestamp_us))
        _set(self, "new_track_id", _name("split_track.new_track_id", self.new_track_id, optional=True))


@dataclass(frozen=True, slots=True)
class TrimTrack:
    """Remove a track's cuboids before `start_us` and/or after `end_us` (the tracker began
    or ended the track too early or too late): one edit per end."""

    kind: ClassVar[str] = "trim_track"
    track_id: str
    start_us: int | None = None
    end_us: int | None = None

    def __post_init__(self) -> None:
        _set(self, "track_id", _name("trim_track.track_id", self.track_id))
        _set(self, "start_us", _timestamp("trim_track.start_us", self.start_us, optional=True))
        _set(self, "end_us", _timestamp("trim_track.end_us", self.end_us, optional=True))
        if self.start_us is None and self.end_us is None:
            raise ValueError("trim_track: give start_us (keep from there on), end_us (keep up to there) or both")
        if self.start_us is not None and self.end_us is not None and self.start_us > self.end_us:
            raise ValueError(f"trim_track: start_us {self.start_us} is after end_us {self.end_us}; to remove the track, delete it")


@dataclass(frozen=True, slots=True)
class SetTrackSize:
    """Give every cuboid of a track the size (length, width, height): one edit fixes a
    whole track. Bottom faces stay where they are."""

    kind: ClassVar[str] = "set_track_size"
    track_id: str
    size: tuple[float, float, float]

    def __post_init__(self) -> None:
        _set(self, "track_id", _name("set_track_size.track_id", self.track_id))
        _set(self, "size", _vector("set_track_size.size", self.size, 3))
        if min(self.size) <= 0:
            raise ValueError(f"set_track_size.size: length, width and height must be > 0, got {list(self.size)}")


@dataclass(frozen=True, slots=True)
class MarkKeyframe:
    """Mark (or unmark) one cuboid as a keyframe of its track. Geometric edits of a single
    cuboid mark it by themselves."""

    kind: ClassVar[str] = "mark_keyframe"
    timestamp_us: int
    track_id: str
    keyframe: bool = True

    def __post_init__(self) -> None:
        _set(self, "timestamp_us", _timestamp("mark_keyframe.timestamp_us", self.timestamp_us))
        _set(self, "track_id", _name("mark_keyframe.track_id", self.track_id))
        if not isinstance(self.keyframe, bool):
            raise ValueError(f"mark_keyframe.keyframe: expected true or false, got {self.keyframe!r}")


@dataclass(frozen=True, slots=True)
class InterpolateTrack:
    """Rebuild a track between its first and last keyframes from the keyframes, in the
    world frame (see avlabel.review.interpolation). Needs at least two keyframes.

    mode: "path"        the boxes between the first and last keyframes follow a smooth
                        curve through the keyframe boxes (frames the track skipped are
                        filled in); needs two keyframes;
          "correction"  every box of the track keeps its own shape and moves by the
                        corrections made at the keyframes, blended in time between them
                        and held beyond the first and last (keeps the tracker's per-frame
                        detail, removes its bias); one keyframe shifts the whole track.
    """

    kind: ClassVar[str] = "interpolate_track"
    track_id: str
    mode: str = "path"

    def __post_init__(self) -> None:
        _set(self, "track_id", _name("interpolate_track.track_id", self.track_id))
        if self.mode not in INTERPOLATION_MODES:
            raise ValueError(f"interpolate_track.mode: expected one of {', '.join(INTERPOLATION_MODES)}; got {self.mode!r}")


OPERATION_TYPES: dict[str, type] = {
    kind.kind: kind
    for kind in (
        Select, MoveCuboid, RotateCuboid, ResizeCuboid, SetBox, FitBoxToPoints, CreateCuboid, DeleteCuboid,
        DeleteTrack, Relabel, AcceptProposal, RejectProposal, MergeTracks, SplitTrack, TrimTrack, SetTrackSize,
        MarkKeyframe, InterpolateTrack,
    )
}

Operation = (
    Select | MoveCuboid | RotateCuboid | ResizeCuboid | SetBox | FitBoxToPoints | CreateCuboid | DeleteCuboid
    | DeleteTrack | Relabel | AcceptProposal | RejectProposal | MergeTracks | SplitTrack | TrimTrack | SetTrackSize
    | MarkKeyframe | InterpolateTrack
)


def operation_to_document(operation: Operation) -> dict[str, Any]:
    """{"type": kind, field: value, ...} with tuples as lists (JSON-ready)."""
    document: dict[str, Any] = {"type": operation.kind}
    for field in dataclasses.fields(operation):
        value = getattr(operation, field.name)
        document[field.name] = list(value) if isinstance(value, tuple) else value
    return document


def operation_from_document(document: Any) -> Operation:
    """The operation a journal line describes; ValueError naming the problem."""
    if not isinstance(document, dict) or "type" not in document:
        raise ValueError(f"operation: expected an object with a 'type', got {document!r}")
    kind = OPERATION_TYPES.get(document["type"])
    if kind is None:
        raise ValueError(f"operation.type: unknown {document['type']!r}; known: {', '.join(OPERATION_TYPES)}")
    names = {field.name for field in dataclasses.fields(kind)}
    unknown = set(document) - names - {"type"}
    if unknown:
        raise ValueError(f"operation {document['type']!r}: unknown field(s) {sorted(unknown)}")
    fields = {name: tuple(value) if isinstance(value, list) else value for name, value in document.items() if name != "type"}
    try:
        return kind(**fields)
    except TypeError as error:
        raise ValueError(f"operation {document['type']!r}: {error}") from None


# Typical sizes (length, width, height) in metres for a box created with one click.
DEFAULT_SIZES = {
    "car": (4.5, 1.9, 1.6),
    "truck": (8.0, 2.5, 3.2),
    "pedestrian": (0.7, 0.7, 1.75),
    "cyclist": (1.8, 0.7, 1.7),
    "other": (1.0, 1.0, 1.0),
}


def default_box_at(point: tuple[float, float, float], label: str, yaw: float = 0.0) -> tuple[float, ...]:
    """A class-sized box [x, y, z, l, w, h, yaw] standing on `point` (world frame: the
    clicked ground point becomes the centre of the bottom face)."""
    label = _label("label", label)
    x, y, z = _vector("point", point, 3)
    length, width, height = DEFAULT_SIZES[label]
    return (x, y, z + height / 2, length, width, height, float(yaw))
