"""Switches sweeps quickly in the viewer window, for tests/viewer/test_viewer_gui.py.

    python switch_driver.py LOG.h5 OUT_DIR switch [SWITCHES]
    python switch_driver.py LOG.h5 OUT_DIR drag
    python switch_driver.py LOG.h5 OUT_DIR hold

Runs in its own process on the DISPLAY it is given and opens the viewer on the log.
switch: goes from sweep to sweep with one turn of the event loop in between (faster than
the software renderer draws, as when holding a key down), then lets the window settle and
writes OUT_DIR/record.json: the sweep it ended on and how many pixels of the 3D view change
when the window is made to draw again (none if the screen already showed that sweep).
drag: moves the slider from the first sweep to the last, a sweep every 20 ms, while reading
a sweep takes 150 ms (slowed down on purpose), and records which sweeps were read and shown.
hold: the same with '.' held down (auto-repeat, a press every 20 ms) instead of the slider.
slider: after a second of rest, the slider moved to a sweep already read; records in how
many seconds the window draws again once it has shown it (SETTLE_S, in case the renderer,
busy with the frames of the mouse motion, skipped that draw).
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
from avlabel.viewer.display import stale_scene_pixels


def main(log_path: Path, out: Path, mode: str, switches: int) -> int:
    controller = ViewerController.open(log_path, None, "switch-test", prefetch=mode in ("drag", "hold", "slider"))
    application = gui.Application.instance
    application.initialize()
    viewer = ViewerApp(controller)

    def settle(seconds: float) -> None:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            viewer.tick()

    settle(1.0)
    if mode in ("drag", "hold"):
        return drag(viewer, controller, out, settle, by_key=mode == "hold")
    if mode == "slider":
        target = len(controller.frames) - 1
        controller.frames.frame(target)  # read: the slider's sweep is shown at once
        settle(1.0)
        viewer._on_slider(float(target))
        moved = time.monotonic()
        record = {"frame_index": controller.frame_index, "last": target, "redraw_in": min(viewer._settle_at) - moved}
        viewer.close()
        controller.close()
        (out / "record.json").write_text(json.dumps(record, indent=1))
        return 0
    count = len(controller.frames)
    for step in range(switches):
        viewer.go_to_frame((step + 1) % count)
        application.run_one_tick()
    settle(1.5)
    stale_pixels, redrawn = stale_scene_pixels(viewer, lambda: settle(1.5))
    record = {
        "switches": switches,
        "frame_index": controller.frame_index,
        "stale_pixels": stale_pixels,
        "drawn_pixels": int((redrawn.astype(int).sum(axis=2) > 150).sum()),
    }
    viewer.close()
    controller.close()
    (out / "record.json").write_text(json.dumps(record, indent=1))
    return 0


def drag(viewer: ViewerApp, controller: ViewerController, out: Path, settle, *, by_key: bool) -> int:  # type: ignore[no-untyped-def]
    frames = controller.frames
    frames.memory_budget = 0  # nothing kept beyond the last few sweeps, nothing read while idle
    frames.clear()  # and nothing read ahead: every sweep is read on the way
    read_sync, load, read, shown = frames.sync.frame, frames._load, [], []

    def slow_read(index: int):  # type: ignore[no-untyped-def]
        time.sleep(0.15)
        return read_sync(index)

    def counted_load(index: int, keep_going=None):  # type: ignore[no-untyped-def]
        view = load(index, keep_going)
        read.append(index)
        return view

    refresh = viewer.refresh

    def recorded_refresh(change) -> None:  # type: ignore[no-untyped-def]
        shown.append(controller.frame_index)
        refresh(change)

    frames.sync.frame, frames._load, viewer.refresh = slow_read, counted_load, recorded_refresh
    last = len(frames) - 1
    for sweep in range(1, last + 1):
        if by_key:
            viewer.press("PERIOD", repeat=sweep > 1)  # as the key handler calls it: the first press, then repeats
        else:
            viewer._on_slider(float(sweep))  # as the slider calls it
        settle(0.02)
    settle(2.0)
    record = {"last": last, "frame_index": controller.frame_index, "read": read, "shown": shown}
    viewer.close()
    controller.close()
    (out / "record.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 40))
