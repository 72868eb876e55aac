"""A review session: one annotator editing one labels file, with undo, redo and a journal.

    session = ReviewSession.open("out/town/labels.json", annotator="alice")
    session.apply(SetTrackSize("12", (4.6, 1.9, 1.5)))
    session.undo(); session.redo()
    session.save()

The viewer and the tests drive the same object. Life cycle of every step:

    resolve   fill in what the operation needs from outside (fresh ids, fitted box)
    apply     avlabel.review.edits.apply_operation: Labels in, Labels out
    journal   append the step to the journal and fsync it
    commit    make the new labels current; push onto the undo stack

Opening replays the journal entries the labels file does not include yet, so nothing
done before a crash is lost but the step being written. Saving writes the labels file
atomically (old or new, never half) with the history of who changed what and when.
"""

from __future__ import annotations

import datetime
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from avlabel.io.labels_file import labels_from_document, labels_to_document, read_labels, write_labels
from avlabel.review import audit
from avlabel.review.edits import EditContext, EditResult, ReviewError, apply_operation, find_cuboid
from avlabel.review.fitting import fit_box_to_points, points_in_box, selection_box
from avlabel.review.journal import (
    JournalContents,
    JournalError,
    JournalWriter,
    default_journal_path,
    file_sha256,
    move_aside,
    read_journal,
)
from avlabel.review.operations import (
    CreateCuboid,
    FitBoxToPoints,
    Operation,
    Select,
    SplitTrack,
    operation_from_document,
    operation_to_document,
)
from avlabel.structs import LABELS_SCHEMA, Cuboid, LabelFrame, Labels, wrap_angle

logger = logging.getLogger(__name__)

# World-frame points (N, >=3) of the frame at a timestamp_us; supplied by the viewer.
PointsProvider = Callable[[int], np.ndarray]
# World-frame (x, y) of the LiDAR at a timestamp_us, so a fit can tell the seen side.
SensorProvider = Callable[[int], np.ndarray]
# Fits a box (7,) to an object's world points (N, 3): fitter(points, hint box (7,), label,
# sensor_xy (2,) or None). Default: avlabel.review.fitting.fit_box_to_points.
BoxFitter = Callable[[np.ndarray, np.ndarray, str, np.ndarray | None], np.ndarray]

UNDO_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class _Step:
    """One undoable step: the labels before and after, and what did it."""

    before: Labels
    after: Labels
    result: EditResult
    kind: str


class ReviewSession:
    """Editing state of one labels file for one annotator. Create with `ReviewSession.open`."""

    def __init__(
        self,
        labels_path: Path,
        labels: Labels,
        journal: JournalWriter,
        annotator: str,
        *,
        points: PointsProvider | None,
        sensor: SensorProvider | None,
        fitter: BoxFitter | None,
        clock: Callable[[], datetime.datetime],
    ) -> None:
        self.labels_path = labels_path
        self.annotator = annotator
        self.session_id = uuid.uuid4().hex
        self.selection: tuple[int, str | None] | None = None
        self.replayed = 0
        self._labels = labels
        self._journal = journal
        self._points = points
        self._sensor = sensor
        self._fitter = fitter or fit_box_to_points
        self._clock = clock
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        self._unsaved: list[dict[str, Any]] = []  # journal entries since the last save
        self._listeners: list[Callable[[EditResult], None]] = []

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        labels_path: str | os.PathLike[str],
        journal_path: str | os.PathLike[str] | None = None,
        *,
        annotator: str,
        points: PointsProvider | None = None,
        sensor: SensorProvider | None = None,
        fitter: BoxFitter | None = None,
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> "ReviewSession":
        """Open a labels file for review, replaying journal entries it does not include yet.

        journal_path defaults to the file beside the labels (labels.journal.jsonl). A journal
        that belongs to another version of the labels (neither its id nor its starting hash
        matches) is moved aside with a warning, never replayed.
        points: world points of a frame, for FitBoxToPoints; sensor: the LiDAR's world
        (x, y) at a frame (the fit then completes partly seen objects away from it);
        fitter: the box fitter (default: the proposal stage's, see avlabel.review.fitting).
        """
        if not isinstance(annotator, str) or not annotator.strip():
            raise ValueError("annotator: give the annotator's name (every edit is recorded under it)")
        labels_path = Path(labels_path)
        journal_path = Path(journal_path) if journal_path is not None else default_journal_path(labels_path)
        clock = clock or (lambda: datetime.datetime.now(datetime.timezone.utc))
        labels = read_labels(labels_path)
        contents = read_journal(journal_path)
        to_replay: list[dict[str, Any]] = []
        if contents is not None:
            to_replay = _entries_to_replay(contents, labels, labels_path)
            if to_replay is None:
                move_aside(journal_path, "the journal belongs to another version of the labels file")
                contents = None
                to_replay = []
        if contents is None:
            journal = JournalWriter.create(journal_path, labels_path=labels_path, time=audit.format_time(clock()))
        else:
            journal = JournalWriter.resume(journal_path, contents)
        session = cls(labels_path, labels, journal, annotator.strip(), points=points, sensor=sensor, fitter=fitter, clock=clock)
        for entry in to_replay:
            try:
                session._replay(entry)
            except (ValueError, KeyError, TypeError) as error:
                journal.close()
                raise JournalError(
                    f"{journal_path}: entry {entry.get('sequence')} ({entry.get('kind')}) cannot be replayed onto {labels_path.name}: {error}; "
                    "move the journal aside to open the labels as last saved"
                ) from None
        session.replayed = sum(entry["kind"] in ("operation", "undo", "redo") and not _is_select(entry) for entry in to_replay)
        if to_replay:
            logger.info("%s: replayed %d journal entries not yet saved", labels_path, len(to_replay))
        session._write("open", {})
        return session

    @classmethod
    def create(
        cls,
        labels_path: str | os.PathLike[str],
        labels: Labels,
        *,
        annotator: str,
        **options: Any,
    ) -> "ReviewSession":
        """Write `labels` to a new labels file and open it for review (refuses to overwrite)."""
        labels_path = Path(labels_path)
        if labels_path.exists():
            raise ValueError(f"{labels_path}: already exists; open it with ReviewSession.open instead")
        write_labels(labels_path, labels)
        return cls.open(labels_path, annotator=annotator, **options)

    # ------------------------------------------------------------------ state

    @property
    def labels(self) -> Labels:
        """The labels as they are now (with every applied step)."""
        return self._labels

    @property
    def journal_path(self) -> Path:
        return self._journal.path

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def dirty(self) -> bool:
        """True when there are steps the labels file does not hold yet (they are in the journal)."""
        return any(entry["kind"] != "open" and not _is_select(entry) for entry in self._unsaved)

    def cuboid(self, timestamp_us: int, track_id: str) -> Cuboid:
        return find_cuboid(self._labels, timestamp_us, track_id)

    def selected_cuboid(self) -> Cuboid | None:
        if self.selection is None or self.selection[1] is None:
            return None
        try:
            return find_cuboid(self._labels, *self.selection)  # type: ignore[arg-type]
        except ReviewError:
            return None

    def add_listener(self, listener: Callable[[EditResult], None]) -> None:
        """Call `listener(result)` after every apply, undo and redo (the viewer redraws)."""
        self._listeners.append(listener)

    # ------------------------------------------------------------------ editing

    def apply(self, operation: Operation) -> EditResult:
        """Apply one operation (ReviewError when it does not fit); journaled before it returns."""
        resolved = self._resolve(operation)
        time = audit.format_time(self._clock())
        result = apply_operation(self._labels, resolved, EditContext(self.annotator, time))
        entry = {"operation": operation_to_document(resolved), "tracks": list(result.tracks), "cuboids": len(result.cuboids)}
        self._write("operation", entry, time)
        self._commit(resolved, result)
        return result

    def undo(self) -> EditResult | None:
        """Undo the last edit; None when there is nothing to undo."""
        if not self._undo:
            return None
        step = self._undo[-1]
        patch = _patch(self._labels, step.before)
        self._write("undo", {"of": step.kind, "patch": patch, "tracks": list(step.result.tracks), "cuboids": len(step.result.cuboids)})
        self._undo.pop()
        self._redo.append(step)
        return self._show(replace(step.result, labels=step.before), step.before)

    def redo(self) -> EditResult | None:
        """Redo the last undone edit; None when there is nothing to redo."""
        if not self._redo:
            return None
        step = self._redo[-1]
        patch = _patch(self._labels, step.after)
        self._write("redo", {"of": step.kind, "patch": patch, "tracks": list(step.result.tracks), "cuboids": len(step.result.cuboids)})
        self._redo.pop()
        self._undo.append(step)
        return self._show(step.result, step.after)

    # ------------------------------------------------------------------ saving

    def save(self) -> Path:
        """Write the labels file atomically, with this session's history; returns its path."""
        saved_at = audit.format_time(self._clock())
        metadata = dict(self._labels.metadata)
        history = list(metadata.get("history", []))
        edits = [entry for entry in self._unsaved if entry["kind"] != "save"]
        history.append(
            audit.history_record(
                edits, session=self.session_id, saved_by=self.annotator, saved_at=saved_at,
                journal=self._journal.path.name, journal_id=self._journal.journal_id,
            )
        )
        metadata["history"] = history
        metadata["review"] = {
            "journal": self._journal.path.name,
            "journal_id": self._journal.journal_id,
            "journal_sequence": self._journal.last_sequence,
            "saved_by": self.annotator,
            "saved_at": saved_at,
        }
        labels = Labels(self._labels.frames, metadata)
        write_labels(self.labels_path, labels)
        self._labels = labels
        self._write("save", {"saved_sequence": self._journal.last_sequence}, saved_at)
        self._unsaved = []
        return self.labels_path

    def close(self) -> None:
        """Close the journal (unsaved steps stay in it and are replayed on the next open)."""
        self._journal.close()

    def __enter__(self) -> "ReviewSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _write(self, kind: str, fields: dict[str, Any], time: str | None = None) -> dict[str, Any]:
        time = time or audit.format_time(self._clock())
        entry = self._journal.append({"kind": kind, "session": self.session_id, "annotator": self.annotator, "time": time, **fields})
        self._unsaved.append(entry)
        return entry

    def _commit(self, operation: Operation, result: EditResult) -> None:
        if isinstance(operation, Select):
            self.selection = (operation.timestamp_us, operation.track_id)
            self._show(result, result.labels)
            return
        self._undo.append(_Step(self._labels, result.labels, result, operation.kind))
        del self._undo[:-UNDO_LIMIT]
        self._redo.clear()
        self._show(result, result.labels)

    def _show(self, result: EditResult, labels: Labels) -> EditResult:
        self._labels = Labels(labels.frames, self._labels.metadata)
        if self.selection is not None and self.selection[1] is not None and self.selected_cuboid() is None:
            self.selection = (self.selection[0], None)
        for listener in self._listeners:
            listener(result)
        return result

    def _resolve(self, operation: Operation) -> Operation:
        """Fill in what an operation needs from outside the labels, so it replays on its own."""
        if isinstance(operation, CreateCuboid) and (operation.track_id is None or operation.cuboid_id is None):
            track_id = operation.track_id or fresh_track_id(self._labels)
            return replace(operation, track_id=track_id, cuboid_id=operation.cuboid_id or f"{track_id}@{operation.timestamp_us}")
        if isinstance(operation, SplitTrack) and operation.new_track_id is None:
            return replace(operation, new_track_id=fresh_track_id(self._labels))
        if isinstance(operation, FitBoxToPoints) and operation.box is None:
            return self._fit(operation)
        return operation

    def _fit(self, operation: FitBoxToPoints) -> FitBoxToPoints:
        if self._points is None:
            raise ReviewError("fitting a box needs the log's points: open the session with points=... (the viewer does)")
        cuboid = find_cuboid(self._labels, operation.timestamp_us, operation.track_id)
        points = np.asarray(self._points(operation.timestamp_us))
        inside = points[points_in_box(points, selection_box(cuboid.box, operation.margin)), :3]
        if len(inside) < 3:
            raise ReviewError(
                f"only {len(inside)} LiDAR point(s) within {operation.margin} m of track {operation.track_id!r}'s box: "
                "move the box onto the object first, or set the box by hand"
            )
        sensor_xy = None if self._sensor is None else np.asarray(self._sensor(operation.timestamp_us), dtype=np.float64)[:2]
        try:
            box = np.asarray(self._fitter(inside, cuboid.box, cuboid.label, sensor_xy), dtype=np.float64).copy()
        except ValueError as error:
            raise ReviewError(f"fitting track {operation.track_id!r} at {operation.timestamp_us} us failed: {error}") from None
        if abs(wrap_angle(box[6] - cuboid.yaw)) > np.pi / 2:  # a fit cannot tell front from back: keep the heading
            box[6] = wrap_angle(box[6] + np.pi)
        counted = int(np.count_nonzero(points_in_box(points, selection_box(box, 0.0))))
        return replace(operation, box=tuple(float(value) for value in box), num_points=counted)

    def _replay(self, entry: dict[str, Any]) -> None:
        """Re-do one journal entry with its original annotator and time."""
        kind = entry["kind"]
        self._unsaved.append(entry)
        if kind in ("open", "save"):
            return
        if kind == "operation":
            operation = operation_from_document(entry["operation"])
            result = apply_operation(self._labels, operation, EditContext(entry["annotator"], entry["time"]))
            self._commit(operation, result)
            return
        stack_from, stack_to = (self._undo, self._redo) if kind == "undo" else (self._redo, self._undo)
        target = _apply_patch(self._labels, entry["patch"])
        if stack_from:
            stack_to.append(stack_from.pop())
        self._labels = target


def fresh_track_id(labels: Labels) -> str:
    """A track id no cuboid uses: one above the largest numeric id (ids stay numbers where they are)."""
    taken = {cuboid.track_id for frame in labels.frames for cuboid in frame.cuboids}
    numbers = [int(track_id) for track_id in taken if track_id.isdigit()]
    candidate = max(numbers, default=0) + 1
    while str(candidate) in taken:
        candidate += 1
    return str(candidate)


def empty_labels(timestamps_us: np.ndarray, metadata: dict[str, Any] | None = None) -> Labels:
    """Labels with one empty frame per timestamp (a log's sweeps, log clock)."""
    return Labels(tuple(LabelFrame(int(stamp)) for stamp in np.asarray(timestamps_us, dtype=np.int64)), metadata or {})


def _entries_to_replay(contents: JournalContents, labels: Labels, labels_path: Path) -> list[dict[str, Any]] | None:
    """Journal entries newer than the labels file; None when the journal belongs elsewhere."""
    review = labels.metadata.get("review", {}) if isinstance(labels.metadata.get("review"), dict) else {}
    if review.get("journal_id") == contents.header["journal_id"]:
        saved = int(review.get("journal_sequence", 0))
        return [entry for entry in contents.entries if entry["sequence"] > saved]
    if contents.header.get("base_sha256") == file_sha256(labels_path):
        return list(contents.entries)
    return None


def _is_select(entry: dict[str, Any]) -> bool:
    return entry["kind"] == "operation" and entry["operation"].get("type") == "select"


def _patch(current: Labels, target: Labels) -> dict[str, Any]:
    """The frames of `target` that differ from `current`, as labels-file documents."""
    changed = [target_frame for frame, target_frame in zip(current.frames, target.frames) if frame is not target_frame and frame != target_frame]
    return {"frames": labels_to_document(Labels(tuple(changed)))["frames"]}


def _apply_patch(labels: Labels, patch: dict[str, Any]) -> Labels:
    frames = labels_from_document({"schema": LABELS_SCHEMA, "frames": patch["frames"]}, "<journal patch>").frames
    replacements = {frame.timestamp_us: frame for frame in frames}
    return Labels(tuple(replacements.get(frame.timestamp_us, frame) for frame in labels.frames), labels.metadata)
