"""The viewer's behaviour without a window: actions by name over the tiny test log, what
they do to the labels, and the pictures the window would show (as arrays)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avlabel.io.labels_file import read_labels, write_labels
from avlabel.review import read_journal
from avlabel.structs import Cuboid, LabelFrame, Labels
from avlabel.viewer import drawing
from avlabel.viewer.controller import ACTIONS, BINDINGS, Change, ViewerController, default_labels_path, help_rows


@pytest.fixture
def controller(tiny_log: Path) -> ViewerController:
    opened = ViewerController.open(tiny_log, None, "alice", prefetch=False)
    yield opened
    opened.close()


def test_without_labels_the_viewer_starts_from_the_log_truth(tiny_log: Path, controller: ViewerController) -> None:
    path = default_labels_path(tiny_log)
    assert controller.session.labels_path == path and path.exists()
    assert path.name == "tiny.labels.json"
    assert controller.session.labels.metadata["started_from"] == "truth"
    assert controller.session.journal_path == path.with_name("tiny.labels.journal.jsonl")
    assert [cuboid.track_id for cuboid in controller.cuboids()] == ["1"]


def test_without_truth_the_viewer_starts_empty_with_one_frame_per_sweep(tmp_path: Path) -> None:
    from tinylog import write_tiny_log

    log = write_tiny_log(tmp_path / "bare.h5", truth=False)
    controller = ViewerController.open(log, None, "alice", prefetch=False)
    labels = controller.session.labels
    assert labels.metadata["started_from"] == "empty" and labels.num_cuboids() == 0
    np.testing.assert_array_equal(labels.timestamps_us, controller.frames.timestamps_us)
    controller.perform("create")  # a car 10 m ahead of the ego
    created = controller.selected_cuboid()
    assert created is not None and created.attributes["review"] == "created"
    np.testing.assert_allclose(created.center[:2], controller.frame.world_from_ego[:2, 3] + [10.0, 0.0])
    controller.close()


def test_every_binding_names_an_action_and_the_help_lists_them_all() -> None:
    keys = [key for key, _ in BINDINGS]
    assert len(keys) == len(set(keys))
    assert {action for _, action in BINDINGS} <= set(ACTIONS)
    bound = {action for _, action in BINDINGS}
    assert set(ACTIONS) - bound == set(), f"actions without a key: {set(ACTIONS) - bound}"
    assert len(help_rows()) == len(BINDINGS) + 4


def test_navigation_selection_and_queue(controller: ViewerController) -> None:
    assert controller.perform("previous_frame") == Change.NONE
    assert controller.perform("next_frame") & Change.FRAME
    assert controller.frame_index == 1
    controller.perform("last_frame")
    assert controller.frame_index == 4
    controller.perform("select_next")
    assert controller.selected_track == "1"
    controller.perform("select_next")
    assert controller.selected_track == "2"
    controller.perform("deselect")
    assert controller.selected_track is None
    controller.perform("next_in_queue")
    assert controller.selected_track in {"1", "2"} and controller.message.startswith("queue 1/2")
    controller.perform("play")
    assert controller.playing
    controller.go_to_frame(3)
    controller.advance_playback()
    controller.advance_playback()
    assert controller.frame_index == 4 and not controller.playing and controller.message == "end of log"


def test_edits_by_action_name_reach_the_labels_file(controller: ViewerController) -> None:
    controller.perform("select_next")
    before = controller.selected_cuboid().box
    for name in ("move_forward", "move_forward", "move_left", "turn_left", "grow_length", "grow_height"):
        assert controller.perform(name) & Change.LABELS, controller.message
    after = controller.selected_cuboid().box
    heading = np.array([np.cos(before[6]), np.sin(before[6])])
    side = np.array([-heading[1], heading[0]])
    np.testing.assert_allclose(after[:2], before[:2] + 0.2 * heading + 0.1 * side, atol=1e-9)
    assert after[6] == pytest.approx(before[6] + np.radians(1))
    np.testing.assert_allclose(after[3:6], before[3:6] + [0.05, 0, 0.05])
    controller.perform("undo")
    controller.perform("redo")
    controller.perform("size_to_track")
    controller.perform("label_truck")
    controller.perform("save")
    saved = read_labels(controller.session.labels_path)
    tracks = saved.tracks()
    assert tracks["1"].label == "truck"
    np.testing.assert_allclose(tracks["1"].boxes[:, 3:6], np.tile(after[3:6], (5, 1)))
    first = saved.frames[0].cuboids[0]
    assert first.source == "human" and first.attributes["edited_by"] == "alice"
    operations = [edit["operation"] for edit in saved.metadata["history"][-1]["edits"]]
    assert operations == ["move_cuboid"] * 3 + ["rotate_cuboid", "resize_cuboid", "resize_cuboid", "undo", "redo", "set_track_size", "relabel"]


def test_track_level_actions(controller: ViewerController) -> None:
    controller.go_to_frame(1)
    controller.perform("select_next")  # track 1
    controller.perform("keyframe")
    controller.perform("last_frame")
    controller.select("1")
    controller.perform("move_left")
    controller.perform("interpolate")
    assert "interpolated track 1" in controller.message
    controller.perform("accept")
    assert all("review" in cuboid.attributes for frame in controller.session.labels.frames for cuboid in frame.cuboids if cuboid.track_id == "1")
    controller.go_to_frame(2)
    controller.select("1")
    controller.perform("split")
    new_track = controller.selected_track
    assert new_track == "3"
    controller.perform("merge")  # mark the split-off part
    controller.go_to_frame(1)
    controller.select("1")
    controller.perform("merge")  # fold track 1 into it
    assert "1" not in controller.session.labels.tracks() and len(controller.session.labels.tracks()["3"]) == 5
    controller.perform("trim_after")  # at sweep 1: keep sweeps 0-1 of track 3
    assert len(controller.session.labels.tracks()["3"]) == 2
    controller.perform("trim_before")  # keep sweep 1 only
    assert controller.session.labels.tracks()["3"].timestamps_us.tolist() == [controller.timestamp_us]
    controller.perform("reject")
    assert "3" not in controller.session.labels.tracks()
    controller.go_to_frame(2)
    controller.select("2")
    controller.perform("delete_cuboid")
    controller.go_to_frame(1)
    controller.select("2")
    controller.perform("delete_track")
    assert controller.session.labels.num_cuboids() == 0


def test_errors_become_messages(controller: ViewerController) -> None:
    assert controller.perform("move_forward") == Change.NONE
    assert controller.message.startswith("cannot move the box") and "select a cuboid first" in controller.message
    controller.perform("select_next")
    assert controller.perform("interpolate") == Change.NONE and "keyframe" in controller.message
    with pytest.raises(ValueError, match="unknown viewer action"):
        controller.perform("teleport")


def test_fit_uses_the_sweep_points(tmp_path: Path) -> None:
    from tinylog import write_tiny_log

    log = write_tiny_log(tmp_path / "tiny.h5")
    labels_path = tmp_path / "labels.json"
    controller = ViewerController.open(log, None, "alice", prefetch=False)
    frame = controller.frame
    # a big box around some of the (sparse, random) test points
    target = frame.points_world[np.argmax(frame.points_world[:, 2] > 2)]
    controller.close()
    truth = read_labels(default_labels_path(log))
    box = Cuboid("x", "9", "other", [target[0], target[1], target[2]], [12.0, 12.0, 12.0], 0.0)
    write_labels(labels_path, Labels((LabelFrame(truth.frames[0].timestamp_us, (box,)),) + truth.frames[1:]))
    controller = ViewerController.open(log, labels_path, "alice", prefetch=False)
    controller.select("9")
    assert controller.perform("fit") & Change.LABELS, controller.message
    fitted = controller.selected_cuboid()
    assert fitted.attributes["review"] == "corrected" and fitted.num_points >= 1
    controller.close()


def test_the_journal_replays_into_a_reopened_viewer(tiny_log: Path) -> None:
    controller = ViewerController.open(tiny_log, None, "alice", prefetch=False)
    controller.perform("select_next")
    controller.perform("move_forward")
    moved = controller.selected_cuboid().box
    controller.session.close()  # the viewer died: nothing saved
    reopened = ViewerController.open(tiny_log, None, "alice", prefetch=False)
    assert reopened.message.startswith("recovered 1 unsaved edit")
    assert reopened.selected_track == "1"  # the selection comes back too
    np.testing.assert_allclose(reopened.selected_cuboid().box, moved)
    kinds = [entry["kind"] for entry in read_journal(reopened.session.journal_path).entries]
    assert kinds.count("open") == 2
    reopened.close()


def test_pictures(controller: ViewerController) -> None:
    frame = controller.frame
    cuboids = controller.cuboids()
    for mode in drawing.COLOR_MODES:
        colors = drawing.point_colors(frame, mode, cuboids)
        assert colors.shape == (len(frame.points_world), 3) and colors.dtype == np.float32
        assert 0.0 <= colors.min() and colors.max() <= 1.0
    inside = drawing.points_in_boxes(frame.points_world, [cuboids[0].box])[0]
    brute = [index for index, point in enumerate(frame.points_world) if _inside(point, cuboids[0].box)]
    assert sorted(inside.tolist()) == brute
    vertices, lines, colors = drawing.cuboid_lines(cuboids)
    assert vertices.shape == (10, 3) and lines.shape == (15, 2) and colors.shape == (15, 3)
    assert lines.max() == 9
    camera = frame.cameras[0]
    plain = drawing.camera_overlay(camera, frame, ())
    boxed = drawing.camera_overlay(camera, frame, cuboids)
    selected = drawing.camera_overlay(camera, frame, cuboids, selected_track="1")
    assert plain.shape == camera.image.shape
    assert (boxed != plain).any() and (selected != boxed).any()
    controller.perform("select_next")
    controller.perform("keyframe")
    strip = drawing.timeline(controller.session.labels, "1", controller.frames.timestamps_us, 4, width=100)
    assert strip.shape == (46, 100, 3)
    assert tuple(strip[30, 10]) == drawing.TIMELINE_COLORS["accepted"]  # sweep 0: marked, so vouched for
    assert tuple(strip[8, 12]) == (255, 255, 255)  # its keyframe tick
    assert tuple(strip[30, 50]) == drawing.TIMELINE_COLORS[None]  # sweep 2: the machine's, unreviewed
    assert tuple(strip[30, 90]) == (230, 40, 40)  # the current sweep


def _inside(point: np.ndarray, box: np.ndarray) -> bool:
    offset = point.astype(np.float64) - box[:3]
    cos, sin = np.cos(box[6]), np.sin(box[6])
    return abs(offset[0] * cos + offset[1] * sin) <= box[3] / 2 and abs(-offset[0] * sin + offset[1] * cos) <= box[4] / 2 and abs(offset[2]) <= box[5] / 2


def test_read_ahead_fetches_the_next_queue_item_and_the_neighbours(tiny_log: Path) -> None:
    controller = ViewerController.open(tiny_log, None, "alice", prefetch=True)
    try:
        controller.perform("next_in_queue")
        queue = controller.queue()
        tracks = [item.track_id for item in queue]
        following = queue[(tracks.index(controller.selected_track) + 1) % len(queue)]
        expected = {controller.sweep_at(following.timestamp_us), controller.frame_index + 1, controller.frame_index - 1}
        expected = {index for index in expected if 0 <= index < len(controller.frames) and index != controller.frame_index}
        for future in list(controller.frames._pending.values()):
            future.result()
        cached = set(controller.frames._cache)
        assert controller.frame_index in cached and expected <= cached
        # a planned read is dropped when the plan changes; the frames read are the same as read directly
        controller.frames.read_ahead([])
        assert not [future for future in controller.frames._pending.values() if not future.done()]
        from avlabel.io.logstore import DriveLog
        from avlabel.viewer.frames import LogFrames

        with DriveLog(tiny_log) as log:
            direct = LogFrames(log, prefetch=False)
            for index in cached:
                np.testing.assert_array_equal(controller.frames.frame(index).points_world, direct.frame(index).points_world)
    finally:
        controller.close()


def test_pictures_read_ahead_are_the_ones_drawn_directly(tiny_log: Path) -> None:
    """After a step the next sweep (the same step again) is read and its pictures drawn in
    the background, for the selection and modes of the moment; going there shows exactly
    those, equal to drawing them now."""
    controller = ViewerController.open(tiny_log, None, "alice", prefetch=True)
    try:
        controller.perform("select_next")
        controller.perform("next_frame")  # 0 -> 1: sweep 2 is the likeliest next
        for future in list(controller.frames._pending.values()):
            future.result()
        assert 2 in controller.frames._plan and controller.frames.ready(2)
        controller.perform("next_frame")
        prepared = controller.pictures()
        with controller._pictures_lock:
            assert any(entry[1] is prepared for entry in controller._pictures.values())
        frame, cuboids = controller.frame, controller.cuboids()
        np.testing.assert_array_equal(prepared.point_colors, drawing.point_colors(frame, controller.color_mode, cuboids))
        for camera in frame.cameras:
            direct = drawing.camera_overlay(camera, frame, cuboids, selected_track=controller.selected_track, points=True)
            np.testing.assert_array_equal(prepared.cameras[camera.name], direct)
        controller.perform("camera_points")  # another state: drawn again, without the points
        assert controller.pictures() is not prepared
        np.testing.assert_array_equal(
            controller.pictures().cameras[frame.cameras[0].name],
            drawing.camera_overlay(frame.cameras[0], frame, cuboids, selected_track=controller.selected_track, points=False),
        )
    finally:
        controller.close()


def test_a_read_ahead_no_longer_asked_for_stops_and_caches_nothing(tiny_log: Path) -> None:
    import threading
    import time

    from avlabel.io.logstore import DriveLog
    from avlabel.viewer.frames import LogFrames

    with DriveLog(tiny_log) as log:
        frames = LogFrames(log, prefetch=True)
        reading, release = threading.Event(), threading.Event()
        read = frames.sync.frame

        def held(index: int):  # type: ignore[no-untyped-def]
            if index == 3:
                reading.set()
                release.wait(5.0)
            return read(index)

        frames.sync.frame = held
        try:
            frames.read_ahead([3])
            assert reading.wait(5.0) and frames.reading == 3
            frames.read_ahead([1])  # the slider moved on while sweep 3 was being read
            release.set()
            deadline = time.monotonic() + 5.0
            while not frames.ready(1) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert frames.ready(1) and not frames.ready(3) and 3 not in frames._cache and frames.reading is None
        finally:
            release.set()
            frames.close()


def test_a_read_ahead_dropped_while_its_cameras_are_read_starts_no_other_camera_and_draws_no_pictures(tiny_log: Path) -> None:
    """Three cameras on two camera threads: the slider moves on while the first two of
    sweep 3 are being decoded; the third is not started, the sweep's pictures are not drawn,
    and the sweep the slider is at is read and drawn."""
    import threading
    import time

    from avlabel.io.logstore import DriveLog
    from avlabel.viewer.frames import LogFrames

    with DriveLog(tiny_log) as log:
        frames = LogFrames(log, cameras=["camera_front"] * 3, prefetch=True)  # the tiny log has one camera: three views of it
        started, release = threading.Semaphore(0), threading.Event()
        camera, cameras_started, prepared = frames._camera, [], []

        def held(synced, name, points_ego):  # type: ignore[no-untyped-def]
            cameras_started.append(synced.index)
            if synced.index == 3:
                started.release()
                release.wait(5.0)
            return camera(synced, name, points_ego)

        frames._camera = held
        try:
            frames.read_ahead([3], prepare=lambda view: prepared.append(view.index))
            assert started.acquire(timeout=5.0) and started.acquire(timeout=5.0)  # two cameras of sweep 3 under way
            frames.read_ahead([1], prepare=lambda view: prepared.append(view.index))  # the slider moved on
            release.set()
            deadline = time.monotonic() + 5.0
            while not frames.ready(1) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert frames.ready(1) and not frames.ready(3)
            assert cameras_started.count(3) == 2 and cameras_started.count(1) == 3
            assert prepared == [1]
        finally:
            release.set()
            frames.close()


def test_dragging_the_selected_cuboid_moves_it_along_the_ground_in_one_edit(controller: ViewerController) -> None:
    controller.perform("select_next")
    cuboid = controller.selected_cuboid()
    outside = cuboid.center + np.array([cuboid.size[0] + 5.0, cuboid.size[1] + 5.0, 0.0])
    assert not controller.begin_drag(outside)  # a press beside the box does not grab it
    start = cuboid.center + np.array([0.5, -0.2, -cuboid.center[2]])  # on the ground, in its footprint
    assert controller.begin_drag(start)
    controller.drag_to(start + [1.0, 0.5, 0.0])
    controller.drag_to(start + [2.0, -1.0, 3.0])  # the ground point's height does not lift it
    shown = next(shown for shown in controller.shown_cuboids() if shown.track_id == cuboid.track_id)
    np.testing.assert_allclose(shown.center, cuboid.center + [2.0, -1.0, 0.0])
    np.testing.assert_allclose(controller.selected_cuboid().center, cuboid.center)  # not an edit yet
    edits = len(controller.session._undo)
    assert controller.end_drag() & Change.LABELS
    np.testing.assert_allclose(controller.selected_cuboid().center, cuboid.center + [2.0, -1.0, 0.0])
    assert len(controller.session._undo) == edits + 1 and not controller.dragging
    controller.perform("undo")
    np.testing.assert_allclose(controller.selected_cuboid().center, cuboid.center)
    assert controller.begin_drag(start)  # a click without moving is no edit
    assert controller.end_drag() == Change.SELECTION and len(controller.session._undo) == edits


def test_the_status_bar_shows_how_much_of_the_log_is_in_memory(tiny_log: Path) -> None:
    import time

    controller = ViewerController.open(tiny_log, None, "alice", prefetch=True)
    try:
        deadline = time.monotonic() + 10.0
        while controller.frames.memory().state != "complete" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "  |  in memory 5/5 sweeps  |  " in controller.status()
    finally:
        controller.close()
    without = ViewerController.open(tiny_log, None, "bob", prefetch=False)
    try:
        assert "in memory" not in without.status()  # no idle reader: nothing to report
    finally:
        without.close()
