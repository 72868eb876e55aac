"""Time frame switching in the correction viewer: a ~120k-point sweep and 3 camera images.

A switch is everything between the key press and the new sweep on screen: reading and
de-skewing the sweep, decoding and scaling the images, colouring the points, projecting
points and cuboids into the cameras, handing the geometry to Open3D and one turn of its
event loop. Runs the real window under Xvfb when there is no DISPLAY. Goal: at most 100 ms.

Printed, never asserted:
- cold, back to back: every sweep read from the log (no cache, no read-ahead), one switch
  right after the other (as when dragging the slider: the renderer may still be drawing
  the previous sweep when the next one arrives);
- cold, paused: the same with 0.3 s between switches (a jump nothing could predict);
- jump to the next review-queue item (Q), paused 0.3 s: the cache is emptied before the
  item ahead of it is shown, so the jump's sweep is there only if the read-ahead (which
  reads the next queue item's sweep first) fetched it; jumps within one sweep are counted
  apart, as they read nothing;
- read-ahead: stepping forward as an annotator does, pausing 0.3 s per sweep, so the
  background thread has read the next sweep before the key press;
- the steps of a cold switch (0.3 s apart), and the peer: points re-added to the scene
  each time instead of updated in place (what the viewer avoids).

Back to back, a switch also waits for the software renderer (llvmpipe under Xvfb) to
finish drawing the previous sweep, and the read competes with it for the CPU: that, not
the read, is most of the difference between the two cold cases.

    python benchmarks/bench_viewer.py [--log LOG.h5] [--switches 30]

Without --log it simulates a 1 s log with the "default" profile (64 x 2048 LiDAR, four
960x600 cameras; takes a couple of minutes) into out/bench_viewer/ and reuses it.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from avlabel.viewer.display import virtual_display

CAMERAS = ["camera_front", "camera_front_left", "camera_front_right"]
DEFAULT_LOG = Path("out/bench_viewer/default_1s.h5")


def summary(name: str, seconds: list[float], cpu_seconds: list[float] | None = None) -> str:
    milliseconds = np.array(seconds) * 1e3
    line = (
        f"{name:<46} median {np.median(milliseconds):6.1f} ms   p90 {np.percentile(milliseconds, 90):6.1f} ms   "
        f"max {milliseconds.max():6.1f} ms"
    )
    if cpu_seconds is not None:
        line += f"   main-thread CPU median {np.median(cpu_seconds) * 1e3:6.1f} ms"
    return line + f"   (n={len(milliseconds)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, help="drive log to use (default: simulate one, profile default)")
    parser.add_argument("--switches", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    log_path = args.log or DEFAULT_LOG
    if not log_path.exists():
        from avlabel.sim import simulate

        print(f"simulating {log_path} (profile default, 1 s) ...")
        simulate(log_path, seconds=1.0, seed=7, profile="default", progress=True)
    with virtual_display() as display:
        run(log_path, args.switches, display)


def run(log_path: Path, switches: int, display: str) -> None:
    import open3d as o3d
    import open3d.visualization.gui as gui

    from avlabel.io.labels_file import write_labels
    from avlabel.io.logstore import DriveLog
    from avlabel.viewer import drawing
    from avlabel.viewer.app import ViewerApp, _material
    from avlabel.viewer.controller import Change, ViewerController

    work = log_path.parent / f"{log_path.stem}.bench"
    work.mkdir(parents=True, exist_ok=True)
    labels_path = work / "labels.json"
    for stale in work.glob("labels*"):
        stale.unlink()
    with DriveLog(log_path) as log:
        cameras = [name for name in CAMERAS if name in log.sensors("camera")] or log.sensors("camera")[:3]
        truth = log.truth()
    write_labels(labels_path, truth)
    gui.Application.instance.initialize()
    controller = ViewerController.open(log_path, labels_path, "bench", cameras=cameras, prefetch=True)
    viewer = ViewerApp(controller)
    viewer.pump(20)
    count = len(controller.frames)
    first = controller.frames.frame(0)
    print(f"log {log_path}: {count} sweeps, {len(first.points_world):,} points in sweep 0, cameras {', '.join(cameras)} "
          f"({first.cameras[0].image.shape[1]}x{first.cameras[0].image.shape[0]} in the panel), {len(controller.cuboids())} cuboids; DISPLAY {display}")

    cpu: dict[str, list[float]] = {"cold": [], "cold paused": [], "queue": [], "warm": []}

    def timed(action, kind: str) -> float:  # type: ignore[no-untyped-def]
        started, started_cpu = time.perf_counter(), time.thread_time()
        change = action()
        viewer.refresh(change | Change.VIEW)
        gui.Application.instance.run_one_tick()
        cpu[kind].append(time.thread_time() - started_cpu)
        return time.perf_counter() - started

    def switch(index: int, kind: str) -> float:
        return timed(lambda: controller.go_to_frame(index), kind)

    def forget() -> None:
        """Empty the cache and drop the reads planned ahead (waits for one in flight)."""
        for future in list(controller.frames._pending.values()):  # noqa: SLF001
            future.cancel() or future.result()
        controller.frames._pending.clear()  # noqa: SLF001
        controller.frames._cache.clear()  # noqa: SLF001

    def cold_order(step: int) -> int:
        return (step * 7 + 3) % count if step % 2 else (count - 1 - step) % count

    # cold: nothing cached, no read-ahead (alternate ends of the log, cache emptied)
    executor = controller.frames._executor  # noqa: SLF001
    controller.frames._executor = None  # noqa: SLF001 - benchmark: switch read-ahead off
    cold = []
    for step in range(switches):
        forget()
        cold.append(switch(cold_order(step), "cold"))
    cold_paused = []
    for step in range(switches):
        forget()
        time.sleep(0.3)
        cold_paused.append(switch(cold_order(step + 1), "cold paused"))

    # jump to the next queue item, read-ahead on: empty the cache, show one item (not
    # timed; its read-ahead starts), look at it for 0.3 s, then time Q
    controller.frames._executor = executor  # noqa: SLF001
    queue_jumps, same_sweep = [], 0
    for step in range(switches):
        forget()
        viewer.perform("next_in_queue")
        gui.Application.instance.run_one_tick()
        before = controller.frame_index
        time.sleep(0.3)
        seconds = timed(lambda: controller.perform("next_in_queue"), "queue")
        if controller.frame_index == before:
            same_sweep += 1
            cpu["queue"].pop()
        else:
            queue_jumps.append(seconds)

    # read-ahead: step forward with a pause, as when reviewing
    forget()
    controller.select(None)
    switch(0, "warm")
    cpu["warm"].clear()
    warm = []
    for step in range(switches):
        time.sleep(0.3)
        warm.append(switch((step + 1) % count, "warm"))

    # the steps of a cold switch
    steps: dict[str, list[float]] = {name: [] for name in ("read + de-skew + images", "point colours", "3 camera overlays", "open3d update + one tick")}
    controller.frames._executor = None  # noqa: SLF001 - the steps are timed without read-ahead
    for step in range(min(switches, 15)):
        index = (step * 5 + 1) % count
        forget()
        time.sleep(0.3)  # as "cold, 0.3 s apart": the renderer has finished the previous sweep
        started = time.perf_counter()
        frame = controller.frames._load(index)  # noqa: SLF001
        steps["read + de-skew + images"].append(time.perf_counter() - started)
        cuboids = controller.cuboids()
        started = time.perf_counter()
        drawing.point_colors(frame, "height", cuboids)
        steps["point colours"].append(time.perf_counter() - started)
        started = time.perf_counter()
        for camera in frame.cameras:
            drawing.camera_overlay(camera, frame, cuboids)
        steps["3 camera overlays"].append(time.perf_counter() - started)
        controller.frames._remember(index, frame)  # noqa: SLF001
        started = time.perf_counter()
        controller.frame_index = index
        viewer.refresh(Change.FRAME | Change.SELECTION | Change.VIEW)
        gui.Application.instance.run_one_tick()
        steps["open3d update + one tick"].append(time.perf_counter() - started)

    # peer: re-adding the points to the scene on every switch
    scene = viewer.scene.scene
    in_place, re_added = [], []
    for step in range(min(switches, 15)):
        frame = controller.frames.frame(step % count)
        colors = drawing.point_colors(frame, "height")
        started = time.perf_counter()
        cloud = viewer._points.fill(frame.points_world, colors)  # noqa: SLF001
        scene.scene.update_geometry("points", cloud, 1 | 4)  # points and colours
        in_place.append(time.perf_counter() - started)
        gui.Application.instance.run_one_tick()
    for step in range(min(switches, 15)):
        frame = controller.frames.frame(step % count)
        colors = drawing.point_colors(frame, "height")
        started = time.perf_counter()
        fresh = o3d.t.geometry.PointCloud()
        fresh.point.positions = o3d.core.Tensor(frame.points_world)
        fresh.point.colors = o3d.core.Tensor(colors)
        scene.remove_geometry("points")
        scene.add_geometry("points", fresh, _material("defaultUnlit", point_size=2.0))
        re_added.append(time.perf_counter() - started)
        viewer._keep("points", (fresh, frame.points_world, colors))  # noqa: SLF001
        gui.Application.instance.run_one_tick()
    viewer._retired_points.append(viewer._points)  # noqa: SLF001 - the scene's cloud was replaced by the peer
    viewer._points = None  # noqa: SLF001

    print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times stretch with it; CPU times less so)")
    print(summary("frame switch, cold, back to back", cold, cpu["cold"]))
    print(summary("frame switch, cold, 0.3 s apart", cold_paused, cpu["cold paused"]))
    if queue_jumps:
        print(summary("jump to next queue item (0.3 s apart)", queue_jumps, cpu["queue"]))
    print(f"  ({same_sweep} of {switches} queue jumps stayed on the same sweep and are left out)")
    print(summary("frame switch, read ahead (0.3 s per sweep)", warm, cpu["warm"]))
    for name, values in steps.items():
        print(summary(f"  cold step: {name}", values))
    print(summary("points to Open3D: updated in place", in_place))
    print(summary("points to Open3D: removed and re-added (peer)", re_added))
    ratio = statistics.median(re_added) / max(statistics.median(in_place), 1e-9)
    print(f"in-place update is {ratio:.1f}x faster than re-adding; goal: a switch in at most 100 ms "
          f"(cold median {np.median(cold) * 1e3:.0f} ms back to back, {np.median(cold_paused) * 1e3:.0f} ms paused; "
          f"queue jump median {np.median(queue_jumps) * 1e3 if queue_jumps else float('nan'):.0f} ms; read-ahead median {np.median(warm) * 1e3:.0f} ms)")
    controller.frames._executor = executor  # noqa: SLF001 - closed with the controller
    viewer.close()
    controller.close()


if __name__ == "__main__":
    main()
