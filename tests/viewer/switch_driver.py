"""Switches sweeps back to back in the viewer window, for tests/viewer/test_viewer_gui.py.

    python switch_driver.py LOG.h5 OUT_DIR [SWITCHES]

Runs in its own process on the DISPLAY it is given: opens the viewer, goes from sweep to
sweep with one turn of the event loop in between (faster than the software renderer draws,
as when dragging the slider or holding a key down), then lets the window settle and
writes OUT_DIR/record.json: the sweep it ended on and how many pixels of the 3D view change
when the window is made to draw again (none if the screen already showed that sweep).
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
from avlabel.viewer.display import capture_screen


def main(log_path: Path, out: Path, switches: int) -> int:
    controller = ViewerController.open(log_path, None, "switch-test", prefetch=False)
    application = gui.Application.instance
    application.initialize()
    viewer = ViewerApp(controller)

    def settle(seconds: float) -> None:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            viewer.tick()

    settle(1.0)
    count = len(controller.frames)
    for step in range(switches):
        viewer.go_to_frame((step + 1) % count)
        application.run_one_tick()
    settle(1.5)
    frame, scene = viewer.window.os_frame, viewer.scene.frame
    shown = capture_screen(frame.x + scene.x, frame.y + scene.y, scene.width, scene.height)
    viewer.scene.force_redraw()
    viewer.window.post_redraw()
    settle(1.5)
    redrawn = capture_screen(frame.x + scene.x, frame.y + scene.y, scene.width, scene.height)
    record = {
        "switches": switches,
        "frame_index": controller.frame_index,
        "stale_pixels": int((np.abs(shown.astype(int) - redrawn).sum(axis=2) > 30).sum()),
        "drawn_pixels": int((redrawn.astype(int).sum(axis=2) > 150).sum()),
    }
    viewer.close()
    controller.close()
    (out / "record.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 40))
