"""What the viewer prepares of a sweep without a window (avlabel.viewer.frames), and the
idle reader that reads the whole log into memory."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from avlabel.io.logstore import DriveLog
from avlabel.sync.frames import RadarMatch, SyncedFrame
from avlabel.viewer import frames as frames_module
from avlabel.viewer.frames import LogFrames, _radar


def _yaw(angle: float, translation: tuple[float, float, float]) -> np.ndarray:
    pose = np.eye(4)
    pose[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    pose[:3, 3] = translation
    return pose


def test_radar_velocity_arrows_run_along_the_line_of_sight_from_the_radar() -> None:
    """A corner radar (3.5 m ahead, 0.9 m left of the ego origin) sees two reflections close
    by, so its lines of sight differ clearly from those out of the ego origin. The ego drives
    8 m/s along its heading (yawed 30 degrees in the world): a standing post reads minus the
    radar's own speed along its line of sight and must get no arrow; a car crossing at 5 m/s
    must get the part of its velocity along the radar's line of sight."""
    world_from_ego = _yaw(np.radians(30.0), (100.0, -20.0, 0.5))
    ego_velocity_ego = np.array([8.0, 0.0, 0.0])
    ego_from_radar = _yaw(np.radians(45.0), (3.5, 0.9, 0.6))
    post, car = np.array([5.0, 4.0, 0.6]), np.array([4.5, -1.0, 0.6])
    car_velocity_ego = np.array([0.0, 5.0, 0.0])
    line_of_sight = np.array([point - ego_from_radar[:3, 3] for point in (post, car)])
    line_of_sight /= np.linalg.norm(line_of_sight, axis=1, keepdims=True)
    measured = [
        -(ego_velocity_ego @ line_of_sight[0]),  # relative to the moving radar
        (car_velocity_ego - ego_velocity_ego) @ line_of_sight[1],
    ]
    detections = np.column_stack([np.vstack([post, car]), measured, [10.0, 12.0]]).astype(np.float32)
    scan = RadarMatch(index=0, timestamp_us=1_000, offset_us=0, detections_ego=detections, ego_from_radar=ego_from_radar)
    synced = SyncedFrame(
        index=0, timestamp_us=1_000, points=np.zeros((0, 6), np.float32), world_from_ego=world_from_ego,
        ego_velocity=world_from_ego[:3, :3] @ ego_velocity_ego, cameras={}, radar={"radar_front_left": [scan]}, missing=(),
    )

    positions, velocities = _radar(synced)

    np.testing.assert_allclose(positions, (np.vstack([post, car]) @ world_from_ego[:3, :3].T + world_from_ego[:3, 3]), atol=1e-4)
    np.testing.assert_allclose(velocities[0], 0.0, atol=1e-4)  # the post stands still
    expected_car = world_from_ego[:3, :3] @ (line_of_sight[1] * (car_velocity_ego @ line_of_sight[1]))
    np.testing.assert_allclose(velocities[1], expected_car, atol=1e-4)


# ---------------------------------------------------------------- reading the log while idle

SWEEP_BYTES = 920_424  # one sweep of the tiny log prepared: 2,000 points, one 320x200 camera (view_bytes)


@pytest.fixture
def long_log(tmp_path: Path) -> Path:
    from tinylog import write_tiny_log

    return write_tiny_log(tmp_path / "long.h5", sweeps=12)


@pytest.fixture(autouse=True)
def quick_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The idle reader starts 50 ms after the last request instead of IDLE_AFTER_S."""
    monkeypatch.setattr(frames_module, "IDLE_AFTER_S", 0.05, raising=False)


def _recording_loads(frames: LogFrames) -> list[tuple[str, int]]:
    """Every read of a sweep, started ("start", i) and finished ("done", i), in order, from any thread."""
    events: list[tuple[str, int]] = []
    load = frames._load
    frames.started_at = []  # when each read started (time.monotonic)

    def recorded(index: int, keep_going=None):  # type: ignore[no-untyped-def]
        frames.started_at.append(time.monotonic())
        events.append(("start", index))
        view = load(index, keep_going)
        events.append(("done", index))
        return view

    frames._load = recorded
    return events


def _wait_until(condition, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_while_idle_the_whole_log_is_read_nearest_first_outward_both_ways(long_log: Path) -> None:
    with DriveLog(long_log) as log:
        frames = LogFrames(log, prefetch=True)
        events = _recording_loads(frames)
        try:
            frames.current = 7
            assert _wait_until(lambda: frames.memory().state == "complete")
            read = [index for kind, index in events if kind == "done"]
            assert read == [7, 8, 6, 9, 5, 10, 4, 11, 3, 2, 1, 0]
            memory = frames.memory()
            assert (memory.sweeps, memory.total, memory.bytes) == (12, 12, 12 * SWEEP_BYTES)
            assert memory.text() == "in memory 12/12 sweeps"
            assert all(frames.ready(index) for index in range(12))
            # what was read while idle is what a direct read prepares
            direct = LogFrames(log, prefetch=False)
            for index in (0, 7, 11):
                np.testing.assert_array_equal(frames.frame(index).points_world, direct.frame(index).points_world)
                np.testing.assert_array_equal(frames.frame(index).cameras[0].points_image, direct.frame(index).cameras[0].points_image)
        finally:
            frames.close()


def test_the_memory_budget_keeps_the_sweeps_nearest_the_current_one(long_log: Path) -> None:
    """A budget of 4.5 sweeps: the 4 nearest sweeps are read, no more; after a jump the
    fill follows the new sweep, evicting the farthest, and never exceeds the budget."""
    with DriveLog(long_log) as log:
        frames = LogFrames(log, prefetch=True, memory_budget=int(4.5 * SWEEP_BYTES))
        events = _recording_loads(frames)
        try:
            frames.current = 7
            assert _wait_until(lambda: frames.memory().state == "full")
            assert set(frames._cache) == {7, 8, 6, 9}
            assert frames.memory().bytes <= frames.memory_budget
            assert frames.memory().text() == f"in memory 4/12 sweeps (budget {4.5 * SWEEP_BYTES / (1 << 30):.1f} GiB full)"
            time.sleep(0.3)
            assert len([kind for kind, _ in events if kind == "start"]) == 4  # full: nothing more is read
            frames.current = 3
            assert _wait_until(lambda: frames.memory().state == "full" and set(frames._cache) == {3, 4, 2, 5})
            assert frames.memory().bytes <= frames.memory_budget
            assert [index for kind, index in events if kind == "done"][4:] == [3, 4, 2, 5]
            # lowering the budget evicts the farthest at once
            frames.memory_budget = int(2.5 * SWEEP_BYTES)
            assert set(frames._cache) == {3, 4}
        finally:
            frames.close()


def test_without_a_budget_only_the_sweeps_used_last_are_kept_and_nothing_is_read_while_idle(long_log: Path) -> None:
    with DriveLog(long_log) as log:
        frames = LogFrames(log, prefetch=True, cache_size=3, memory_budget=0)
        events = _recording_loads(frames)
        try:
            for index in (0, 5, 2, 9):
                frames.frame(index)
            time.sleep(0.3)
            assert events == [(kind, index) for index in (0, 5, 2, 9) for kind in ("start", "done")]
            assert list(frames._cache) == [5, 2, 9] and frames.memory().state == "off"
        finally:
            frames.close()


def test_the_sweeps_used_last_stay_whatever_the_budget(long_log: Path) -> None:
    """The current sweep and its reads ahead are never evicted for the idle reader's: with
    a budget of two sweeps, the two asked for stay and the idle reader reads nothing more."""
    with DriveLog(long_log) as log:
        frames = LogFrames(log, prefetch=True, memory_budget=int(2.5 * SWEEP_BYTES))
        try:
            frames.current = 0
            frames.frame(11)
            frames.frame(10)
            assert _wait_until(lambda: frames.memory().state == "full")
            assert set(frames._cache) == {11, 10}  # far from the current sweep, but used last
        finally:
            frames.close()


def test_a_requested_sweep_is_read_before_the_idle_reader_goes_on(long_log: Path) -> None:
    """The idle reader is reading sweep 5 (held inside its read) when the window asks for
    sweep 0 ahead and then for sweep 11 directly: the idle read stops at its next step
    (5 is not cached), both requests are read before the idle reader starts another read,
    even when the window's own read of 11 takes longer than IDLE_AFTER_S, and it starts
    again only once nothing has asked for IDLE_AFTER_S."""
    with DriveLog(long_log) as log:
        frames = LogFrames(log, prefetch=True)
        events = _recording_loads(frames)
        reading, release = threading.Event(), threading.Event()
        read = frames.sync.frame

        def held(index: int):  # type: ignore[no-untyped-def]
            if index == 5 and not release.is_set():
                reading.set()
                release.wait(5.0)
            if index == 11:  # the window's own read outlasts the quiet time (a busy machine)
                time.sleep(frames_module.IDLE_AFTER_S + 0.3)
            return read(index)

        frames.sync.frame = held
        try:
            frames.current = 5
            assert reading.wait(5.0)
            frames.read_ahead([0])
            release.set()
            asked = time.monotonic()  # the last request
            frames.frame(11)
            assert _wait_until(lambda: frames.ready(0) and not frames.planned(0))
            assert _wait_until(lambda: frames.memory().state == "complete")
            starts = [position for position, (kind, _) in enumerate(events) if kind == "start"]
            order = [events[position][1] for position in starts]
            assert order[:3] in ([5, 0, 11], [5, 11, 0])  # the held idle read, then the two requests
            before_idle_goes_on = events[: starts[3]]
            assert ("done", 5) not in before_idle_goes_on  # the idle read was dropped
            assert ("done", 0) in before_idle_goes_on and ("done", 11) in before_idle_goes_on  # the requests were read first
            assert order[3] == 5  # then the idle reader goes on, nearest first
            assert frames.started_at[3] - asked >= frames_module.IDLE_AFTER_S  # once nothing asked for a while
        finally:
            release.set()
            frames.close()


def test_close_stops_the_idle_reader_at_its_next_step(long_log: Path) -> None:
    with DriveLog(long_log) as log:
        frames = LogFrames(log, prefetch=True)
        events = _recording_loads(frames)
        read = frames.sync.frame

        def slow(index: int):  # type: ignore[no-untyped-def]
            time.sleep(0.1)
            return read(index)

        frames.sync.frame = slow
        assert _wait_until(lambda: ("done", 0) in events)
        started = time.monotonic()
        frames.close()
        assert time.monotonic() - started < 1.0
        assert not frames._idle_thread.is_alive()
        count = len(events)
        time.sleep(0.3)
        assert len(events) == count and frames.memory().sweeps < 12
