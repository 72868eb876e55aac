"""Applying review operations to labels: pure functions, Labels in, Labels out.

`apply_operation(labels, operation, context)` is deterministic given its arguments (the
annotator and the time come in through `context`), which is what lets a journal replay
reproduce a session exactly. Frames an operation does not touch are shared, unchanged,
between the old and the new Labels.

Audit attributes written on every cuboid a person touched (flat keys of the labels file):

    source       "human" once a person changed the cuboid's box, class or track
                 (accepting leaves "auto" as it is)
    review       "accepted" | "corrected" | "created" | "interpolated"
    edited_by    the annotator who last accepted or changed it
    edited_at    when, ISO 8601 UTC
    auto_box     [x, y, z, l, w, h, yaw] the box before the first human change
    keyframe     true on keyframes of the track (see InterpolateTrack)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from avlabel.review import interpolation
from avlabel.review.operations import (
    AcceptProposal,
    CreateCuboid,
    DeleteCuboid,
    DeleteTrack,
    FitBoxToPoints,
    InterpolateTrack,
    MarkKeyframe,
    MergeTracks,
    MoveCuboid,
    Operation,
    RejectProposal,
    Relabel,
    ResizeCuboid,
    RotateCuboid,
    Select,
    SetBox,
    SetTrackSize,
    SplitTrack,
    TrimTrack,
)
from avlabel.structs import Cuboid, LabelFrame, Labels, wrap_angle

REVIEW_STATES = ("accepted", "corrected", "created", "interpolated")
AUDIT_ATTRIBUTES = ("review", "edited_by", "edited_at", "auto_box", "keyframe")
MINIMUM_SIZE_M = 0.01


class ReviewError(ValueError):
    """An operation that does not fit the labels (no such cuboid, track or frame)."""


@dataclass(frozen=True, slots=True)
class EditContext:
    """Who applies an operation and when (ISO 8601 UTC), written onto the cuboids touched."""

    annotator: str
    time: str


@dataclass(frozen=True, slots=True)
class EditResult:
    """Labels after an operation, the cuboids it changed, added or removed (as
    (timestamp_us, track_id) pairs) and the tracks involved."""

    labels: Labels
    cuboids: tuple[tuple[int, str], ...]
    tracks: tuple[str, ...]


# --------------------------------------------------------------------------- lookups


def frame_index(labels: Labels, timestamp_us: int) -> int:
    """Index of the frame at `timestamp_us`; ReviewError when the labels have none."""
    stamps = labels.timestamps_us
    index = int(np.searchsorted(stamps, timestamp_us))
    if index >= len(stamps) or stamps[index] != timestamp_us:
        raise ReviewError(f"no frame at {timestamp_us} us in these labels (frames span {_span(stamps)}); use a frame's timestamp_us")
    return index


def find_cuboid(labels: Labels, timestamp_us: int, track_id: str) -> Cuboid:
    """The cuboid of `track_id` at `timestamp_us`; ReviewError naming what is there instead."""
    frame = labels.frames[frame_index(labels, timestamp_us)]
    for cuboid in frame.cuboids:
        if cuboid.track_id == track_id:
            return cuboid
    present = ", ".join(sorted(cuboid.track_id for cuboid in frame.cuboids)) or "none"
    raise ReviewError(f"track {track_id!r} has no cuboid at {timestamp_us} us (tracks in that frame: {present})")


def track_cuboids(labels: Labels, track_id: str) -> list[tuple[int, Cuboid]]:
    """(frame index, cuboid) of every cuboid of a track, in time order."""
    found = [(index, cuboid) for index, frame in enumerate(labels.frames) for cuboid in frame.cuboids if cuboid.track_id == track_id]
    if not found:
        raise ReviewError(f"no track {track_id!r} in these labels; pick a track id shown in the viewer")
    return found


def _span(stamps: np.ndarray) -> str:
    return f"{stamps[0]}..{stamps[-1]} us" if len(stamps) else "nothing: the labels have no frames"


# --------------------------------------------------------------------------- building blocks


def _touched(cuboid: Cuboid, context: EditContext, review: str, *, keyframe: bool | None = None, human: bool = True, **changes: Any) -> Cuboid:
    """A copy of `cuboid` with `changes`, stamped with who, when and the review state."""
    attributes = dict(cuboid.attributes)
    if human and cuboid.source != "human" and "auto_box" not in attributes:
        attributes["auto_box"] = cuboid.box.tolist()
    previous = attributes.get("review")
    if review == "accepted" and previous in ("corrected", "created", "interpolated"):
        review = previous
    elif review == "corrected" and previous == "created":
        review = "created"
    attributes.update(review=review, edited_by=context.annotator, edited_at=context.time)
    if keyframe is True:
        attributes["keyframe"] = True
    elif keyframe is False:
        attributes.pop("keyframe", None)
    source = "human" if human else cuboid.source
    return dataclasses.replace(cuboid, source=source, attributes=attributes, **changes)


def _box_fields(box: np.ndarray | tuple[float, ...]) -> dict[str, Any]:
    box = np.asarray(box, dtype=np.float64)
    if (box[3:6] < MINIMUM_SIZE_M).any():
        raise ReviewError(f"box size {box[3:6].round(3).tolist()} m: every dimension must stay above {MINIMUM_SIZE_M} m; undo or grow it")
    return {"center": box[:3].copy(), "size": box[3:6].copy(), "yaw": float(wrap_angle(box[6]))}


def _replace_cuboids(labels: Labels, replacements: dict[tuple[int, str], Cuboid | None], additions: Iterable[tuple[int, Cuboid]] = ()) -> Labels:
    """Labels with cuboids replaced (or removed, for None) by (frame index, track id) and added."""
    by_frame: dict[int, dict[str, Cuboid | None]] = {}
    for (index, track_id), cuboid in replacements.items():
        by_frame.setdefault(index, {})[track_id] = cuboid
    added: dict[int, list[Cuboid]] = {}
    for index, cuboid in additions:
        added.setdefault(index, []).append(cuboid)
    frames = list(labels.frames)
    for index in set(by_frame) | set(added):
        frame = frames[index]
        changes = by_frame.get(index, {})
        cuboids = [changes.get(cuboid.track_id, cuboid) if cuboid.track_id in changes else cuboid for cuboid in frame.cuboids]
        cuboids = [cuboid for cuboid in cuboids if cuboid is not None] + added.get(index, [])
        try:
            frames[index] = LabelFrame(frame.timestamp_us, tuple(cuboids), frame.attributes)
        except ValueError as error:
            raise ReviewError(str(error)) from None
    return Labels(tuple(frames), labels.metadata)


def _one(labels: Labels, timestamp_us: int, track_id: str) -> tuple[int, Cuboid]:
    index = frame_index(labels, timestamp_us)
    return index, find_cuboid(labels, timestamp_us, track_id)


def _result(labels: Labels, keys: Iterable[tuple[int, str]], tracks: Iterable[str]) -> EditResult:
    stamps = labels.timestamps_us
    cuboids = tuple(sorted((int(stamps[index]), track_id) for index, track_id in keys))
    return EditResult(labels, cuboids, tuple(dict.fromkeys(tracks)))


def _edit_box(labels: Labels, timestamp_us: int, track_id: str, context: EditContext, new_box: Callable[[np.ndarray], np.ndarray], **extra: Any) -> EditResult:
    index, cuboid = _one(labels, timestamp_us, track_id)
    changed = _touched(cuboid, context, "corrected", keyframe=True, **_box_fields(new_box(cuboid.box)), **extra)
    return _result(_replace_cuboids(labels, {(index, track_id): changed}), [(index, track_id)], [track_id])


# --------------------------------------------------------------------------- single cuboids


def _select(labels: Labels, operation: Select, context: EditContext) -> EditResult:
    frame_index(labels, operation.timestamp_us)
    if operation.track_id is not None:
        find_cuboid(labels, operation.timestamp_us, operation.track_id)
    return EditResult(labels, (), ())


def _move(labels: Labels, operation: MoveCuboid, context: EditContext) -> EditResult:
    offset = np.array([*operation.offset, 0, 0, 0, 0])
    return _edit_box(labels, operation.timestamp_us, operation.track_id, context, lambda box: box + offset)


def _rotate(labels: Labels, operation: RotateCuboid, context: EditContext) -> EditResult:
    turn = np.array([0, 0, 0, 0, 0, 0, operation.angle])
    return _edit_box(labels, operation.timestamp_us, operation.track_id, context, lambda box: box + turn)


def _resize(labels: Labels, operation: ResizeCuboid, context: EditContext) -> EditResult:
    length, width, height = operation.change
    change = np.array([0, 0, height / 2, length, width, height, 0])
    return _edit_box(labels, operation.timestamp_us, operation.track_id, context, lambda box: box + change)


def _set_box(labels: Labels, operation: SetBox, context: EditContext) -> EditResult:
    return _edit_box(labels, operation.timestamp_us, operation.track_id, context, lambda box: np.array(operation.box))


def _fit_box(labels: Labels, operation: FitBoxToPoints, context: EditContext) -> EditResult:
    if operation.box is None:
        raise ReviewError("fit_box has no fitted box yet: apply it through a ReviewSession opened with the log's points")
    extra = {} if operation.num_points is None else {"num_points": operation.num_points}
    return _edit_box(labels, operation.timestamp_us, operation.track_id, context, lambda box: np.array(operation.box), **extra)


def _create(labels: Labels, operation: CreateCuboid, context: EditContext) -> EditResult:
    if operation.track_id is None or operation.cuboid_id is None:
        raise ReviewError("create_cuboid needs track_id and cuboid_id: apply it through a ReviewSession, which assigns fresh ones")
    index = frame_index(labels, operation.timestamp_us)
    cuboid = Cuboid(
        id=operation.cuboid_id,
        track_id=operation.track_id,
        label=operation.label,
        source="human",
        score=1.0,
        attributes={"review": "created", "edited_by": context.annotator, "edited_at": context.time, "keyframe": True},
        **_box_fields(operation.box),
    )
    return _result(_replace_cuboids(labels, {}, [(index, cuboid)]), [(index, cuboid.track_id)], [cuboid.track_id])


def _delete(labels: Labels, operation: DeleteCuboid | RejectProposal, context: EditContext) -> EditResult:
    if operation.timestamp_us is None:
        return _delete_track(labels, DeleteTrack(operation.track_id), context)
    index, _ = _one(labels, operation.timestamp_us, operation.track_id)
    key = (index, operation.track_id)
    return _result(_replace_cuboids(labels, {key: None}), [key], [operation.track_id])


def _mark_keyframe(labels: Labels, operation: MarkKeyframe, context: EditContext) -> EditResult:
    index, cuboid = _one(labels, operation.timestamp_us, operation.track_id)
    changed = _touched(cuboid, context, "accepted", keyframe=operation.keyframe, human=cuboid.source == "human")
    return _result(_replace_cuboids(labels, {(index, operation.track_id): changed}), [(index, operation.track_id)], [operation.track_id])


# --------------------------------------------------------------------------- whole tracks


def _map_track(labels: Labels, track_id: str, change: Callable[[Cuboid], Cuboid | None], *, timestamp_us: int | None = None) -> EditResult:
    """Apply `change` to every cuboid of a track (or to its one cuboid at `timestamp_us`)."""
    if timestamp_us is None:
        targets = track_cuboids(labels, track_id)
    else:
        targets = [_one(labels, timestamp_us, track_id)]
    replacements = {(index, track_id): change(cuboid) for index, cuboid in targets}
    return _result(_replace_cuboids(labels, replacements), replacements, [track_id])


def _delete_track(labels: Labels, operation: DeleteTrack, context: EditContext) -> EditResult:
    return _map_track(labels, operation.track_id, lambda cuboid: None)


def _relabel(labels: Labels, operation: Relabel, context: EditContext) -> EditResult:
    return _map_track(labels, operation.track_id, lambda cuboid: _touched(cuboid, context, "corrected", label=operation.label))


def _accept(labels: Labels, operation: AcceptProposal, context: EditContext) -> EditResult:
    accept = lambda cuboid: _touched(cuboid, context, "accepted", human=cuboid.source == "human")  # noqa: E731
    return _map_track(labels, operation.track_id, accept, timestamp_us=operation.timestamp_us)


def _set_track_size(labels: Labels, operation: SetTrackSize, context: EditContext) -> EditResult:
    size = np.array(operation.size)

    def resize(cuboid: Cuboid) -> Cuboid:
        center = cuboid.center.copy()
        center[2] += (size[2] - cuboid.size[2]) / 2  # bottom face stays put
        return _touched(cuboid, context, "corrected", center=center, size=size.copy())

    return _map_track(labels, operation.track_id, resize)


def _merge(labels: Labels, operation: MergeTracks, context: EditContext) -> EditResult:
    kept = track_cuboids(labels, operation.kept)
    absorbed = track_cuboids(labels, operation.absorbed)
    kept_frames = {index: cuboid for index, cuboid in kept}
    overlap = sorted(index for index, _ in absorbed if index in kept_frames)
    if overlap and operation.overlap == "error":
        stamps = [int(labels.frames[index].timestamp_us) for index in overlap[:5]]
        raise ReviewError(
            f"tracks {operation.kept!r} and {operation.absorbed!r} both have cuboids in {len(overlap)} frame(s) "
            f"(first at {stamps} us): delete the duplicates first, or merge with overlap='keep' or 'replace'"
        )
    label = _majority_label(cuboid for _, cuboid in kept)
    replacements: dict[tuple[int, str], Cuboid | None] = {}
    additions = []
    for index, cuboid in absorbed:
        replacements[(index, operation.absorbed)] = None
        if index in kept_frames and operation.overlap == "keep":
            continue
        if index in kept_frames:
            replacements[(index, operation.kept)] = None
        additions.append((index, _touched(cuboid, context, "corrected", track_id=operation.kept, label=label)))
    merged = _replace_cuboids(labels, replacements, additions)
    keys = set(replacements) | {(index, operation.kept) for index, _ in additions}
    return _result(merged, keys, [operation.kept, operation.absorbed])


def _split(labels: Labels, operation: SplitTrack, context: EditContext) -> EditResult:
    if operation.new_track_id is None:
        raise ReviewError("split_track needs new_track_id: apply it through a ReviewSession, which assigns a fresh one")
    cuboids = track_cuboids(labels, operation.track_id)
    later = [(index, cuboid) for index, cuboid in cuboids if labels.frames[index].timestamp_us >= operation.timestamp_us]
    if not later or len(later) == len(cuboids):
        raise ReviewError(
            f"splitting track {operation.track_id!r} at {operation.timestamp_us} us leaves one part empty: "
            "split at a frame after the track's first cuboid and no later than its last"
        )
    if any(cuboid.track_id == operation.new_track_id for frame in labels.frames for cuboid in frame.cuboids):
        raise ReviewError(f"track id {operation.new_track_id!r} is taken; choose another for the split-off part")
    replacements: dict[tuple[int, str], Cuboid | None] = {(index, operation.track_id): None for index, _ in later}
    additions = [(index, _touched(cuboid, context, "corrected", track_id=operation.new_track_id)) for index, cuboid in later]
    keys = list(replacements) + [(index, operation.new_track_id) for index, _ in later]
    return _result(_replace_cuboids(labels, replacements, additions), keys, [operation.track_id, operation.new_track_id])


def _trim(labels: Labels, operation: TrimTrack, context: EditContext) -> EditResult:
    cuboids = track_cuboids(labels, operation.track_id)
    start = operation.start_us if operation.start_us is not None else -(1 << 62)
    end = operation.end_us if operation.end_us is not None else 1 << 62
    outside = [index for index, _ in cuboids if not start <= labels.frames[index].timestamp_us <= end]
    if not outside:
        raise ReviewError(f"track {operation.track_id!r} has no cuboid outside {operation.start_us}..{operation.end_us} us: nothing to trim")
    if len(outside) == len(cuboids):
        raise ReviewError(f"trimming would remove every cuboid of track {operation.track_id!r}; delete or reject the track instead")
    replacements: dict[tuple[int, str], Cuboid | None] = {(index, operation.track_id): None for index in outside}
    return _result(_replace_cuboids(labels, replacements), replacements, [operation.track_id])


def _interpolate(labels: Labels, operation: InterpolateTrack, context: EditContext) -> EditResult:
    cuboids = track_cuboids(labels, operation.track_id)
    keys = [(index, cuboid) for index, cuboid in cuboids if cuboid.attributes.get("keyframe") is True]
    needed = 1 if operation.mode == "correction" else 2
    if len(keys) < needed:
        raise ReviewError(
            f"track {operation.track_id!r} has {len(keys)} keyframe(s): mark at least {needed} (edit a box, or mark it as a keyframe) "
            f"before interpolating ({operation.mode})"
        )
    stamps = labels.timestamps_us
    key_indices = np.array([index for index, _ in keys])
    key_boxes = np.stack([cuboid.box for _, cuboid in keys])
    present = {index: cuboid for index, cuboid in cuboids}
    # frames the keyframes span: the path through them (also for frames the track skipped)
    boxes: dict[int, np.ndarray] = {}
    if len(keys) >= 2:
        span = np.arange(key_indices[0], key_indices[-1] + 1)
        path = interpolation.interpolate_path(stamps[key_indices], key_boxes, stamps[span])
        boxes = {int(index): path[position] for position, index in enumerate(span)}
    if operation.mode == "correction":
        # every box of the track: its machine box moved by the blended keyframe corrections
        corrections = np.stack([interpolation.ground_pose(_machine_box(cuboid))[0] for _, cuboid in keys])
        corrections = interpolation.ground_pose(key_boxes) - corrections
        covered = sorted(present)
        base = np.stack([_machine_box(present[index], size=present[index].size) for index in covered])
        corrected = interpolation.interpolate_correction(stamps[key_indices], corrections, stamps[covered], base)
        boxes.update({index: corrected[position] for position, index in enumerate(covered)})
    key_set = set(int(index) for index in key_indices)
    targets = sorted(index for index in boxes if index not in key_set)
    centers = {index: present[index].center for index in present}
    centers.update({index: boxes[index][:3] for index in targets})
    velocities = _velocities(stamps, centers)
    label = _majority_label(cuboid for _, cuboid in cuboids)
    replacements: dict[tuple[int, str], Cuboid | None] = {}
    additions = []
    for index in targets:
        fields = _box_fields(boxes[index])
        if index in present:
            cuboid = present[index]
            replacements[(index, operation.track_id)] = _touched(cuboid, context, "interpolated", velocity=velocities.get(index), **fields)
        else:
            cuboid = Cuboid(
                id=f"{operation.track_id}@{int(stamps[index])}",
                track_id=operation.track_id,
                label=label,
                source="human",
                score=1.0,
                velocity=velocities.get(index),
                attributes={"state": "interpolated", "review": "interpolated", "edited_by": context.annotator, "edited_at": context.time},
                **fields,
            )
            additions.append((index, cuboid))
    keys_changed = list(replacements) + [(index, operation.track_id) for index, _ in additions]
    return _result(_replace_cuboids(labels, replacements, additions), keys_changed, [operation.track_id])


def _machine_box(cuboid: Cuboid, *, size: np.ndarray | None = None) -> np.ndarray:
    """The box before any human change (the cuboid's own box if nobody changed it); with
    `size`, resized to it standing on the same bottom face."""
    original = cuboid.attributes.get("auto_box")
    box = np.array(original, dtype=np.float64) if original is not None else cuboid.box
    if size is not None:
        box[2] += (size[2] - box[5]) / 2
        box[3:6] = size
    return box


def _majority_label(cuboids: Iterable[Cuboid]) -> str:
    labels = [cuboid.label for cuboid in cuboids]
    return max(dict.fromkeys(labels), key=labels.count)


def _velocities(stamps: np.ndarray, centers: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """World-frame (vx, vy) m/s by central differences along the track's centres."""
    order = sorted(centers)
    if len(order) < 2:
        return {}
    seconds = stamps[order] / 1e6
    xy = np.stack([centers[index][:2] for index in order])
    gradient = np.gradient(xy, seconds, axis=0)
    return {index: gradient[position] for position, index in enumerate(order)}


# --------------------------------------------------------------------------- dispatch

_APPLIERS: dict[type, Callable[[Labels, Any, EditContext], EditResult]] = {
    Select: _select,
    MoveCuboid: _move,
    RotateCuboid: _rotate,
    ResizeCuboid: _resize,
    SetBox: _set_box,
    FitBoxToPoints: _fit_box,
    CreateCuboid: _create,
    DeleteCuboid: _delete,
    DeleteTrack: _delete_track,
    Relabel: _relabel,
    AcceptProposal: _accept,
    RejectProposal: _delete,
    MergeTracks: _merge,
    SplitTrack: _split,
    TrimTrack: _trim,
    SetTrackSize: _set_track_size,
    MarkKeyframe: _mark_keyframe,
    InterpolateTrack: _interpolate,
}


def apply_operation(labels: Labels, operation: Operation, context: EditContext) -> EditResult:
    """Apply one operation; ReviewError (a ValueError) when it does not fit the labels."""
    applier = _APPLIERS.get(type(operation))
    if applier is None:
        raise ReviewError(f"not a review operation: {type(operation).__name__}")
    return applier(labels, operation, context)
