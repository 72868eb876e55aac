"""The correction viewer: an Open3D GUI window on top of `ViewerController`.

    +--------------------------------------------+-------------------------+
    |                                            | camera images with the  |
    |  3D scene: points (height / intensity /    | sweep and the cuboids   |
    |  in-box colours), cuboids in class colours | projected into them     |
    |  with heading marks and track ids, the     +-------------------------+
    |  selected one white, radar detections with | selected cuboid         |
    |  velocity arrows, the ego                  | track timeline          |
    |                                            | review queue            |
    |                                            | keyboard help           |
    +--------------------------------------------+-------------------------+
    | play  < >  [frame slider]  next in queue  save                       |
    | status: sweep, reviewed / total tracks, saved?, annotator, message   |
    +----------------------------------------------------------------------+

Every key, button and menu item ends in `ViewerApp.perform(action)`, which runs the
controller's action and redraws what it changed; `press(key)` is the keyboard's way in
(tests press keys the same way). The event loop is driven with `run_one_tick`, which
also lets tests and benchmarks step the window by hand.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import open3d as o3d
import open3d.visualization.gui as gui
import open3d.visualization.rendering as rendering

from avlabel.structs import box_corners
from avlabel.viewer import drawing
from avlabel.viewer.controller import ACTIONS, BINDINGS, Change, ViewerController, help_rows
from avlabel.viewer.frames import MEMORY_BUDGET

logger = logging.getLogger(__name__)

PANEL_WIDTH = 500  # camera images 480 px wide, plus margins
BAR_HEIGHT = 64
PLAY_PERIOD_S = 0.1  # 10 Hz, the usual LiDAR rate
# Filament skips drawing a frame while the renderer is still busy with an earlier one, and
# Open3D does not try again, so a change could stay off the screen: the window is drawn
# again SETTLE_S after a change that came within RECENT_S of the previous one or of a move
# of the slider (when the renderer may still have been busy, with the previous sweep or
# with the frames the mouse motion asked for), and SAFETY_SETTLE_S after every change (for
# redraws the viewer does not see, such as the mouse over the panels). See ViewerApp.tick.
SETTLE_S = 0.15
RECENT_S = 0.25
SAFETY_SETTLE_S = 1.0
# While the slider is dragged faster than sweeps are read, a read of a sweep the slider
# has passed is dropped for the newest one, unless the 3D view has not moved for this long
# (then it finishes and is shown, so the view keeps following a long drag). Each such
# redraw costs a software renderer as much as two reads, and one still being rendered
# when the slider stops holds up the sweep it stopped at: 0.25 s left one in flight at the
# end of most short drags (docs/viewer.md).
PROGRESS_S = 0.5
REST_S = 0.25  # the reads around the sweep the slider is at start once it has rested this long
# The status bar follows the idle reader's fill of the memory ("in memory 87/200 sweeps")
# at most this often, and only while the idle reader may read (nothing asked for a sweep
# lately; otherwise the switches redraw the status): each redraw of the panels costs a
# software renderer ~90 ms of CPU, which a switch right after it would wait for.
MEMORY_STATUS_S = 2.0
EGO_SIZE = (4.6, 1.9, 1.6)
STEP_ACTIONS = {"next_frame": 1, "previous_frame": -1, "forward_10": 10, "back_10": -10}  # sweeps each moves
POINT_HEADROOM = 1.1  # point buffers hold this many times the first sweep's points (sweeps vary a little)
# What the mouse does with Ctrl held: select, and with Shift too: create.
_KEY_NAMES = {int(getattr(gui.KeyName, name)): name for name in dir(gui.KeyName) if name.isupper()}
_SHIFT_KEYS = {int(gui.KeyName.LEFT_SHIFT), int(gui.KeyName.RIGHT_SHIFT)}
_CONTROL_KEYS = {int(gui.KeyName.LEFT_CONTROL), int(gui.KeyName.RIGHT_CONTROL)}


def _lineset(vertices: np.ndarray, lines: np.ndarray, colors: np.ndarray | tuple[float, float, float]) -> o3d.geometry.LineSet:
    lineset = o3d.geometry.LineSet(o3d.utility.Vector3dVector(np.asarray(vertices, np.float64)), o3d.utility.Vector2iVector(np.asarray(lines, np.int32)))
    colors = np.asarray(colors, np.float64)
    lineset.colors = o3d.utility.Vector3dVector(np.tile(colors, (len(lines), 1)) if colors.ndim == 1 else colors)
    return lineset


class PointBuffers:
    """Point positions and colours handed to Open3D without a copy, in memory that lives as
    long as the window.

    Open3D's fast path (`Scene.update_geometry` on a tensor cloud) gives Filament a pointer
    to the tensors' memory, and Filament's render thread copies it later, after the call has
    returned; with a software renderer that falls behind, a sweep or two later. Memory freed
    before then crashed the viewer when switching sweeps back to back (a segfault in
    FEngine::loop's memcpy). So the buffers are allocated once: a ring of `SLOTS` clouds of
    fixed capacity, filled in turn. Open3D draws all `capacity` points (updating a cloud with
    fewer crashed Open3D 0.20 in a trial), so the unused tail repeats the first point.
    """

    SLOTS = 4  # more than the sweeps the renderer falls behind: the main thread waits for it before that

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._positions = [np.zeros((capacity, 3), np.float32) for _ in range(self.SLOTS)]
        self._colors = [np.zeros((capacity, 3), np.float32) for _ in range(self.SLOTS)]
        self._clouds = []
        for positions, colors in zip(self._positions, self._colors):
            cloud = o3d.t.geometry.PointCloud()
            cloud.point.positions = o3d.core.Tensor.from_numpy(positions)  # shares the memory
            cloud.point.colors = o3d.core.Tensor.from_numpy(colors)
            self._clouds.append(cloud)
        self._next = 0

    def fill(self, positions: np.ndarray, colors: np.ndarray) -> o3d.t.geometry.PointCloud:
        """The next slot's cloud holding these points (N, 3) and colours (N, 3), N <= capacity."""
        count = len(positions)
        if count > self.capacity:
            raise ValueError(f"{count} points do not fit {self.capacity}")
        slot = self._next
        self._next = (slot + 1) % self.SLOTS
        slot_positions, slot_colors = self._positions[slot], self._colors[slot]
        slot_positions[:count], slot_colors[:count] = positions, colors
        slot_positions[count:] = positions[0] if count else 0.0
        slot_colors[count:] = colors[0] if count else 0.0
        return self._clouds[slot]


def _material(shader: str, *, point_size: float = 1.0, line_width: float = 1.0) -> rendering.MaterialRecord:
    material = rendering.MaterialRecord()
    material.shader = shader
    material.point_size = point_size
    material.line_width = line_width
    return material


class ViewerApp:
    """One viewer window. Build it after `gui.Application.instance.initialize()` (done by
    `run_viewer`, or by the caller when stepping by hand)."""

    def __init__(self, controller: ViewerController, *, width: int = 1600, height: int = 1000) -> None:
        self.controller = controller
        self.application = gui.Application.instance
        self.window = self.application.create_window(f"avlabel review - {controller.frames.log.name} - {controller.session.annotator}", width, height)
        self.window.set_on_layout(self._layout)
        self.window.set_on_key(self._on_key)
        self.window.set_on_close(self._on_close)
        self.open = True
        self._shift = False
        self._control = False
        self._points: PointBuffers | None = None
        self._retired_points: list[PointBuffers] = []
        self._labels_3d: list[gui.Label3D] = []
        self._last_play = time.monotonic()
        self._camera_follow: np.ndarray | None = None
        # Open3D's render thread copies geometry and images after the call that hands them
        # over returns: everything given to it stays referenced here until replaced.
        self._handed_over: dict[str, object] = {}
        self._settle_at: list[float] = []
        self._last_refresh = -math.inf
        self._last_request = -math.inf  # when the slider (or a held step key) last asked for a sweep
        self._wanted: int | None = None  # the sweep the slider asked for, shown once read
        self._passed: list[int] = []  # sweeps the slider asked for before it, since the last shown
        self._read_ahead_at: float | None = None  # when the slider has rested long enough to read around it
        self._mouse_taken = False  # a press in the 3D view the viewer handles, until let go
        self._status_checked = time.monotonic()
        controller.defer_read_ahead = True  # reads ahead start once the window has the sweep (refresh)
        self._build()
        self.refresh(Change.FRAME | Change.LABELS | Change.SELECTION | Change.VIEW)
        self._reset_camera()
        self.scene.force_redraw()
        self.controller.read_ahead(now=True)  # the first sweep's neighbours and the first queue item

    # ------------------------------------------------------------------ widgets

    def _build(self) -> None:
        theme = self.window.theme
        spacing = int(round(0.3 * theme.font_size))
        self.scene = gui.SceneWidget()
        self.scene.scene = rendering.Open3DScene(self.window.renderer)
        self.scene.scene.set_background([0.08, 0.08, 0.10, 1.0])
        # Unlit points and lines need no post-processing (tone mapping), anti-aliasing,
        # shadows or ambient occlusion; a software renderer (lavapipe under Xvfb) is spared them.
        view = self.scene.scene.view
        view.set_post_processing(False)
        view.set_antialiasing(False)
        view.set_shadowing(False)
        view.set_ambient_occlusion(False)
        self.scene.scene.show_axes(False)
        # The 3D view is rendered only when something in it changed (force_redraw) or the
        # mouse moves it, not on every redraw of the panels (hover, status, camera images):
        # with a software renderer the 3D view is half the cost of a window redraw.
        self.scene.enable_scene_caching(True)
        self.scene.set_on_mouse(self._on_mouse)
        self.window.add_child(self.scene)

        self.panel = gui.ScrollableVert(spacing, gui.Margins(spacing, spacing, spacing, spacing))
        self.camera_widgets: dict[str, gui.ImageWidget] = {}
        for name in self.controller.frames.cameras:
            widget = gui.ImageWidget(o3d.geometry.Image(np.zeros((8, 8, 3), np.uint8)))
            self.camera_widgets[name] = widget
            self.panel.add_child(widget)
        self.panel.add_child(gui.Label("Selected"))
        self.selection_label = gui.Label("")
        self.panel.add_child(self.selection_label)
        self.panel.add_child(gui.Label("Track timeline (grey machine, green accepted, blue corrected, yellow interpolated; ticks: keyframes)"))
        self.timeline_widget = gui.ImageWidget(o3d.geometry.Image(np.zeros((8, 8, 3), np.uint8)))
        self.panel.add_child(self.timeline_widget)
        self.panel.add_child(gui.Label("Review queue (worst first; click to go there)"))
        self.queue_list = gui.ListView()
        self.queue_list.set_max_visible_items(8)
        self.queue_list.set_on_selection_changed(self._on_queue_clicked)
        self.panel.add_child(self.queue_list)
        self.help_section = gui.CollapsableVert("Keyboard (H hides)", spacing, gui.Margins(spacing, 0, 0, 0))
        grid = gui.VGrid(2, spacing)
        for key, description in help_rows():
            grid.add_child(gui.Label(key))
            grid.add_child(gui.Label(description))
        self.help_section.add_child(grid)
        self.panel.add_child(self.help_section)
        self.window.add_child(self.panel)

        self.bar = gui.Vert(spacing, gui.Margins(spacing, spacing, spacing, spacing))
        row = gui.Horiz(spacing)
        for text, action in (("Play/Pause", "play"), ("<", "previous_frame"), (">", "next_frame")):
            button = gui.Button(text)
            button.set_on_clicked(lambda name=action: self.perform(name))
            row.add_child(button)
        self.slider = gui.Slider(gui.Slider.INT)
        self.slider.set_limits(0, max(len(self.controller.frames) - 1, 1))
        self.slider.set_on_value_changed(self._on_slider)
        row.add_child(self.slider)
        for text, action in (("Next in queue (Q)", "next_in_queue"), ("Undo", "undo"), ("Redo", "redo"), ("Save (Ctrl+S)", "save")):
            button = gui.Button(text)
            button.set_on_clicked(lambda name=action: self.perform(name))
            row.add_child(button)
        self.bar.add_child(row)
        self.status_label = gui.Label("")
        self.bar.add_child(self.status_label)
        self.window.add_child(self.bar)

    def _layout(self, context: gui.LayoutContext) -> None:
        frame = self.window.content_rect
        panel_width = min(PANEL_WIDTH, frame.width // 2)
        self.scene.frame = gui.Rect(frame.x, frame.y, frame.width - panel_width, frame.height - BAR_HEIGHT)
        self.panel.frame = gui.Rect(frame.get_right() - panel_width, frame.y, panel_width, frame.height - BAR_HEIGHT)
        self.bar.frame = gui.Rect(frame.x, frame.get_bottom() - BAR_HEIGHT, frame.width, BAR_HEIGHT)

    # ------------------------------------------------------------------ actions

    def perform(self, name: str) -> Change:
        """Run a controller action by name and redraw what it changed (keys, buttons, tests)."""
        change = self.controller.perform(name)
        if Change.FRAME in change:
            self._wanted = None  # the keys moved on from where the slider was
            self._passed.clear()
            self._read_ahead_at = None
        self.refresh(change | Change.VIEW)
        return change

    def press(self, key: str, *, repeat: bool = False) -> Change:
        """What a key press does: `key` as in BINDINGS ("W", "shift+W", "ctrl+Z").

        repeat: the key is held down (the keyboard's auto-repeat). A held step key moves on
        from where the previous repeat asked to go, as the slider does (request_frame): it
        does not wait for sweeps to be read, so the repeats do not queue up behind reads
        and draws, and the view does not run on after the key is let go.
        """
        action = dict(BINDINGS).get(key)
        if action is None:
            return Change.NONE
        step = STEP_ACTIONS.get(action)
        if repeat and step is not None:
            self.request_frame((self._wanted if self._wanted is not None else self.controller.frame_index) + step)
            return Change.FRAME
        return self.perform(action)

    def go_to_frame(self, index: int) -> Change:
        self._wanted = None
        self._passed.clear()
        self._read_ahead_at = None
        change = self.controller.go_to_frame(index)
        self.refresh(change | Change.VIEW)
        return change

    def request_frame(self, index: int) -> None:
        """Go to sweep `index` as soon as it is read, without waiting for the read: what
        the slider does. The read runs in the background (the window keeps drawing and
        taking events meanwhile); a later request replaces this one, so dragging the slider
        reads and shows where the slider is, not every sweep it passed on the way."""
        index = int(np.clip(index, 0, len(self.controller.frames) - 1))
        self._last_request = time.monotonic()
        previous = self._wanted if self._wanted is not None else self.controller.frame_index
        if index == self.controller.frame_index:
            self._wanted = None
            self._passed.clear()
            return
        if self._wanted is not None:
            self._passed.append(self._wanted)
        self._wanted = index
        frames = self.controller.frames
        if not frames.reading_ahead or frames.ready(index):
            self._show_wanted()
            return
        onward = 1 if index >= previous else -1
        plan = [index, index + onward]
        current, reading = self.controller.frame_index, frames.reading
        if reading is not None and min(current, index) < reading < max(current, index) and time.monotonic() - self._last_refresh > PROGRESS_S:
            plan.append(reading)  # the view has not moved for a while: let it finish and show it
        self.controller.read_ahead_at(plan)

    def _show_wanted(self) -> None:
        """Show the requested sweep once its read is done (called every turn of the loop);
        until then, the sweep nearest it among those the slider passed that are read, so
        the 3D view follows a drag the reads cannot keep up with."""
        if self._wanted is None:
            return
        frames = self.controller.frames
        if frames.reading_ahead and not frames.ready(self._wanted):
            if not frames.planned(self._wanted):  # the plan changed under it: read it again
                self.controller.read_ahead_at([self._wanted])
            current, wanted = self.controller.frame_index, self._wanted
            passed = [index for index in self._passed if min(current, wanted) < index < max(current, wanted) and frames.ready(index)]
            if passed and time.monotonic() - self._last_refresh >= PROGRESS_S:  # a full redraw at most this often
                self.refresh(self.controller.go_to_frame(min(passed, key=lambda index: abs(wanted - index))) | Change.VIEW)
            return
        index, self._wanted = self._wanted, None
        self._passed.clear()
        # no reads around it yet: while the slider moves, they would only hold up the next one
        change = self.controller.go_to_frame(index, read_ahead=False)
        self._read_ahead_at = time.monotonic() + REST_S
        self.refresh(change | Change.VIEW)

    def _on_key(self, event: gui.KeyEvent) -> bool:
        code = int(event.key)
        if code in _SHIFT_KEYS or code in _CONTROL_KEYS:
            pressed = event.type == gui.KeyEvent.Type.DOWN
            if code in _SHIFT_KEYS:
                self._shift = pressed
            else:
                self._control = pressed
            return False
        if event.type != gui.KeyEvent.Type.DOWN:
            return False
        name = _KEY_NAMES.get(code)
        if name is None:
            return False
        key = ("ctrl+" if self._control else "") + ("shift+" if self._shift else "") + name
        if key not in dict(BINDINGS):
            return False
        self.press(key, repeat=bool(event.is_repeat))
        return True

    def _on_mouse(self, event: gui.MouseEvent) -> gui.Widget.EventCallbackResult:
        """Ctrl+click selects, Ctrl+Shift+click creates, Ctrl+drag on the selected cuboid
        moves it along the ground (one edit when let go); anything else turns the view.
        What the viewer handles it consumes, press to release, so the view does not also
        turn (HANDLED would let the scene widget handle the event too)."""
        kind = gui.MouseEvent.Type
        consumed = gui.Widget.EventCallbackResult.CONSUMED
        if self._mouse_taken and not self.controller.dragging:
            if event.type == kind.BUTTON_UP:
                self._mouse_taken = False
            return consumed
        if self.controller.dragging:
            point = self.ground_point(event.x - self.scene.frame.x, event.y - self.scene.frame.y)
            if event.type == kind.DRAG and point is not None:
                self.controller.drag_to(point)
                self._draw_cuboids()
                self.status_label.text = self.controller.status()
                self.scene.force_redraw()
                self.window.post_redraw()
            elif event.type == kind.BUTTON_UP:
                if point is not None:
                    self.controller.drag_to(point)
                self._mouse_taken = False
                self.refresh(self._guarded(self.controller.end_drag) | Change.VIEW)
            return consumed
        if event.type != kind.BUTTON_DOWN or not event.is_modifier_down(gui.KeyModifier.CTRL):
            return gui.Widget.EventCallbackResult.IGNORED
        self._mouse_taken = True  # until the button is let go
        point = self.ground_point(event.x - self.scene.frame.x, event.y - self.scene.frame.y)
        if point is None:
            return consumed
        if event.is_modifier_down(gui.KeyModifier.SHIFT):
            change = self._guarded(lambda: self.controller.create_at(point))
        else:
            change = self._guarded(lambda: self.controller.select_at(point))
            self.controller.begin_drag(point)  # when the press is on the (now) selected cuboid
        self.refresh(change | Change.VIEW)
        return consumed

    def _guarded(self, call) -> Change:  # type: ignore[no-untyped-def]
        try:
            return call()
        except ValueError as error:
            self.controller.message = f"cannot: {error}"
            return Change.NONE

    def ground_point(self, x: float, y: float) -> np.ndarray | None:
        """World point where the view ray through widget pixel (x, y) meets the ego's ground."""
        frame = self.controller.frame
        if frame is None:
            return None
        camera = self.scene.scene.camera
        width, height = self.scene.frame.width, self.scene.frame.height
        near = np.asarray(camera.unproject(x, y, 0.0, width, height), np.float64)
        farther = np.asarray(camera.unproject(x, y, 0.5, width, height), np.float64)  # depth 1 is at infinity
        direction = farther - near
        if not np.isfinite(direction).all() or abs(direction[2]) < 1e-9:
            return None
        along = (frame.ground_z - near[2]) / direction[2]
        return near + along * direction if along > 0 else None

    def _on_slider(self, value: float) -> None:
        self.request_frame(int(value))

    def _on_queue_clicked(self, text: str, double_click: bool) -> None:
        track_id = text.split()[1] if text.startswith("track ") else None
        item = next((item for item in self.controller.queue() if item.track_id == track_id), None)
        if item is None:
            return
        change = self.controller.go_to_frame(self.controller.sweep_at(item.timestamp_us), read_ahead=False)
        change |= self._guarded(lambda: self.controller.select(item.track_id))
        self.controller.read_ahead()  # from the clicked item: the one after it is next
        self.refresh(change | Change.VIEW | Change.FOCUS)

    def _on_close(self) -> bool:
        if self.controller.session.dirty:
            self.controller.save()
            logger.info("saved %s on close", self.controller.session.labels_path)
        self.open = False
        return True

    # ------------------------------------------------------------------ drawing

    def refresh(self, change: Change) -> None:
        """Redraw what `change` says changed."""
        frame = self.controller.frame
        pictures = self.controller.pictures() if change & (Change.FRAME | Change.LABELS | Change.SELECTION) else None
        if Change.FRAME in change:
            self._follow_ego(frame)
            self._draw_points(frame, pictures)
            self._draw_radar(frame)
            self._draw_ego(frame)
        if change & (Change.FRAME | Change.LABELS | Change.SELECTION):
            self._draw_cuboids()
            self._draw_cameras(pictures)
            strip = drawing.timeline(
                self.controller.session.labels, self.controller.selected_track, self.controller.frames.timestamps_us, self.controller.frame_index, width=PANEL_WIDTH - 24
            )
            self.timeline_widget.update_image(self._keep("timeline", o3d.geometry.Image(np.ascontiguousarray(strip))))
            self.selection_label.text = self.controller.selection_text()
        if Change.LABELS in change and Change.FRAME not in change and self.controller.color_mode == "in_box":
            self._draw_points(frame, pictures)  # the in-box colours follow the edited boxes
        if change & (Change.LABELS | Change.VIEW):
            self._fill_queue()
        if Change.FOCUS in change:
            self._focus_on_selection()
        self.help_section.visible = self.controller.help_visible
        self.slider.int_value = self.controller.frame_index if self._wanted is None else self._wanted
        self.status_label.text = self.controller.status()
        if change & (Change.FRAME | Change.LABELS | Change.SELECTION | Change.FOCUS):
            self.scene.force_redraw()
        self.window.set_needs_layout()
        self.window.post_redraw()
        if self._wanted is None:  # the new sweep is handed over: now the reads ahead, not before
            self.controller.read_ahead_if_due()
        now = time.monotonic()
        recent = now - max(self._last_refresh, self._last_request) < RECENT_S
        self._settle_at = ([now + SETTLE_S] if recent else []) + [now + SAFETY_SETTLE_S]
        self._last_refresh = now

    def _draw_points(self, frame, pictures) -> None:  # type: ignore[no-untyped-def]
        scene = self.scene.scene
        if frame is None or pictures is None:
            positions, colors = np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32)
        else:
            positions, colors = frame.points_world, pictures.point_colors
        if self._points is None or len(positions) > self._points.capacity:
            # room for more, so most sweeps update the buffers in place instead of re-adding
            if self._points is not None:
                self._retired_points.append(self._points)  # Open3D may still read them
            self._points = PointBuffers(max(int(len(positions) * POINT_HEADROOM), 1024))
            if scene.has_geometry("points"):
                scene.remove_geometry("points")
            scene.add_geometry("points", self._points.fill(positions, colors), _material("defaultUnlit", point_size=2.0))
            return
        scene.scene.update_geometry("points", self._points.fill(positions, colors), rendering.Scene.UPDATE_POINTS_FLAG | rendering.Scene.UPDATE_COLORS_FLAG)

    def _keep(self, name: str, value: object) -> object:
        """Hold `value` (and so its memory) until the next one of that name."""
        self._handed_over[name] = value
        return value

    def _draw_cuboids(self) -> None:
        scene = self.scene.scene
        for name in ("cuboids", "selected"):
            if scene.has_geometry(name):
                scene.remove_geometry(name)
        for label in self._labels_3d:
            self.scene.remove_3d_label(label)
        self._labels_3d = []
        cuboids = self.controller.shown_cuboids()
        selected = next((cuboid for cuboid in cuboids if cuboid.track_id == self.controller.selected_track), None)
        others = [cuboid for cuboid in cuboids if selected is None or cuboid.track_id != selected.track_id]
        if others:
            vertices, lines, colors = drawing.cuboid_lines(others)
            scene.add_geometry("cuboids", _lineset(vertices, lines, colors), _material("unlitLine", line_width=2.0))
        if selected is not None:
            vertices, lines, _ = drawing.cuboid_lines([selected])
            scene.add_geometry("selected", _lineset(vertices, lines, (1.0, 1.0, 1.0)), _material("unlitLine", line_width=5.0))
        for cuboid in cuboids:
            top = cuboid.center + np.array([0.0, 0.0, cuboid.size[2] / 2 + 1.0])  # clear of the box's lines
            label = self.scene.add_3d_label(top, cuboid.track_id)
            color = (1.0, 1.0, 1.0) if selected is not None and cuboid.track_id == selected.track_id else tuple(c / 255 for c in drawing.class_color(cuboid.label))
            label.color = gui.Color(*color)
            self._labels_3d.append(label)

    def _draw_radar(self, frame) -> None:  # type: ignore[no-untyped-def]
        scene = self.scene.scene
        for name in ("radar", "radar_arrows"):
            if scene.has_geometry(name):
                scene.remove_geometry(name)
        if frame is None or not len(frame.radar_world):
            return
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(frame.radar_world.astype(np.float64)))
        cloud.paint_uniform_color(drawing.RADAR_COLOR)
        scene.add_geometry("radar", cloud, _material("defaultUnlit", point_size=7.0))
        vertices, lines = drawing.radar_arrows(frame)
        scene.add_geometry("radar_arrows", _lineset(vertices, lines, drawing.RADAR_COLOR), _material("unlitLine", line_width=2.0))

    def _draw_ego(self, frame) -> None:  # type: ignore[no-untyped-def]
        scene = self.scene.scene
        if scene.has_geometry("ego"):
            scene.remove_geometry("ego")
        if frame is None:
            return
        pose = frame.world_from_ego
        yaw = math.atan2(pose[1, 0], pose[0, 0])
        box = np.array([pose[0, 3], pose[1, 3], pose[2, 3] + EGO_SIZE[2] / 2, *EGO_SIZE, yaw])
        corners = box_corners(box)
        vertices = np.vstack([corners, box[:3], box[:3] + [math.cos(yaw) * EGO_SIZE[0] / 2, math.sin(yaw) * EGO_SIZE[0] / 2, 0]])
        scene.add_geometry("ego", _lineset(vertices, drawing.EDGES, (0.35, 0.35, 0.4)), _material("unlitLine", line_width=1.0))

    def _draw_cameras(self, pictures) -> None:  # type: ignore[no-untyped-def]
        if pictures is None:
            return
        for name, widget in self.camera_widgets.items():
            image = pictures.cameras.get(name)
            if image is not None:
                widget.update_image(self._keep(f"camera {name}", o3d.geometry.Image(np.ascontiguousarray(image))))

    def _fill_queue(self) -> None:
        items = []
        for item in self.controller.queue()[:200]:
            reasons = ", ".join(issue.reason.replace("_", " ") for issue in item.issues) or "check and accept"
            items.append(f"track {item.track_id}  {item.label:<10} {item.priority:5.2f}  {reasons}")
        self.queue_list.set_items(items or ["(every track reviewed)"])

    # ------------------------------------------------------------------ camera

    def _reset_camera(self) -> None:
        frame = self.controller.frame
        center = frame.world_from_ego[:3, 3] if frame is not None else np.zeros(3)
        behind = frame.world_from_ego[:3, :3] @ np.array([-18.0, 0.0, 14.0]) if frame is not None else np.array([-18.0, 0.0, 14.0])
        look = center + (frame.world_from_ego[:3, :3] @ np.array([12.0, 0.0, 0.0]) if frame is not None else 0.0)
        bounds = o3d.geometry.AxisAlignedBoundingBox(center - 60.0, center + 60.0)
        self.scene.setup_camera(60.0, bounds, look)
        self.scene.look_at(look, center + behind, np.array([0.0, 0.0, 1.0]))
        self._camera_follow = center.copy()

    def _focus_on_selection(self) -> None:
        """Move the view (same direction, same distance) so the selected box is in its middle."""
        cuboid = self.controller.selected_cuboid()
        if cuboid is None:
            return
        center = np.asarray(self.scene.center_of_rotation, np.float64)
        self._shift_view(cuboid.center - center)

    def _shift_view(self, delta: np.ndarray) -> None:
        model = np.asarray(self.scene.scene.camera.get_model_matrix())
        eye, up, forward = model[:3, 3], model[:3, 1], -model[:3, 2]
        center = np.asarray(self.scene.center_of_rotation, np.float64)
        distance = max(float(np.dot(center - eye, forward)), 1.0)
        target = eye + forward * distance
        self.scene.look_at(target + delta, eye + delta, up)
        self.scene.center_of_rotation = center + delta

    def _follow_ego(self, frame) -> None:  # type: ignore[no-untyped-def]
        """Keep the view where it was relative to the ego as the ego drives on."""
        if frame is None or self._camera_follow is None:
            return
        delta = frame.world_from_ego[:3, 3] - self._camera_follow
        self._camera_follow = frame.world_from_ego[:3, 3].copy()
        if np.any(delta):
            self._shift_view(delta)

    # ------------------------------------------------------------------ running

    def tick(self) -> bool:
        """One turn of the event loop, plus playback; False once the window is closed.

        A change is drawn again a little later (SETTLE_S, SAFETY_SETTLE_S): Filament skips
        drawing a frame while the renderer is still busy with an earlier one (with a software
        renderer, a sweep switched to right after another one), and nothing would draw the
        change until the next event. The 3D view is only rendered again if that skipped it.
        """
        if self.controller.playing and time.monotonic() - self._last_play >= PLAY_PERIOD_S:
            self._last_play = time.monotonic()
            self.refresh(self.controller.advance_playback() | Change.VIEW)
        running = self.application.run_one_tick() and self.open
        self._show_wanted()
        now = time.monotonic()
        if self._read_ahead_at is not None and self._wanted is None and now >= self._read_ahead_at:
            self._read_ahead_at = None
            self.controller.read_ahead(now=True)  # the slider has come to rest
        if self._settle_at and now >= self._settle_at[0]:
            while self._settle_at and now >= self._settle_at[0]:
                self._settle_at.pop(0)
            self.window.post_redraw()
        if now - self._status_checked >= MEMORY_STATUS_S and self._wanted is None and self.controller.frames.idle:
            self._status_checked = now
            status = self.controller.status()  # the idle reader read more of the log meanwhile
            if status != self.status_label.text:
                self.status_label.text = status
                self.window.post_redraw()
        return running

    def pump(self, ticks: int = 3) -> None:
        """Run the event loop a few turns (lets a hand-driven window draw)."""
        for _ in range(ticks):
            self.application.run_one_tick()

    def run(self) -> None:
        while self.tick():
            pass

    def close(self) -> None:
        """Close the window (saving unsaved edits) and let the event loop wind down."""
        if self.open:
            self._on_close()
            self.window.close()
            self.pump(3)

    def screenshot(self, path: str | Path, *, settle_s: float = 0.6, timeout_s: float = 10.0) -> np.ndarray:
        """Save what the window shows (3D view, camera panel, side panel, bar) as a PNG,
        read back from the X display; returns the RGB image. Open3D renders on its own
        thread, so the loop runs until two captures `settle_s` apart agree."""
        from avlabel.viewer.display import capture_screen

        frame = self.window.os_frame
        previous = None
        deadline = time.monotonic() + timeout_s
        self.scene.force_redraw()
        self.window.post_redraw()
        while True:
            started = time.monotonic()
            while time.monotonic() - started < settle_s:
                self.application.run_one_tick()
            image = capture_screen(frame.x, frame.y, frame.width, frame.height)
            if previous is not None and image.any() and np.array_equal(image, previous):
                break
            if time.monotonic() > deadline:
                logger.warning("the window did not settle within %g s; saving the last capture", timeout_s)
                break
            previous = image
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        o3d.io.write_image(str(path), o3d.geometry.Image(np.ascontiguousarray(image)))
        return image

    def render_scene(self, width: int, height: int) -> np.ndarray:
        """The 3D view alone, rendered off screen: (height, width, 3) uint8 RGB."""
        return np.asarray(self.application.render_to_image(self.scene.scene, width, height))


def run_viewer(
    log_path: str | Path, labels_path: str | Path | None, annotator: str, *, cameras: list[str] | None = None, memory_budget: int = MEMORY_BUDGET
) -> Path:
    """Open the viewer window and run it until it is closed; returns the labels path."""
    controller = ViewerController.open(log_path, labels_path, annotator, cameras=cameras, memory_budget=memory_budget)
    application = gui.Application.instance
    application.initialize()
    viewer = ViewerApp(controller)
    try:
        viewer.run()
    finally:
        viewer.close()
        controller.close()
    return controller.session.labels_path


__all__ = ["ACTIONS", "BINDINGS", "ViewerApp", "run_viewer"]
