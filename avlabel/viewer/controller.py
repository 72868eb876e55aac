"""The viewer's behaviour without its window: every action an annotator can take, by name.

`ViewerController.perform(action)` is what a key press, a menu item, a button and a test
all call, so what is tested is what the annotator gets. Actions that change labels go
through the review session (journaled, undoable); the others move around the log.

`BINDINGS` maps keys to actions and is also what the in-app help panel lists. Box moves
and resizes work in the selected box's own axes (forward along its heading, left across).

Without a labels file the viewer opens (or creates) `<log>.labels.json` beside the log:
if it does not exist yet it starts from the log's ground truth when the log has some,
otherwise from an empty set with one frame per LiDAR sweep. The journal lives beside the
labels file (see avlabel.review.journal).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Flag, auto
from pathlib import Path

import numpy as np

from avlabel.io.labels_file import write_labels
from avlabel.io.logstore import DriveLog
from avlabel.review import (
    AcceptProposal,
    CreateCuboid,
    DeleteCuboid,
    DeleteTrack,
    FitBoxToPoints,
    InterpolateTrack,
    MarkKeyframe,
    MergeTracks,
    MoveCuboid,
    QueueItem,
    RejectProposal,
    Relabel,
    ResizeCuboid,
    ReviewProgress,
    ReviewSession,
    RotateCuboid,
    Select,
    SetTrackSize,
    SplitTrack,
    TrimTrack,
    default_box_at,
    empty_labels,
    review_progress,
    review_queue,
)
from avlabel.structs import CLASSES, Cuboid, LabelFrame, Labels
from avlabel.viewer import drawing
from avlabel.viewer.drawing import COLOR_MODES
from avlabel.viewer.frames import MEMORY_BUDGET, CameraView, FrameView, LogFrames

logger = logging.getLogger(__name__)

STEP_M = 0.1  # move / resize step; shift multiplies by BIG_STEP
TURN_RAD = math.radians(1.0)
BIG_STEP = 5.0
FRAME_MATCH_US = 1_000  # a labels frame belongs to the sweep within this of its time
MAX_STEP = 10  # a move of at most this many sweeps is a step (read ahead as the next move)


class Change(Flag):
    """What an action changed, so the window redraws only that."""

    NONE = 0
    FRAME = auto()  # another sweep: points, radar, images
    LABELS = auto()  # cuboids changed
    SELECTION = auto()
    VIEW = auto()  # colours, help, play state
    FOCUS = auto()  # bring the selected cuboid into the middle of the 3D view


@dataclass(frozen=True, slots=True, eq=False)
class SweepPictures:
    """What the window draws of one sweep besides its points, for one state of the labels,
    the selection and the view modes: point_colors (N, 3) float32 RGB in [0, 1] (the
    sweep's points in order) and each camera's panel image (h, w, 3) uint8 RGB with the
    LiDAR points and the cuboids drawn in (drawing.camera_overlay)."""

    point_colors: np.ndarray
    cameras: dict[str, np.ndarray]


@dataclass(frozen=True, slots=True, eq=False)
class _PictureState:
    """Everything a sweep's pictures depend on besides the sweep, captured on the main
    thread so the read-ahead thread can draw them (labels are immutable)."""

    labels: Labels
    label_index: dict[int, int]
    selected_track: str | None
    color_mode: str
    camera_points: bool

    def key(self, sweep: int) -> tuple:
        return (sweep, id(self.labels.frames), self.selected_track, self.color_mode, self.camera_points)


PICTURE_CACHE_SIZE = 8


@dataclass(frozen=True, slots=True)
class Action:
    description: str
    handler: Callable[["ViewerController"], Change]


def default_labels_path(log_path: str | os.PathLike[str]) -> Path:
    """Where the viewer keeps labels for a log opened without --labels: <log>.labels.json."""
    log_path = Path(log_path)
    return log_path.with_name(f"{log_path.stem}.labels.json")


def initial_labels(log: DriveLog, sweep_times_us: np.ndarray) -> Labels:
    """The log's truth (as a starting point to review) or, without truth, one empty frame per sweep."""
    truth = log.truth()
    if truth is not None and len(truth):
        return Labels(truth.frames, {**truth.metadata, "started_from": "truth", "log": log.name})
    return empty_labels(sweep_times_us, {"started_from": "empty", "log": log.name})


class ViewerController:
    """State and actions of one viewer: the log's frames, a review session, the current
    sweep and selection, the colour mode, play state and the last message."""

    def __init__(self, session: ReviewSession, frames: LogFrames) -> None:
        self.session = session
        self.frames = frames
        self.frame_index = 0
        self.selected_track: str | None = None
        self.color_mode = COLOR_MODES[0]
        self.playing = False
        self.help_visible = True
        self.camera_points = True  # LiDAR points drawn over the camera images
        self.merge_source: str | None = None
        self.message = "ready"
        # caches keyed by the labels' frames tuple (held, compared by identity)
        self._queue_cache: tuple[tuple, list[QueueItem]] | None = None
        self._progress_cache: tuple[tuple, ReviewProgress] | None = None
        self._label_index_cache: tuple[tuple, dict[int, int]] | None = None
        # sweep pictures by _PictureState.key, with the labels' frames they were drawn for;
        # filled by the read-ahead thread too
        self._pictures: OrderedDict[tuple, tuple[tuple, SweepPictures]] = OrderedDict()
        self._pictures_lock = threading.Lock()
        # A window sets this: the reads ahead then start once it has handed the new sweep
        # over (read_ahead_if_due), not while it still prepares it.
        self.defer_read_ahead = False
        self._read_ahead_due = False
        self._heading = 0  # the last step between sweeps (+1, -10, ...), 0 after a jump
        # a mouse drag of the selected cuboid: (labels timestamp, track, ground point where it
        # started) and how far it has been dragged (world x, y, z in metres), shown until let go
        self._drag: tuple[int, str, np.ndarray] | None = None
        self.drag_offset: np.ndarray | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        log_path: str | os.PathLike[str],
        labels_path: str | os.PathLike[str] | None,
        annotator: str,
        *,
        cameras: list[str] | None = None,
        panel_width: int | None = 480,
        prefetch: bool = True,
        memory_budget: int = MEMORY_BUDGET,
    ) -> "ViewerController":
        """Open a log and its labels for review (see the module doc for labels_path None).
        prefetch: read ahead, and read the whole log into memory while idle, up to
        memory_budget bytes (see LogFrames)."""
        log = DriveLog(log_path)
        frames = LogFrames(log, cameras=cameras, panel_width=panel_width, prefetch=prefetch, memory_budget=memory_budget)
        if labels_path is None:
            labels_path = default_labels_path(log_path)
            if not Path(labels_path).exists():
                write_labels(labels_path, initial_labels(log, frames.timestamps_us))
                logger.info("%s: started new labels from %s", labels_path, "the log's truth" if log.truth() is not None else "nothing")
        session = ReviewSession.open(
            labels_path, annotator=annotator,
            points=lambda timestamp_us: frame_at_time(frames, timestamp_us).points_world,
            sensor=lambda timestamp_us: frame_at_time(frames, timestamp_us).sensor_xy,
        )
        controller = cls(session, frames)
        if session.replayed:
            controller.message = f"recovered {session.replayed} unsaved edit(s) from the journal"
        if session.selection is not None:
            controller._restore_selection(*session.selection)
        return controller

    def close(self) -> None:
        self.session.close()
        self.frames.close()
        self.frames.log.close()

    # ------------------------------------------------------------------ state

    @property
    def frame(self) -> FrameView | None:
        return self.frames.frame(self.frame_index)

    @property
    def timestamp_us(self) -> int:
        """Log-clock time of the current sweep."""
        return int(self.frames.timestamps_us[self.frame_index])

    def label_frame(self) -> LabelFrame | None:
        """The labels frame of the current sweep (None when the labels have none there)."""
        return _label_frame_at(self.session.labels, self._label_index(), self.timestamp_us)

    def cuboids(self) -> tuple[Cuboid, ...]:
        frame = self.label_frame()
        return frame.cuboids if frame is not None else ()

    def selected_cuboid(self) -> Cuboid | None:
        return next((cuboid for cuboid in self.cuboids() if cuboid.track_id == self.selected_track), None)

    def pictures(self) -> SweepPictures | None:
        """Point colours and camera panel images of the current sweep as the labels, the
        selection and the modes are now (None outside the ego poses); drawn ahead by the
        read-ahead thread when it guessed this sweep and state, else drawn now."""
        frame = self.frame
        if frame is None:
            return None
        return self._pictures_for(frame, self._picture_state(self.selected_track))

    def queue(self) -> list[QueueItem]:
        labels = self.session.labels
        if self._queue_cache is None or self._queue_cache[0] is not labels.frames:
            self._queue_cache = (labels.frames, review_queue(labels))
        return self._queue_cache[1]

    def status(self) -> str:
        """One line: sweep, how much of the log is in memory, review progress, unsaved
        state, annotator, last message."""
        labels = self.session.labels
        if self._progress_cache is None or self._progress_cache[0] is not labels.frames:
            self._progress_cache = (labels.frames, review_progress(labels))
        progress = self._progress_cache[1]
        seconds = (self.timestamp_us - int(self.frames.timestamps_us[0])) / 1e6
        saved = "unsaved edits (journaled)" if self.session.dirty else "saved"
        memory = self.frames.memory()
        in_memory = f"  |  {memory.text()}" if memory.state != "off" else ""
        return (
            f"sweep {self.frame_index + 1}/{len(self.frames)}  t={seconds:.1f} s{in_memory}  |  reviewed {progress.reviewed_tracks}/{progress.total_tracks} tracks "
            f"({100 * progress.fraction:.0f}%)  |  {saved}  |  {self.session.annotator}  |  {self.message}"
        )

    def selection_text(self) -> str:
        """The selected cuboid's fields and attributes, one per line."""
        cuboid = self.selected_cuboid()
        if cuboid is None:
            return "nothing selected\n(Tab: next cuboid, Q: next in queue, Ctrl+click: pick)"
        x, y, z = cuboid.center
        length, width, height = cuboid.size
        lines = [
            f"track {cuboid.track_id}  ({cuboid.label})   cuboid {cuboid.id}",
            f"centre {x:.2f}, {y:.2f}, {z:.2f} m   yaw {math.degrees(cuboid.yaw):.1f} deg",
            f"size {length:.2f} x {width:.2f} x {height:.2f} m",
            f"score {cuboid.score:.2f}   points {cuboid.num_points}   source {cuboid.source}",
        ]
        if cuboid.velocity is not None:
            lines.append(f"velocity {cuboid.velocity[0]:.1f}, {cuboid.velocity[1]:.1f} m/s")
        for key, value in sorted(cuboid.attributes.items()):
            if key == "auto_box":
                continue
            lines.append(f"{key}: {value:.3g}" if isinstance(value, float) else f"{key}: {value}")
        item = next((item for item in self.queue() if item.track_id == cuboid.track_id), None)
        if item is not None and item.issues:
            lines.append("queue: " + "; ".join(issue.detail for issue in item.issues))
        return "\n".join(lines)

    # ------------------------------------------------------------------ dispatch

    def perform(self, name: str) -> Change:
        """Run the action `name` (see ACTIONS); errors become the message, never exceptions."""
        action = ACTIONS.get(name)
        if action is None:
            raise ValueError(f"unknown viewer action {name!r}; known: {', '.join(sorted(ACTIONS))}")
        self.message = ""
        self.frames.touch()  # the idle reader leaves the annotator's actions the CPU
        try:
            return action.handler(self)
        except ValueError as error:  # ReviewError is a ValueError: an edit that does not fit
            self.message = f"cannot {action.description.lower()}: {error}"
            logger.info("%s", self.message)
            return Change.NONE

    # ------------------------------------------------------------------ navigation

    def go_to_frame(self, index: int, *, read_ahead: bool = True) -> Change:
        index = int(np.clip(index, 0, len(self.frames) - 1))
        if index == self.frame_index:
            return Change.NONE
        step = index - self.frame_index
        self._heading = step if abs(step) <= MAX_STEP else 0
        self.frame_index = index
        self.frames.current = index
        if read_ahead:
            self.read_ahead()
        return Change.FRAME | Change.SELECTION

    def read_ahead(self, *, now: bool = False) -> None:
        """Have the background thread read the sweeps the annotator is likely to go to
        next, most likely first, and draw their pictures as they would be shown: after a
        step, the same step again; the next review-queue item's sweep (Q, with that item's
        track selected); the next sweep and the previous one. With defer_read_ahead set
        (and not `now`) this only notes that it is due."""
        if self.defer_read_ahead and not now:
            self._read_ahead_due = True
            return
        self._read_ahead_due = False
        index = self.frame_index
        if self.frames.reading_ahead:
            try:
                self.frames.frame(index)  # this sweep first, so the reads ahead do not compete with it
            except ValueError:
                return  # an unreadable sweep: reported when the window draws it, as without read-ahead
        plan: list[tuple[int, str | None]] = []
        if self._heading:
            plan.append((index + self._heading, self.selected_track))
        queue = self.queue()
        if queue:
            tracks = [item.track_id for item in queue]
            position = (tracks.index(self.selected_track) + 1) % len(queue) if self.selected_track in tracks else 0
            plan.append((self.sweep_at(queue[position].timestamp_us), queue[position].track_id))
        plan += [(index + 1, self.selected_track), (index - 1, self.selected_track)]
        self._read_ahead([(sweep, track) for sweep, track in plan if sweep != index])

    def read_ahead_if_due(self) -> None:
        """Start the reads ahead a deferred read_ahead asked for (the window calls this
        once it has handed the sweep to Open3D)."""
        if self._read_ahead_due:
            self.read_ahead(now=True)

    def read_ahead_at(self, sweeps: list[int]) -> None:
        """Read these sweeps in the background instead (most likely first), with their
        pictures for the current selection: the window asks for the sweep the slider was
        dragged to, and the ones beyond it, before it can show them."""
        self._read_ahead([(sweep, self.selected_track) for sweep in sweeps])

    def _read_ahead(self, plan: list[tuple[int, str | None]]) -> None:
        if not self.frames.reading_ahead:
            return
        states: dict[int, _PictureState] = {}
        for sweep, track in plan:
            states.setdefault(sweep, self._picture_state(track))

        def prepare(view: FrameView) -> None:
            state = states.get(view.index)
            if state is not None:
                self._pictures_for(view, state)

        self.frames.read_ahead(list(states), prepare=prepare)

    def step_frames(self, count: int) -> Change:
        return self.go_to_frame(self.frame_index + count)

    def toggle_play(self) -> Change:
        self.playing = not self.playing
        self.message = "playing" if self.playing else "paused"
        return Change.VIEW

    def advance_playback(self) -> Change:
        """One step of playback (the window calls this on its clock); stops at the end."""
        if not self.playing:
            return Change.NONE
        if self.frame_index >= len(self.frames) - 1:
            self.playing = False
            self.message = "end of log"
            return Change.VIEW
        return self.step_frames(1)

    def next_queue_item(self) -> Change:
        """Jump to the next track in the review queue (after the selected one)."""
        queue = self.queue()
        if not queue:
            self.message = "review queue empty: every track is reviewed"
            return Change.VIEW
        tracks = [item.track_id for item in queue]
        position = (tracks.index(self.selected_track) + 1) % len(queue) if self.selected_track in tracks else 0
        item = queue[position]
        change = self.go_to_frame(self.sweep_at(item.timestamp_us), read_ahead=False)
        self._heading = 0  # a jump: the queue, not a step, is what comes next
        self.select(item.track_id)
        self.read_ahead()  # now from the selected item: the one after it is next
        reasons = ", ".join(issue.detail for issue in item.issues) or "no issue found: check and accept"
        self.message = f"queue {position + 1}/{len(queue)}: track {item.track_id} ({item.label}): {reasons}"
        return change | Change.SELECTION | Change.FOCUS

    # ------------------------------------------------------------------ selection

    def select(self, track_id: str | None) -> Change:
        if track_id is not None and not any(cuboid.track_id == track_id for cuboid in self.cuboids()):
            raise ValueError(f"track {track_id!r} has no cuboid in this sweep")
        self.selected_track = track_id
        timestamp = self._label_timestamp()
        if timestamp is not None:
            self.session.apply(Select(timestamp, track_id))
        return Change.SELECTION

    def cycle_selection(self, step: int) -> Change:
        cuboids = sorted(self.cuboids(), key=lambda cuboid: _track_sort_key(cuboid.track_id))
        if not cuboids:
            self.message = "no cuboids in this sweep"
            return Change.VIEW
        tracks = [cuboid.track_id for cuboid in cuboids]
        position = (tracks.index(self.selected_track) + step) % len(tracks) if self.selected_track in tracks else (0 if step > 0 else -1)
        return self.select(tracks[position])

    def select_at(self, point_world: np.ndarray) -> Change:
        """Select the cuboid whose footprint holds the point, else the nearest within 3 m."""
        point = np.asarray(point_world, dtype=np.float64)
        best, best_distance = None, 3.0
        for cuboid in self.cuboids():
            distance = 0.0 if _in_footprint(cuboid, point) else float(np.hypot(*(point[:2] - cuboid.center[:2])))
            if distance < best_distance:
                best, best_distance = cuboid.track_id, distance
        if best is None:
            self.message = "no cuboid there (Ctrl+Shift+click creates one)"
            return self.select(None)
        return self.select(best)

    # ------------------------------------------------------------------ mouse drag

    @property
    def dragging(self) -> bool:
        return self._drag is not None

    def begin_drag(self, point_world: np.ndarray) -> bool:
        """Start moving the selected cuboid with the mouse if the ground point (world frame)
        lies in its footprint; False (nothing started) otherwise."""
        cuboid = self.selected_cuboid()
        timestamp = self._label_timestamp()
        if cuboid is None or timestamp is None or not _in_footprint(cuboid, point_world):
            return False
        self._drag = (timestamp, cuboid.track_id, np.asarray(point_world, dtype=np.float64).copy())
        self.drag_offset = np.zeros(3)
        return True

    def drag_to(self, point_world: np.ndarray) -> Change:
        """The mouse is over this ground point now: the cuboid is shown moved along the
        ground by as much as the pointer moved (not an edit yet)."""
        if self._drag is None:
            return Change.NONE
        offset = np.asarray(point_world, dtype=np.float64) - self._drag[2]
        self.drag_offset = np.array([offset[0], offset[1], 0.0])
        self.message = f"moving track {self._drag[1]} by {np.hypot(offset[0], offset[1]):.2f} m (let go to place it)"
        return Change.VIEW

    def end_drag(self) -> Change:
        """Let go: one move of the cuboid by the dragged offset (journaled, undoable); none
        when the mouse did not move."""
        if self._drag is None:
            return Change.NONE
        (timestamp, track, _), offset = self._drag, self.drag_offset
        self._drag, self.drag_offset = None, None
        if offset is None or float(np.hypot(offset[0], offset[1])) < 1e-6:
            return Change.SELECTION
        return self._apply(MoveCuboid(timestamp, track, tuple(float(value) for value in offset)), f"moved track {track} by {np.hypot(offset[0], offset[1]):.2f} m")

    def shown_cuboids(self) -> tuple[Cuboid, ...]:
        """The sweep's cuboids as the 3D view shows them: the one being dragged where the
        mouse has it."""
        cuboids = self.cuboids()
        if self._drag is None or self.drag_offset is None:
            return cuboids
        track = self._drag[1]
        return tuple(replace(cuboid, center=cuboid.center + self.drag_offset) if cuboid.track_id == track else cuboid for cuboid in cuboids)

    # ------------------------------------------------------------------ edits

    def _apply(self, operation: object, message: str) -> Change:
        result = self.session.apply(operation)  # type: ignore[arg-type]
        self.message = f"{message} ({len(result.cuboids)} cuboid{'s' if len(result.cuboids) != 1 else ''})"
        return Change.LABELS | Change.SELECTION

    def _require_selection(self) -> tuple[int, Cuboid]:
        cuboid = self.selected_cuboid()
        timestamp = self._label_timestamp()
        if cuboid is None or timestamp is None:
            raise ValueError("select a cuboid first (Tab, Q or Ctrl+click)")
        return timestamp, cuboid

    def move(self, forward: float, left: float, up: float = 0.0) -> Change:
        """Move the selected cuboid along its own axes (metres)."""
        timestamp, cuboid = self._require_selection()
        cos, sin = math.cos(cuboid.yaw), math.sin(cuboid.yaw)
        offset = (forward * cos - left * sin, forward * sin + left * cos, up)
        return self._apply(MoveCuboid(timestamp, cuboid.track_id, offset), f"moved track {cuboid.track_id}")

    def rotate(self, angle: float) -> Change:
        timestamp, cuboid = self._require_selection()
        return self._apply(RotateCuboid(timestamp, cuboid.track_id, angle), f"turned track {cuboid.track_id} by {math.degrees(angle):+.0f} deg")

    def resize(self, length: float, width: float, height: float) -> Change:
        timestamp, cuboid = self._require_selection()
        return self._apply(ResizeCuboid(timestamp, cuboid.track_id, (length, width, height)), f"resized track {cuboid.track_id}")

    def fit(self) -> Change:
        timestamp, cuboid = self._require_selection()
        return self._apply(FitBoxToPoints(timestamp, cuboid.track_id), f"fitted track {cuboid.track_id} to its points")

    def create_at(self, point_world: np.ndarray, label: str = "car") -> Change:
        """A new class-sized box standing at the point (x, y; z on the ego's ground), facing the ego's way."""
        timestamp = self._label_timestamp()
        frame = self.frame
        if timestamp is None or frame is None:
            raise ValueError("this sweep has no labels frame to add a cuboid to")
        heading = math.atan2(frame.world_from_ego[1, 0], frame.world_from_ego[0, 0])
        point = np.asarray(point_world, dtype=np.float64)
        result = self.session.apply(CreateCuboid(timestamp, default_box_at((point[0], point[1], frame.ground_z), label, heading), label))
        self.selected_track = result.tracks[0]
        self.message = f"created track {self.selected_track} ({label}); move it into place, G fits it to the points"
        return Change.LABELS | Change.SELECTION

    def create_at_focus(self) -> Change:
        """A new car 10 m ahead of the ego (the window passes the point under the mouse instead)."""
        frame = self.frame
        if frame is None:
            raise ValueError("this sweep lies outside the ego poses")
        return self.create_at(frame.world_from_ego[:3, :3] @ np.array([10.0, 0.0, 0.0]) + frame.world_from_ego[:3, 3])

    def delete_cuboid(self) -> Change:
        timestamp, cuboid = self._require_selection()
        change = self._apply(DeleteCuboid(timestamp, cuboid.track_id), f"deleted track {cuboid.track_id}'s cuboid here")
        self.selected_track = None
        return change

    def delete_track(self) -> Change:
        _, cuboid = self._require_selection()
        change = self._apply(DeleteTrack(cuboid.track_id), f"deleted track {cuboid.track_id}")
        self.selected_track = None
        return change

    def relabel(self, label: str) -> Change:
        _, cuboid = self._require_selection()
        return self._apply(Relabel(cuboid.track_id, label), f"track {cuboid.track_id} is now a {label}")

    def accept_track(self) -> Change:
        _, cuboid = self._require_selection()
        change = self._apply(AcceptProposal(cuboid.track_id), f"accepted track {cuboid.track_id}")
        return change

    def reject_track(self) -> Change:
        _, cuboid = self._require_selection()
        change = self._apply(RejectProposal(cuboid.track_id), f"rejected track {cuboid.track_id}")
        self.selected_track = None
        return change

    def merge(self) -> Change:
        """First press marks the selected track; the second folds the newly selected track
        into the marked one (the marked track's boxes win where both have one)."""
        _, cuboid = self._require_selection()
        if self.merge_source is None or self.merge_source == cuboid.track_id:
            self.merge_source = cuboid.track_id
            self.message = f"merge: track {cuboid.track_id} marked; select the track to fold into it and press M again"
            return Change.VIEW
        kept, self.merge_source = self.merge_source, None
        change = self._apply(MergeTracks(kept, cuboid.track_id, "keep"), f"merged track {cuboid.track_id} into {kept}")
        self.selected_track = kept
        return change

    def split(self) -> Change:
        timestamp, cuboid = self._require_selection()
        result = self.session.apply(SplitTrack(cuboid.track_id, timestamp))
        self.selected_track = result.tracks[-1]
        self.message = f"split track {cuboid.track_id}: from here on it is track {self.selected_track}"
        return Change.LABELS | Change.SELECTION

    def trim(self, *, before: bool) -> Change:
        """Cut the selected track's cuboids before (or after) this sweep off."""
        timestamp, cuboid = self._require_selection()
        operation = TrimTrack(cuboid.track_id, start_us=timestamp) if before else TrimTrack(cuboid.track_id, end_us=timestamp)
        return self._apply(operation, f"trimmed track {cuboid.track_id} {'before' if before else 'after'} this sweep")

    def size_to_track(self) -> Change:
        _, cuboid = self._require_selection()
        size = tuple(float(value) for value in cuboid.size)
        return self._apply(SetTrackSize(cuboid.track_id, size), f"track {cuboid.track_id} sized {size[0]:.2f} x {size[1]:.2f} x {size[2]:.2f} m")

    def toggle_keyframe(self) -> Change:
        timestamp, cuboid = self._require_selection()
        marked = cuboid.attributes.get("keyframe") is True
        return self._apply(MarkKeyframe(timestamp, cuboid.track_id, not marked), f"{'un' if marked else ''}marked a keyframe of track {cuboid.track_id}")

    def interpolate(self, mode: str) -> Change:
        _, cuboid = self._require_selection()
        return self._apply(InterpolateTrack(cuboid.track_id, mode), f"interpolated track {cuboid.track_id} between its keyframes ({mode})")

    def undo(self) -> Change:
        result = self.session.undo()
        self.message = "undone" if result is not None else "nothing to undo"
        return Change.LABELS | Change.SELECTION

    def redo(self) -> Change:
        result = self.session.redo()
        self.message = "redone" if result is not None else "nothing to redo"
        return Change.LABELS | Change.SELECTION

    def save(self) -> Change:
        path = self.session.save()
        self.message = f"saved {path.name}"
        return Change.VIEW

    # ------------------------------------------------------------------ view

    def cycle_color_mode(self) -> Change:
        self.color_mode = COLOR_MODES[(COLOR_MODES.index(self.color_mode) + 1) % len(COLOR_MODES)]
        self.message = f"points coloured by {self.color_mode.replace('_', '-')}"
        return Change.VIEW | Change.FRAME

    def toggle_help(self) -> Change:
        self.help_visible = not self.help_visible
        return Change.VIEW

    def toggle_camera_points(self) -> Change:
        self.camera_points = not self.camera_points
        self.message = "LiDAR points shown on the camera images" if self.camera_points else "camera images without LiDAR points"
        return Change.SELECTION  # redraws the camera panel

    def focus(self) -> Change:
        if self.selected_cuboid() is None:
            raise ValueError("select a cuboid first (Tab, Q or Ctrl+click)")
        return Change.FOCUS

    # ------------------------------------------------------------------ internals

    def _label_index(self) -> dict[int, int]:
        labels = self.session.labels
        if self._label_index_cache is None or self._label_index_cache[0] is not labels.frames:
            self._label_index_cache = (labels.frames, {frame.timestamp_us: index for index, frame in enumerate(labels.frames)})
        return self._label_index_cache[1]

    def _picture_state(self, selected_track: str | None) -> _PictureState:
        return _PictureState(self.session.labels, self._label_index(), selected_track, self.color_mode, self.camera_points)

    def _pictures_for(self, view: FrameView, state: _PictureState) -> SweepPictures:
        """The pictures of a read sweep in a state, from the cache or drawn now (any thread;
        the cameras side by side on the frames' camera threads)."""
        key = state.key(view.index)
        with self._pictures_lock:
            found = self._pictures.get(key)
            if found is not None and found[0] is state.labels.frames:
                self._pictures.move_to_end(key)
                return found[1]
        label_frame = _label_frame_at(state.labels, state.label_index, view.timestamp_us)
        cuboids = label_frame.cuboids if label_frame is not None else ()

        def overlay(camera: CameraView) -> np.ndarray:
            return drawing.camera_overlay(camera, view, cuboids, selected_track=state.selected_track, points=state.camera_points)

        overlays = self.frames.map_cameras(overlay, view.cameras)
        pictures = SweepPictures(
            point_colors=drawing.point_colors(view, state.color_mode, cuboids),
            cameras={camera.name: image for camera, image in zip(view.cameras, overlays)},
        )
        with self._pictures_lock:
            self._pictures[key] = (state.labels.frames, pictures)
            self._pictures.move_to_end(key)
            while len(self._pictures) > PICTURE_CACHE_SIZE:
                self._pictures.popitem(last=False)
        return pictures

    def _label_timestamp(self) -> int | None:
        frame = self.label_frame()
        return frame.timestamp_us if frame is not None else None

    def sweep_at(self, timestamp_us: int) -> int:
        """Index of the sweep nearest a log-clock time."""
        return sweep_index(self.frames, timestamp_us)

    def _restore_selection(self, timestamp_us: int, track_id: str | None) -> None:
        self.frame_index = self.sweep_at(timestamp_us)
        self.frames.current = self.frame_index
        self.selected_track = track_id


def _in_footprint(cuboid: Cuboid, point_world: np.ndarray) -> bool:
    offset = np.asarray(point_world, dtype=np.float64)[:2] - cuboid.center[:2]
    cos, sin = math.cos(cuboid.yaw), math.sin(cuboid.yaw)
    along, across = offset[0] * cos + offset[1] * sin, -offset[0] * sin + offset[1] * cos
    return abs(along) <= cuboid.size[0] / 2 and abs(across) <= cuboid.size[1] / 2


def _label_frame_at(labels: Labels, label_index: dict[int, int], timestamp_us: int) -> LabelFrame | None:
    """The labels frame at a sweep's time (label_index: frame index by time), else the
    nearest within FRAME_MATCH_US, else None."""
    index = label_index.get(timestamp_us)
    if index is not None:
        return labels.frames[index]
    stamps = labels.timestamps_us
    if len(stamps):
        nearest = int(np.argmin(np.abs(stamps - timestamp_us)))
        if abs(int(stamps[nearest]) - timestamp_us) <= FRAME_MATCH_US:
            return labels.frames[nearest]
    return None


def sweep_index(frames: LogFrames, timestamp_us: int) -> int:
    """Index of the sweep nearest a log-clock time."""
    return int(np.argmin(np.abs(frames.timestamps_us - timestamp_us)))


def frame_at_time(frames: LogFrames, timestamp_us: int) -> FrameView:
    """The prepared sweep nearest a log-clock time (for the session's box fitting)."""
    view = frames.frame(sweep_index(frames, timestamp_us))
    if view is None:
        raise ValueError(f"the sweep at {timestamp_us} us lies outside the ego poses")
    return view


def _track_sort_key(track_id: str) -> tuple[int, str]:
    return (int(track_id), "") if track_id.isdigit() else (1 << 62, track_id)


def _moves() -> dict[str, Action]:
    actions = {}
    for name, forward, left, up, words in (
        ("forward", 1, 0, 0, "forward"), ("back", -1, 0, 0, "back"), ("left", 0, 1, 0, "left"), ("right", 0, -1, 0, "right"),
        ("up", 0, 0, 1, "up"), ("down", 0, 0, -1, "down"),
    ):
        for prefix, scale in (("", 1.0), ("far_", BIG_STEP)):
            step = STEP_M * scale
            actions[f"move_{prefix}{name}"] = Action(
                f"Move the box {step:g} m {words}", lambda c, f=forward, l=left, u=up, s=step: c.move(f * s, l * s, u * s)
            )
    for name, sign in (("left", 1), ("right", -1)):
        for prefix, scale in (("", 1.0), ("far_", BIG_STEP)):
            angle = TURN_RAD * scale
            actions[f"turn_{prefix}{name}"] = Action(f"Turn the box {math.degrees(angle):g} deg {name}", lambda c, a=sign * angle: c.rotate(a))
    for name, column in (("length", 0), ("width", 1), ("height", 2)):
        for sign, verb in ((1, "grow"), (-1, "shrink")):
            change = [0.0, 0.0, 0.0]
            change[column] = sign * STEP_M / 2
            actions[f"{verb}_{name}"] = Action(f"{verb.capitalize()} the box's {name} by {STEP_M / 2:g} m", lambda c, d=tuple(change): c.resize(*d))
    return actions


ACTIONS: dict[str, Action] = {
    "next_frame": Action("Next sweep", lambda c: c.step_frames(1)),
    "previous_frame": Action("Previous sweep", lambda c: c.step_frames(-1)),
    "forward_10": Action("10 sweeps on", lambda c: c.step_frames(10)),
    "back_10": Action("10 sweeps back", lambda c: c.step_frames(-10)),
    "first_frame": Action("First sweep", lambda c: c.go_to_frame(0)),
    "last_frame": Action("Last sweep", lambda c: c.go_to_frame(len(c.frames) - 1)),
    "play": Action("Play / pause", lambda c: c.toggle_play()),
    "next_in_queue": Action("Next track in the review queue", lambda c: c.next_queue_item()),
    "select_next": Action("Select the next cuboid", lambda c: c.cycle_selection(1)),
    "select_previous": Action("Select the previous cuboid", lambda c: c.cycle_selection(-1)),
    "deselect": Action("Select nothing", lambda c: c.select(None)),
    **_moves(),
    "fit": Action("Fit the box to its points", lambda c: c.fit()),
    "create": Action("New car box 10 m ahead (Ctrl+Shift+click: at the point)", lambda c: c.create_at_focus()),
    "delete_cuboid": Action("Delete this cuboid", lambda c: c.delete_cuboid()),
    "delete_track": Action("Delete the whole track", lambda c: c.delete_track()),
    **{f"label_{label}": Action(f"Make the track a {label}", lambda c, name=label: c.relabel(name)) for label in CLASSES},
    "accept": Action("Accept the track", lambda c: c.accept_track()),
    "reject": Action("Reject the track (remove it)", lambda c: c.reject_track()),
    "merge": Action("Merge tracks (mark, then merge)", lambda c: c.merge()),
    "split": Action("Split the track here", lambda c: c.split()),
    "trim_before": Action("Trim the track: drop its boxes before this sweep", lambda c: c.trim(before=True)),
    "trim_after": Action("Trim the track: drop its boxes after this sweep", lambda c: c.trim(before=False)),
    "size_to_track": Action("Give the whole track this box's size", lambda c: c.size_to_track()),
    "keyframe": Action("Mark / unmark a keyframe", lambda c: c.toggle_keyframe()),
    "interpolate": Action("Interpolate the track between keyframes", lambda c: c.interpolate("path")),
    "interpolate_correction": Action("Interpolate keyframe corrections", lambda c: c.interpolate("correction")),
    "undo": Action("Undo", lambda c: c.undo()),
    "redo": Action("Redo", lambda c: c.redo()),
    "save": Action("Save the labels", lambda c: c.save()),
    "colors": Action("Colour points by height / intensity / box", lambda c: c.cycle_color_mode()),
    "camera_points": Action("Show / hide LiDAR points on the camera images", lambda c: c.toggle_camera_points()),
    "focus": Action("Centre the 3D view on the selected box", lambda c: c.focus()),
    "help": Action("Show / hide this help", lambda c: c.toggle_help()),
}

# Key -> action, in the order the help panel lists them. Keys are Open3D key names with
# "shift+" / "ctrl+" prefixes.
BINDINGS: tuple[tuple[str, str], ...] = (
    ("PERIOD", "next_frame"), ("COMMA", "previous_frame"), ("PAGE_DOWN", "forward_10"), ("PAGE_UP", "back_10"),
    ("HOME", "first_frame"), ("END", "last_frame"), ("SPACE", "play"), ("Q", "next_in_queue"),
    ("TAB", "select_next"), ("shift+TAB", "select_previous"), ("ESCAPE", "deselect"),
    ("W", "move_forward"), ("S", "move_back"), ("A", "move_left"), ("D", "move_right"), ("R", "move_up"), ("F", "move_down"),
    ("shift+W", "move_far_forward"), ("shift+S", "move_far_back"), ("shift+A", "move_far_left"), ("shift+D", "move_far_right"),
    ("shift+R", "move_far_up"), ("shift+F", "move_far_down"),
    ("Z", "turn_left"), ("X", "turn_right"), ("shift+Z", "turn_far_left"), ("shift+X", "turn_far_right"),
    ("I", "grow_length"), ("K", "shrink_length"), ("L", "grow_width"), ("J", "shrink_width"), ("U", "grow_height"), ("O", "shrink_height"),
    ("G", "fit"), ("N", "create"), ("DELETE", "delete_cuboid"), ("shift+DELETE", "delete_track"),
    ("ONE", "label_car"), ("TWO", "label_truck"), ("THREE", "label_pedestrian"), ("FOUR", "label_cyclist"), ("FIVE", "label_other"),
    ("ENTER", "accept"), ("BACKSPACE", "reject"), ("M", "merge"), ("T", "split"), ("LEFT_BRACKET", "trim_before"), ("RIGHT_BRACKET", "trim_after"), ("E", "size_to_track"),
    ("B", "keyframe"), ("C", "interpolate"), ("shift+C", "interpolate_correction"),
    ("ctrl+Z", "undo"), ("ctrl+Y", "redo"), ("ctrl+shift+Z", "redo"), ("ctrl+S", "save"), ("V", "colors"), ("P", "camera_points"), ("Y", "focus"), ("H", "help"),
)

KEY_NAMES = {"PERIOD": ".", "COMMA": ",", "LEFT_BRACKET": "[", "RIGHT_BRACKET": "]", "ONE": "1", "TWO": "2", "THREE": "3", "FOUR": "4", "FIVE": "5"}


def help_rows() -> list[tuple[str, str]]:
    """The help panel's rows: (key as shown, what it does), every binding and the mouse."""
    rows = []
    for key, action in BINDINGS:
        *modifiers, name = key.split("+")
        shown = "+".join([modifier.capitalize() for modifier in modifiers] + [KEY_NAMES.get(name, name.replace("_", " ").title())])
        rows.append((shown, ACTIONS[action].description))
    rows.append(("Ctrl+click", "Select the cuboid under the mouse"))
    rows.append(("Ctrl+drag", "Move the selected cuboid along the ground"))
    rows.append(("Ctrl+Shift+click", "New car box at the point"))
    rows.append(("Mouse drag / wheel", "Turn / zoom the 3D view"))
    return rows


def help_text() -> str:
    """The help panel as plain text, one binding per line."""
    return "\n".join(f"{key:<18}{description}" for key, description in help_rows())
