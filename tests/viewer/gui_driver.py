"""Drives the viewer window the way an annotator would, for tests/viewer/test_viewer_gui.py.

    python gui_driver.py LOG.h5 OUT_DIR

Runs in its own process (Open3D keeps its X connection until the process ends), on the
DISPLAY it is given: opens the viewer on the log, types keys on the X display (XTEST, so
they go through the window's own key handler), calls a few handlers directly (the same
ones menus and buttons call), saves, takes a screenshot, and writes OUT_DIR/record.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import open3d.visualization.gui as gui

from avlabel.viewer.app import ViewerApp
from avlabel.viewer.controller import ViewerController
from avlabel.viewer.display import send_click, send_drag, send_keys

KEYS = ["Q", "W", "W", "shift+A", "Z", "I", "E", "B", "PERIOD", "TAB", "ENTER", "ctrl+Z", "ctrl+Y", "ctrl+S"]


def main(log_path: Path, out: Path) -> int:
    controller = ViewerController.open(log_path, None, "gui-test")
    application = gui.Application.instance
    application.initialize()
    viewer = ViewerApp(controller)
    record: dict = {"keys": KEYS, "pressed": [], "messages": []}
    press = viewer.press

    def spy(key: str, **options):  # type: ignore[no-untyped-def]
        record["pressed"].append(key)
        change = press(key, **options)
        record["messages"].append(controller.message)
        if key == "Q":
            record["track"] = controller.selected_track
            record["before"] = controller.selected_cuboid().box.tolist()
            record["frame_before"] = controller.frame_index
        return change

    viewer.press = spy  # type: ignore[method-assign]
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        application.run_one_tick()
    frame = viewer.window.os_frame
    scene = viewer.scene.frame
    send_keys(KEYS, x=frame.x + scene.x + scene.width // 2, y=frame.y + scene.y + scene.height // 2)
    deadline = time.monotonic() + 20.0
    while len(record["pressed"]) < len(KEYS) and time.monotonic() < deadline:
        application.run_one_tick()
    record["selected_after"] = controller.selected_track
    record["frame_after"] = controller.frame_index
    # the mouse: Ctrl+Shift+click creates a car on the ground under the pointer, Ctrl+click selects
    click_x, click_y = scene.width // 2, scene.height // 2 + 120
    point = viewer.ground_point(click_x, click_y)
    record["click_ground_point"] = None if point is None else np.asarray(point).tolist()
    tracks_before = set(controller.session.labels.tracks())
    send_click(frame.x + scene.x + click_x, frame.y + scene.y + click_y, modifiers=("ctrl", "shift"))
    deadline = time.monotonic() + 10.0
    while set(controller.session.labels.tracks()) == tracks_before and time.monotonic() < deadline:
        application.run_one_tick()
    created = set(controller.session.labels.tracks()) - tracks_before
    record["created"] = sorted(created)
    record["created_center"] = controller.selected_cuboid().center.tolist() if created else None
    controller.select(None)
    send_click(frame.x + scene.x + click_x, frame.y + scene.y + click_y, modifiers=("ctrl",))
    deadline = time.monotonic() + 10.0
    while controller.selected_track is None and time.monotonic() < deadline:
        application.run_one_tick()
    record["clicked_selection"] = controller.selected_track
    # Ctrl+drag on the selected box moves it along the ground, as far as the pointer moved
    to_x, to_y = click_x + 80, click_y - 40
    target = viewer.ground_point(to_x, to_y)
    record["drag_ground_offset"] = None if point is None or target is None else (np.asarray(target) - np.asarray(point)).tolist()
    edits_before = len(controller.session.labels.metadata.get("history", [])), controller.session.dirty
    before_drag = controller.selected_cuboid().center.copy() if controller.selected_cuboid() is not None else None

    def turn_the_loop(kind: str) -> None:
        """Until the window has handled the event (the press grabbed the box, the release let
        it go), and at least 50 ms."""
        started = time.monotonic()
        while time.monotonic() - started < 5.0:
            application.run_one_tick()
            handled = {"press": controller.dragging, "release": not controller.dragging}.get(kind, True)
            if handled and time.monotonic() - started >= 0.05:
                break

    send_drag(
        (frame.x + scene.x + click_x, frame.y + scene.y + click_y), (frame.x + scene.x + to_x, frame.y + scene.y + to_y),
        modifiers=("ctrl",), between=turn_the_loop,
    )
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and (controller.dragging or controller.selected_cuboid() is None or np.allclose(controller.selected_cuboid().center, before_drag)):
        application.run_one_tick()
    record["dragged_center"] = controller.selected_cuboid().center.tolist() if controller.selected_cuboid() is not None else None
    record["drag_message"] = controller.message
    viewer.press("ctrl+Z")  # the move, then the created box, back out
    viewer.press("ctrl+Z")
    viewer.press("ctrl+S")
    # the handlers buttons and menus call
    viewer.perform("colors")
    record["color_mode"] = controller.color_mode
    point = viewer.ground_point(scene.width / 2, scene.height / 2)
    record["ground_point"] = None if point is None else np.asarray(point).tolist()
    record["ground_z"] = controller.frame.ground_z
    viewer.go_to_frame(0)
    viewer.press("TAB")
    record["status"] = controller.status()
    image = viewer.screenshot(out / "viewer.png")
    record["screenshot"] = list(image.shape)
    record["labels_path"] = str(controller.session.labels_path)
    record["dirty_before_close"] = controller.session.dirty
    viewer.close()
    controller.close()
    (out / "record.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
