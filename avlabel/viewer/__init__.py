"""The correction viewer: an Open3D application on top of avlabel.review.

    avlabel view LOG.h5 [--labels FILE] --annotator NAME

Layers, GUI-free first: `frames` (sweeps prepared for display), `drawing` (colours,
wireframes, camera overlays, timelines as arrays), `controller` (every action, the key
bindings), `app` (the Open3D window), `display` (Xvfb and screen capture for headless use).
Only `app` imports open3d, and only when a window is opened.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from avlabel.io.errors import InputError

logger = logging.getLogger(__name__)


def view(
    log_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str] | None = None,
    *,
    annotator: str,
    cameras: list[str] | None = None,
    screenshot: str | os.PathLike[str] | None = None,
    memory_gib: float | None = None,
) -> Path:
    """Open the viewer on a log; returns the labels file it edited.

    labels_path None: `<log>.labels.json` beside the log, created from the log's truth (or
    empty) the first time (see avlabel.viewer.controller). screenshot: instead of running
    interactively, show the first sweep with the top review-queue item selected, save the
    window as a PNG and return (under a private Xvfb when there is no screen).
    memory_gib: how much of the log the viewer keeps in memory, read while the annotator
    is idle (default 2 GiB; 0: only the last few sweeps).
    """
    if memory_gib is not None and not (memory_gib >= 0 and memory_gib < 1024):
        raise InputError(f"--memory-gib {memory_gib}: give a size in GiB, 0 or more (0 keeps only the last few sweeps)")
    options = {"cameras": cameras} if memory_gib is None else {"cameras": cameras, "memory_budget": int(memory_gib * (1 << 30))}
    if labels_path is not None and not Path(labels_path).exists():
        raise InputError(f"--labels {labels_path}: no such file (leave --labels out to start from the log's truth)")
    if not annotator or not annotator.strip():
        raise InputError("--annotator: give your name; every edit is recorded under it")
    if screenshot is None:
        if not os.environ.get("DISPLAY"):
            raise InputError("no screen: DISPLAY is unset (run on a desktop, under xvfb-run, or pass --screenshot PNG)")
        from avlabel.viewer.app import run_viewer

        return run_viewer(log_path, labels_path, annotator, **options)
    from avlabel.viewer.display import virtual_display

    with virtual_display():
        return _screenshot(log_path, labels_path, annotator, options, Path(screenshot))


def _screenshot(log_path: str | os.PathLike[str], labels_path: str | os.PathLike[str] | None, annotator: str, options: dict, path: Path) -> Path:
    import open3d.visualization.gui as gui

    from avlabel.viewer.app import ViewerApp
    from avlabel.viewer.controller import ViewerController

    controller = ViewerController.open(log_path, labels_path, annotator, **options)
    gui.Application.instance.initialize()
    viewer = ViewerApp(controller)
    try:
        viewer.perform("next_in_queue")
        viewer.screenshot(path)
    finally:
        viewer.close()
        controller.close()
    return controller.session.labels_path
