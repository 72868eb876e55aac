"""Time frame switching in the correction viewer: a ~120k-point sweep and 3 camera images.

A switch is everything between the request (a key press, a move of the slider) and the end
of the event-loop turn in which the window drew the new sweep: reading and de-skewing the
sweep, decoding and scaling the images, colouring the points, projecting points and cuboids
into the cameras, handing the geometry and images to Open3D and its draw. The event loop
runs all the time, as in the viewer (its own redraws included). Runs the real 1600x1000
window under Xvfb (software Vulkan, llvmpipe) when there is no DISPLAY. Goal: every kind of
switch in at most 100 ms.

Printed per kind (median, p90, max and the 100 ms target beside them; never asserted):
- step: '.' and ',' one sweep at a time, up and down the log, 0.3 s apart: the read-ahead
  has read the next sweep and drawn its pictures meanwhile;
- queue jump: Q, 0.3 s after arriving at the previous item; the cache is emptied before
  that item is shown, so the jump's sweep is there only if the read-ahead (which reads the
  next queue item's sweep first) fetched it; jumps within one sweep are counted apart;
- cold jump: to a sweep nothing predicted (cache emptied), 0.3 s after the previous switch;
- slider drag over unread sweeps: the slider moved on by one sweep every 40 ms (its
  handler called as the slider calls it, and the window redrawn as for the mouse motion),
  up and down the log, with the cache limited as before the idle reader (memory budget 0:
  the last 6 sweeps) and emptied before each pass; a position counts as switched to once
  the window draws it or a position the slider reached after it (positions dragged past
  are dropped);
- slider drag over sweeps in memory: the same once the idle reader has read the whole log
  (default memory budget); the sweeps' pictures (point colours, camera overlays) are
  forgotten before each pass, so they are drawn when shown, as after reading while idle;
- the last position on screen: from the drag's last position until a patch of the 3D view,
  captured from the X screen every 10 ms, shows what it shows once the window is made to
  draw that sweep again (and keeps showing it). A draw hands the frame to the renderer;
  this is when the renderer has put it on the screen (or 1.2 s if it never does). It is
  not the switch the target is about: with llvmpipe a frame whose 3D view changed takes
  about 200 ms of CPU to render (100-200 ms of wall time on two cores) after its draw.

Then: the memory the whole log takes once read while idle, the steps of a cold switch, points handed to Open3D in place against re-adding them
(the peer the viewer avoids), and a check that once the window settles the screen shows
the last sweep (the software renderer skips frames while busy; see ViewerApp.tick).

Draws are handed to the renderer; with llvmpipe one frame of this window then takes about
180 ms of CPU on the renderer's threads (about half of that for the 3D view, half for the
panels), which is what a switch right after another one waits for.

    python benchmarks/bench_viewer.py [--log LOG.h5] [--switches 30] [--drags 5] [--drags-only]

Without --log it simulates a 1 s log with the "default" profile (64 x 2048 LiDAR, four
960x600 cameras; takes a couple of minutes) into out/bench_viewer/ and reuses it.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from pathlib import Path

import numpy as np

from avlabel.viewer.display import virtual_display

CAMERAS = ["camera_front", "camera_front_left", "camera_front_right"]
DEFAULT_LOG = Path("out/bench_viewer/default_1s.h5")
TARGET_MS = 100.0
PAUSE_S = 0.3
DRAG_STEP_S = 0.04
SCREEN_WATCH_S = 1.2  # how long the screen is watched after a drag's last position
SCREEN_POLL_S = 0.01
SCREEN_SAME = 0.002  # a capture differing from the final picture in at most this share of pixels shows it


def summary(name: str, seconds: list[float], cpu_seconds: list[float] | None = None, *, target: bool = True) -> str:
    milliseconds = np.array(seconds) * 1e3
    p90 = np.percentile(milliseconds, 90)
    line = f"{name:<44} median {np.median(milliseconds):6.1f} ms   p90 {p90:6.1f} ms   max {milliseconds.max():6.1f} ms"
    if target:
        line += f"   target {TARGET_MS:.0f} ms: {'met' if milliseconds.max() <= TARGET_MS else 'p90 met' if p90 <= TARGET_MS else 'MISSED'}"
    if cpu_seconds:
        line += f"   main-thread CPU median {np.median(cpu_seconds) * 1e3:5.1f} ms"
    return line + f"   (n={len(milliseconds)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, help="drive log to use (default: simulate one, profile default)")
    parser.add_argument("--switches", type=int, default=30)
    parser.add_argument("--drags", type=int, help="slider drags of each kind (default: switches / 6)")
    parser.add_argument("--drags-only", action="store_true", help="time the slider drags alone (and the memory of the whole log)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    log_path = args.log or DEFAULT_LOG
    if not log_path.exists():
        from avlabel.sim import simulate

        print(f"simulating {log_path} (profile default, 1 s) ...")
        simulate(log_path, seconds=1.0, seed=7, profile="default", progress=True)
    with virtual_display() as display:
        run(log_path, args.switches, args.drags or max(args.switches // 6, 2), args.drags_only, display)


def run(log_path: Path, switches: int, drag_count: int, drags_only: bool, display: str) -> None:
    import open3d as o3d
    import open3d.visualization.gui as gui

    from avlabel.io.labels_file import write_labels
    from avlabel.io.logstore import DriveLog
    from avlabel.viewer.app import ViewerApp, _material
    from avlabel.viewer.controller import Change, ViewerController
    from avlabel.viewer.display import capture_screen, stale_scene_pixels
    from avlabel.viewer.frames import MEMORY_BUDGET

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
    count = len(controller.frames)
    first = controller.frames.frame(0)
    print(f"log {log_path}: {count} sweeps, {len(first.points_world):,} points in sweep 0, cameras {', '.join(cameras)} "
          f"({first.cameras[0].image.shape[1]}x{first.cameras[0].image.shape[0]} in the panel), {len(controller.cuboids())} cuboids; "
          f"window {viewer.window.size.width}x{viewer.window.size.height}; DISPLAY {display}")

    def screen_patch() -> tuple[int, int, int, int]:
        """A 320x240 patch in the middle of the 3D view, in screen pixels (x, y, w, h)."""
        frame, scene = viewer.window.os_frame, viewer.scene.frame
        return frame.x + scene.x + scene.width // 2 - 160, frame.y + scene.y + scene.height // 2 - 120, 320, 240

    # Every draw after a change lays the window out first: that is how a draw of a sweep is seen.
    drawn: list[tuple[float, int]] = []

    def on_layout(context) -> None:  # type: ignore[no-untyped-def]
        drawn.append((time.perf_counter(), controller.frame_index))
        viewer._layout(context)  # noqa: SLF001

    viewer.window.set_on_layout(on_layout)

    def loop_for(seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            viewer.tick()

    def until_drawn(sweeps: set[int], started: float, limit_s: float = 10.0) -> float:
        """Turns of the loop until a draw of one of `sweeps` after `started` (maybe one
        already made); seconds from `started` to the end of the turn that drew it."""
        while True:
            for when, index in drawn:
                if when >= started and index in sweeps:
                    return next(end for end in turn_ends if end >= when) - started
            if time.perf_counter() - started > limit_s:
                raise RuntimeError(f"no draw of sweep {sorted(sweeps)} within {limit_s} s")
            viewer.tick()
            turn_ends.append(time.perf_counter())

    turn_ends: list[float] = []
    tick = viewer.tick

    def counted_tick() -> bool:
        running = tick()
        turn_ends.append(time.perf_counter())
        return running

    viewer.tick = counted_tick  # type: ignore[method-assign]
    loop_for(1.0)

    # what the software renderer spends on one frame of this window, on its own threads
    # (the process's CPU time less the main thread's, nothing read meanwhile)
    def renderer_cpu(force_3d: bool) -> float:
        loop_for(0.5)
        process, main = os.times(), time.thread_time()
        if force_3d:
            viewer.scene.force_redraw()
        viewer.window.post_redraw()
        loop_for(0.6)
        after = os.times()
        return (after.user + after.system - process.user - process.system) - (time.thread_time() - main)

    loop_for(2.0)  # the first reads ahead done
    while controller.frames.memory().state == "filling":  # and the idle reader's (it would count as the renderer's CPU)
        viewer.tick()
    render_full, render_panels = [], []
    for _ in range(5):
        render_full.append(renderer_cpu(True))
        render_panels.append(renderer_cpu(False))

    cpu: dict[str, list[float]] = {"step": [], "queue": [], "cold": []}

    def timed(action, kind: str) -> float:  # type: ignore[no-untyped-def]
        started, started_cpu = time.perf_counter(), time.thread_time()
        action()
        seconds = until_drawn({controller.frame_index}, started)
        cpu[kind].append(time.thread_time() - started_cpu)
        return seconds

    def forget_pictures() -> None:
        with controller._pictures_lock:  # noqa: SLF001
            controller._pictures.clear()  # noqa: SLF001

    def forget() -> None:
        """Empty the caches (sweeps and their pictures) and drop the reads planned ahead."""
        controller.frames.clear()
        forget_pictures()

    timed_switches = 0 if drags_only else switches
    # step: up and down the log one sweep at a time, as when reviewing
    viewer.go_to_frame(0)
    loop_for(1.0)
    steps, direction = [], 1
    for _ in range(timed_switches):
        if not 0 <= controller.frame_index + direction < count:
            direction = -direction
        loop_for(PAUSE_S)
        steps.append(timed(lambda key="PERIOD" if direction > 0 else "COMMA": viewer.press(key), "step"))

    # queue jump: empty the cache, show one item (not timed; its read-ahead starts), look
    # at it for 0.3 s, then time Q
    queue_jumps, same_sweep = [], 0
    for _ in range(timed_switches):
        forget()
        viewer.perform("next_in_queue")
        before = controller.frame_index
        loop_for(PAUSE_S)
        seconds = timed(lambda: viewer.perform("next_in_queue"), "queue")
        if controller.frame_index == before:
            same_sweep += 1
            cpu["queue"].pop()
        else:
            queue_jumps.append(seconds)

    # cold jump: to a sweep neither the queue nor stepping predicts, nothing cached
    cold = []
    rng = np.random.default_rng(7)
    for _ in range(timed_switches):
        forget()
        loop_for(PAUSE_S)
        predicted = {controller.frame_index - 1, controller.frame_index, controller.frame_index + 1}
        queue = controller.queue()
        if queue:
            tracks = [item.track_id for item in queue]
            position = (tracks.index(controller.selected_track) + 1) % len(queue) if controller.selected_track in tracks else 0
            predicted.add(controller.sweep_at(queue[position].timestamp_us))
        target = int(rng.choice([index for index in range(count) if index not in predicted] or [0]))
        cold.append(timed(lambda: viewer.go_to_frame(target), "cold"))

    def drags(in_memory: bool) -> tuple[list[float], list[float], list[float]]:
        """Slider drags, one sweep on every 40 ms, up and down: every position, the last
        positions, the last positions on screen (seconds)."""
        drag, drag_end, drag_screen = [], [], []
        for _ in range(drag_count):
            if in_memory:
                forget_pictures()
            else:
                forget()
            loop_for(PAUSE_S)
            drag_once(drag, drag_end, drag_screen)
        return drag, drag_end, drag_screen

    def drag_once(drag: list[float], drag_end: list[float], drag_screen: list[float]) -> None:
        order = list(range(1, count)) if controller.frame_index == 0 else list(range(count - 2, -1, -1))
        requests: list[tuple[float, int]] = []
        for sweep in order:
            due = requests[-1][0] + DRAG_STEP_S if requests else time.perf_counter()
            while time.perf_counter() < due:
                viewer.tick()
            requests.append((time.perf_counter(), sweep))
            viewer._on_slider(float(sweep))  # noqa: SLF001 - as the slider calls it
            viewer.window.post_redraw()  # as the mouse motion does
        # the screen from the last position on: a patch of the 3D view every SCREEN_POLL_S
        screens = []
        while time.perf_counter() - requests[-1][0] < SCREEN_WATCH_S:
            screens.append((time.perf_counter(), capture_screen(*screen_patch())))
            polled = time.perf_counter()
            while time.perf_counter() - polled < SCREEN_POLL_S:
                viewer.tick()
        for position, (requested, sweep) in enumerate(requests):
            seconds = until_drawn({later for _, later in requests[position:]}, requested)
            drag.append(seconds)
            if position == len(requests) - 1:
                drag_end.append(seconds)
        # what the window shows of the last sweep when made to draw it again
        viewer.scene.force_redraw()
        viewer.window.post_redraw()
        loop_for(1.0)
        final = capture_screen(*screen_patch())
        differs = [(when, (np.abs(image.astype(int) - final).sum(axis=2) > 30).mean() > SCREEN_SAME) for when, image in screens]
        shown = [when for when, different in differs if not different]
        changed = [when for when, different in differs if different]
        on_screen = next((when for when, _ in screens if when > max(changed, default=-np.inf)), None)
        drag_screen.append((on_screen if on_screen is not None and shown else requests[-1][0] + SCREEN_WATCH_S) - requests[-1][0])

    # slider drag over unread sweeps: the cache limited to the last few sweeps, as before the idle reader
    controller.select(None)
    viewer.go_to_frame(0)
    controller.frames.memory_budget = 0
    cold_drag = drags(in_memory=False)
    # the idle reader reads the whole log while nothing is asked for
    controller.frames.memory_budget = MEMORY_BUDGET
    fill_started = time.perf_counter()
    while controller.frames.memory().state == "filling" and time.perf_counter() - fill_started < 120.0:
        viewer.tick()
    fill_s, memory = time.perf_counter() - fill_started, controller.frames.memory()
    warm_drag = drags(in_memory=True)

    def print_drags() -> None:
        for name, (drag, drag_end, drag_screen) in (("over unread sweeps", cold_drag), ("over sweeps in memory", warm_drag)):
            print(summary(f"slider drag {name}, a sweep every 40 ms", drag))
            print(summary("  of which the drag's last position", drag_end))
            print(summary("  the last position on screen", drag_screen))
        print(f"the whole log in memory: {memory.text()}, {memory.bytes / (1 << 20):.1f} MiB ({memory.bytes / max(memory.sweeps, 1) / (1 << 20):.2f} MiB a sweep; "
              f"budget {memory.budget / (1 << 30):.1f} GiB), read while idle in {fill_s:.1f} s (after {len(cold_drag[1])} drags over unread sweeps)")

    load = os.getloadavg()[0]
    if drags_only:
        print(f"machine load average {load:.1f} on {os.cpu_count()} cores (wall times stretch with it; CPU times less so)")
        print_drags()
        viewer.close()
        controller.close()
        return

    # the steps of a cold switch, 0.3 s apart
    step_names = ("read + de-skew + cameras", "pictures: colours + 3 camera overlays", "open3d update + draw")
    cold_steps: dict[str, list[float]] = {name: [] for name in step_names}
    for step in range(min(switches, 15)):
        index = (step * 3 + 1) % count
        if index == controller.frame_index:
            index = (index + 1) % count
        forget()
        loop_for(PAUSE_S)
        started = time.perf_counter()
        frame = controller.frames._load(index)  # noqa: SLF001
        cold_steps[step_names[0]].append(time.perf_counter() - started)
        started = time.perf_counter()
        controller._pictures_for(frame, controller._picture_state(controller.selected_track))  # noqa: SLF001
        cold_steps[step_names[1]].append(time.perf_counter() - started)
        with controller.frames._lock:  # noqa: SLF001
            controller.frames._remember(index, frame)  # noqa: SLF001
        started = time.perf_counter()
        controller.frame_index = index
        viewer.refresh(Change.FRAME | Change.SELECTION | Change.VIEW)
        cold_steps[step_names[2]].append(until_drawn({index}, started))

    # the screen after the window settled shows the last sweep
    loop_for(1.0)
    stale_pixels, _ = stale_scene_pixels(viewer, lambda: loop_for(1.0))

    # peer: re-adding the points to the scene on every switch
    scene = viewer.scene.scene
    in_place, re_added = [], []
    for step in range(min(switches, 15)):
        frame = controller.frames.frame(step % count)
        colors = np.asarray(controller.pictures().point_colors) if step % count == controller.frame_index else np.zeros((len(frame.points_world), 3), np.float32)
        started = time.perf_counter()
        cloud = viewer._points.fill(frame.points_world, colors)  # noqa: SLF001
        scene.scene.update_geometry("points", cloud, 1 | 4)  # points and colours
        in_place.append(time.perf_counter() - started)
        loop_for(0.15)
    kept = []
    for step in range(min(switches, 15)):
        frame = controller.frames.frame(step % count)
        colors = np.zeros((len(frame.points_world), 3), np.float32)
        started = time.perf_counter()
        fresh = o3d.t.geometry.PointCloud()
        fresh.point.positions = o3d.core.Tensor(frame.points_world)
        fresh.point.colors = o3d.core.Tensor(colors)
        scene.remove_geometry("points")
        scene.add_geometry("points", fresh, _material("defaultUnlit", point_size=2.0))
        re_added.append(time.perf_counter() - started)
        kept.append(fresh)  # Open3D may read it after this returns
        loop_for(0.15)
    viewer._retired_points.append(viewer._points)  # noqa: SLF001 - the scene's cloud was replaced by the peer
    viewer._points = None  # noqa: SLF001

    print(f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, {load:.1f} after the drags (wall times stretch with it; CPU times less so)")
    print(summary("step (. and ,), 0.3 s apart", steps, cpu["step"]))
    if queue_jumps:
        print(summary("queue jump (Q), 0.3 s apart", queue_jumps, cpu["queue"]))
    print(f"  ({same_sweep} of {switches} queue jumps stayed on the same sweep and are left out)")
    print(summary("cold jump (nothing read ahead), 0.3 s apart", cold, cpu["cold"]))
    print_drags()
    for name, values in cold_steps.items():
        print(summary(f"  cold step: {name}", values, target=False))
    print(summary("points to Open3D: updated in place", in_place, target=False))
    print(summary("points to Open3D: removed and re-added (peer)", re_added, target=False))
    ratio = statistics.median(re_added) / max(statistics.median(in_place), 1e-9)
    print(f"renderer CPU per frame (llvmpipe threads): whole window {np.median(render_full) * 1e3:.0f} ms, "
          f"panels only (3D view cached) {np.median(render_panels) * 1e3:.0f} ms; a draw waits while the renderer is behind")
    print(f"in-place update is {ratio:.1f}x faster than re-adding; "
          f"after settling the screen {'shows the last sweep' if stale_pixels == 0 else f'differs from the last sweep in {stale_pixels} pixels'}")
    viewer.close()
    controller.close()


if __name__ == "__main__":
    main()
