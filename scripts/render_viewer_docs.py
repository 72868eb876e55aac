"""docs/viewer.png: the correction viewer on machine labels, as an annotator first sees it.

Simulates a 2 s log with the "default" profile (64-beam LiDAR, 960x600 cameras; or takes
--log), labels it with the pipeline, opens the viewer on a copy of those labels under a
private Xvfb, goes to the review queue's worst track among those within 25 m of the ego,
selects it (the view stays centred on the ego) and saves the window.

    python scripts/render_viewer_docs.py [--log LOG.h5] [--out docs/viewer.png]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from avlabel.viewer.display import virtual_display

CAMERAS = ["camera_front", "camera_front_left", "camera_front_right"]
NEAR_M = 25.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, help="drive log (default: simulate 2 s, profile default, seed 7)")
    parser.add_argument("--out", type=Path, default=Path("docs/viewer.png"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        log_path = args.log
        if log_path is None:
            from avlabel.sim import simulate

            log_path = simulate(work / "town.h5", seconds=2.0, seed=7, profile="default", progress=True)
        from avlabel.config import load_config
        from avlabel.pipeline import run_logs

        summary = run_logs([log_path], work / "run", load_config())
        result = summary.results[0]
        if not result.ok:
            raise SystemExit(f"the pipeline failed on {log_path}: {result.error}")
        labels_path = work / "labels.json"
        shutil.copy(result.labels_path, labels_path)
        with virtual_display():
            render(log_path, labels_path, args.out)
    print(f"wrote {args.out}")


def render(log_path: Path, labels_path: Path, out: Path) -> None:
    import open3d.visualization.gui as gui

    from avlabel.io.logstore import DriveLog
    from avlabel.viewer.app import ViewerApp
    from avlabel.viewer.controller import Change, ViewerController

    with DriveLog(log_path) as log:
        cameras = [name for name in CAMERAS if name in log.sensors("camera")]
    controller = ViewerController.open(log_path, labels_path, "docs", cameras=cameras)
    gui.Application.instance.initialize()
    viewer = ViewerApp(controller)
    try:
        # the worst flagged track that has a cuboid near the ego at its queue frame
        for item in controller.queue():
            index = controller.sweep_at(item.timestamp_us)
            frame = controller.frames.frame(index)
            controller.go_to_frame(index)
            cuboid = next((cuboid for cuboid in controller.cuboids() if cuboid.track_id == item.track_id), None)
            if frame is not None and cuboid is not None and np.hypot(*(cuboid.center[:2] - frame.world_from_ego[:2, 3])) < NEAR_M:
                break
        viewer.refresh(Change.FRAME | Change.LABELS | Change.VIEW)
        controller.select(item.track_id)
        reasons = ", ".join(issue.detail for issue in item.issues)
        controller.message = f"queue: track {item.track_id} ({item.label}): {reasons}"
        viewer.refresh(Change.SELECTION | Change.VIEW)
        viewer.screenshot(out)
    finally:
        viewer.close()
        controller.close()


if __name__ == "__main__":
    main()
