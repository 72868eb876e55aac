"""The viewer window under Xvfb: real key presses through its key handler, edits saved to
the labels file, a screenshot that shows the points, the boxes and the camera image.

The window runs in a child process (tests/viewer/gui_driver.py): Open3D holds its X
connection until its process ends. This test starts Xvfb itself when DISPLAY is unset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avlabel.io.labels_file import read_labels
from avlabel.viewer.display import virtual_display

HERE = Path(__file__).resolve().parent
# The tiny log's camera image: sky and road colours (tests/conftest.py).
SKY, ROAD = (120, 170, 230), (90, 90, 90)


@pytest.fixture(scope="module")
def display() -> str:
    with virtual_display() as name:
        yield name


@pytest.mark.gui
def test_keyboard_edits_reach_the_labels_file_and_the_screen(tiny_log: Path, tmp_path: Path, display: str) -> None:
    environment = dict(os.environ, DISPLAY=display, PYTHONPATH=os.pathsep.join([str(HERE.parent.parent), os.environ.get("PYTHONPATH", "")]))
    completed = subprocess.run(
        [sys.executable, str(HERE / "gui_driver.py"), str(tiny_log), str(tmp_path)],
        env=environment, capture_output=True, text=True, timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["pressed"][: len(record["keys"])] == record["keys"], record["messages"]  # every key arrived, in order

    # what the keys did: Q picked track 1 at sweep 0; W W shift+A moved it 0.2 m forward and
    # 0.5 m left, Z turned it 1 degree, I grew it 5 cm, E gave the whole track its size,
    # B unmarked the keyframe the edits had made; then on sweep 1 Tab picked track 2, Enter
    # accepted it, Ctrl+Z / Ctrl+Y undid and redid that, Ctrl+S saved.
    assert record["track"] == "1" and record["frame_before"] == 0 and record["frame_after"] == 1
    assert record["selected_after"] == "2"
    labels = read_labels(record["labels_path"])
    before = np.array(record["before"])
    heading, left = np.array([np.cos(before[6]), np.sin(before[6])]), np.array([-np.sin(before[6]), np.cos(before[6])])
    moved = labels.frames[0].cuboids[0]
    np.testing.assert_allclose(moved.center[:2], before[:2] + 0.2 * heading + 0.5 * left, atol=1e-9)
    assert moved.yaw == pytest.approx(before[6] + np.radians(1.0))
    assert moved.attributes["edited_by"] == "gui-test" and moved.source == "human" and "keyframe" not in moved.attributes
    sizes = labels.tracks()["1"].boxes[:, 3:6]
    np.testing.assert_allclose(sizes, np.tile(before[3:6] + [0.05, 0, 0], (len(sizes), 1)))
    assert all(cuboid.attributes.get("review") == "accepted" for frame in labels.frames for cuboid in frame.cuboids if cuboid.track_id == "2")
    history = labels.metadata["history"]
    operations = [edit["operation"] for record_ in history for edit in record_["edits"]]
    assert operations[:9] == ["move_cuboid"] * 3 + ["rotate_cuboid", "resize_cuboid", "set_track_size", "mark_keyframe", "accept", "undo"]
    assert "redo" in operations
    assert record["dirty_before_close"] is False  # Ctrl+S saved everything

    # the mouse: Ctrl+Shift+click made a car standing where the pointer met the ground,
    # Ctrl+click on the same spot selected it; Ctrl+Z took it out again
    assert len(record["created"]) == 1 and record["clicked_selection"] == record["created"][0]
    np.testing.assert_allclose(record["created_center"][:2], record["click_ground_point"][:2], atol=1e-6)
    assert record["created"][0] not in labels.tracks()
    # Ctrl+drag from there moved it along the ground as far as the pointer went (one edit,
    # undone with the creation by two Ctrl+Z)
    assert record["drag_message"].startswith(f"moved track {record['created'][0]}"), record["drag_message"]
    np.testing.assert_allclose(np.array(record["dragged_center"][:2]) - record["created_center"][:2], record["drag_ground_offset"][:2], atol=1e-6)
    assert record["dragged_center"][2] == pytest.approx(record["created_center"][2])

    # handlers called directly, as buttons do
    assert record["color_mode"] == "intensity"
    assert record["ground_point"] is not None and record["ground_point"][2] == pytest.approx(record["ground_z"], abs=1e-3)
    assert "reviewed 2/2 tracks (100%)" in record["status"]  # E touched all of track 1, Enter accepted track 2

    # the screenshot: 3D points and boxes on the left, the camera image on the right
    image = _read_png(tmp_path / "viewer.png")
    assert image.shape == (1000, 1600, 3) and record["screenshot"] == [1000, 1600, 3]
    scene, panel = image[:900, :1000].astype(int), image[:320, 1070:].astype(int)
    colors, counts = np.unique(scene.reshape(-1, 3), axis=0, return_counts=True)
    background = colors[np.argmax(counts)]  # the dark backdrop (as the renderer grades it)
    assert background.sum() < 120
    assert (np.abs(scene - background).sum(axis=2) > 60).mean() > 0.002  # points and lines drawn
    assert (scene.sum(axis=2) > 450).sum() > 200  # the selected box, near white and thick
    assert (np.abs(panel.astype(int) - SKY).sum(axis=2) < 30).mean() > 0.2  # the camera image's sky
    assert (np.abs(panel.astype(int) - ROAD).sum(axis=2) < 30).mean() > 0.1  # and its road


def write_dense_log(path: Path, *, sweeps: int = 6, points: int = 120_000) -> Path:
    """A log like the tiny one (tests/tinylog.py) with denser sweeps: buffers this large are
    returned to the system when freed, so reading them after that crashes, as it did."""
    from tinylog import make_calibrations, make_truth

    from avlabel.io.logstore import DriveLogWriter
    from avlabel.structs import CameraImage, LidarSweep, PoseSeries

    rng = np.random.default_rng(3)
    stamps = 1_000_000 + np.arange(sweeps, dtype=np.int64) * 100_000
    with DriveLogWriter(path, name=path.stem, description="dense test log", origin_lat_lon_alt=(48.1, 11.5, 520.0)) as log:
        for calibration in make_calibrations():
            if calibration.kind in ("lidar", "camera"):
                log.add_calibration(calibration)
        for stamp in stamps:
            cloud = np.column_stack([
                rng.uniform(-40, 40, (points, 2)), rng.uniform(-1.5, 2.5, points), rng.uniform(0, 1, points),
                rng.uniform(-50_000, 50_000, points), rng.integers(0, 32, points),
            ]).astype(np.float32)
            log.add_lidar_sweep(LidarSweep("lidar_top", int(stamp), cloud))
            image = np.zeros((200, 320, 3), np.uint8)
            image[:100], image[100:] = SKY, ROAD
            log.add_camera_image(CameraImage("camera_front", int(stamp) - 3100 + 20_000, image), encoding="png")
        pose_stamps = np.arange(stamps[0] - 100_000, stamps[-1] + 100_000, 10_000, dtype=np.int64)
        world_from_ego = np.tile(np.eye(4), (len(pose_stamps), 1, 1))
        world_from_ego[:, 0, 3] = (pose_stamps - pose_stamps[0]) * 1e-5  # 10 m/s along x
        log.set_poses(PoseSeries(pose_stamps, world_from_ego))
        log.set_truth(make_truth(stamps))
    return path


@pytest.mark.gui
def test_sweeps_switched_back_to_back_are_drawn_and_do_not_crash_the_viewer(tmp_path: Path, display: str) -> None:
    """Faster than the software renderer draws (as when dragging the slider): Open3D reads
    the points after the call that hands them over returns, and used to read freed memory
    (a segfault in Filament's render thread); and the renderer skips drawing while it is
    busy, which used to leave an older sweep on the screen once the switching stopped."""
    log = write_dense_log(tmp_path / "dense.h5")
    environment = dict(os.environ, DISPLAY=display, PYTHONPATH=os.pathsep.join([str(HERE.parent), str(HERE.parent.parent), os.environ.get("PYTHONPATH", "")]))
    completed = subprocess.run(
        [sys.executable, str(HERE / "switch_driver.py"), str(log), str(tmp_path), "switch", "60"],
        env=environment, capture_output=True, text=True, timeout=240,
    )
    assert completed.returncode == 0, f"exit code {completed.returncode}: {completed.stderr[-3000:]}"
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["frame_index"] == 60 % 6
    assert record["drawn_pixels"] > 1000  # the sweep's points are there
    assert record["stale_pixels"] == 0, record  # and they are the last sweep's


@pytest.mark.gui
@pytest.mark.parametrize("mode", ["drag", "hold"])
def test_dragging_the_slider_or_holding_a_step_key_reads_where_it_is_not_every_sweep_passed(tmp_path: Path, display: str, mode: str) -> None:
    """Reads slowed to 150 ms, the slider moved a sweep every 20 ms across 11 sweeps (or
    '.' held down, repeating every 20 ms): the sweeps passed while a read was under way are
    dropped (not read at all, or their read stopped), the view follows with what was read,
    and it ends where the slider (or the last repeat) is, without running on."""
    log = write_dense_log(tmp_path / "dense.h5", sweeps=12, points=20_000)
    environment = dict(os.environ, DISPLAY=display, PYTHONPATH=os.pathsep.join([str(HERE.parent), str(HERE.parent.parent), os.environ.get("PYTHONPATH", "")]))
    completed = subprocess.run(
        [sys.executable, str(HERE / "switch_driver.py"), str(log), str(tmp_path), mode],
        env=environment, capture_output=True, text=True, timeout=240,
    )
    assert completed.returncode == 0, f"exit code {completed.returncode}: {completed.stderr[-3000:]}"
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["frame_index"] == record["last"] == 11
    passed = record["read"][: record["read"].index(11)]  # read before the slider's sweep (afterwards: its neighbours, ahead)
    assert len(passed) <= 5, record  # of the 10 sweeps passed
    assert record["shown"] == sorted(record["shown"]) and record["shown"][-1] == 11, record  # the view only moves on


@pytest.mark.gui
def test_a_sweep_the_slider_moved_to_is_drawn_again_soon_in_case_the_renderer_skipped_it(tmp_path: Path, display: str) -> None:
    """The slider's sweep is shown while the renderer may be busy with the frames the mouse
    motion asked for (Filament then skips the draw), so the window draws again SETTLE_S
    later, not only SAFETY_SETTLE_S later: the screen used to keep the previous sweep for
    a second after a short drag that showed nothing on the way."""
    from avlabel.viewer.app import SETTLE_S

    log = write_dense_log(tmp_path / "dense.h5", sweeps=6, points=20_000)
    environment = dict(os.environ, DISPLAY=display, PYTHONPATH=os.pathsep.join([str(HERE.parent), str(HERE.parent.parent), os.environ.get("PYTHONPATH", "")]))
    completed = subprocess.run(
        [sys.executable, str(HERE / "switch_driver.py"), str(log), str(tmp_path), "slider"],
        env=environment, capture_output=True, text=True, timeout=240,
    )
    assert completed.returncode == 0, f"exit code {completed.returncode}: {completed.stderr[-3000:]}"
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["frame_index"] == record["last"]
    assert record["redraw_in"] <= SETTLE_S + 0.05, record


def _read_png(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} is not a readable PNG"
    return image[:, :, ::-1]


SAMPLE_LOG = HERE.parent.parent / "sample_data" / "town_seed7.h5"


@pytest.mark.gui
@pytest.mark.skipif(not SAMPLE_LOG.exists(), reason="sample_data/town_seed7.h5 not present")
def test_view_command_screenshots_the_sample_log(tmp_path: Path, display: str) -> None:
    """`avlabel view LOG --screenshot PNG` on the committed sample log: the first review-queue
    track selected, the window saved; the labels file is the log's truth, unchanged."""
    log = tmp_path / "town.h5"
    log.symlink_to(SAMPLE_LOG)
    environment = dict(os.environ, DISPLAY=display)
    completed = subprocess.run(
        [sys.executable, "-m", "avlabel.cli", "view", str(log), "--annotator", "ci", "--memory-gib", "0.5", "--screenshot", str(tmp_path / "view.png")],
        env=environment, capture_output=True, text=True, timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "labels in" in completed.stdout
    labels = read_labels(tmp_path / "town.labels.json")  # started from the log's truth, beside the log
    assert labels.metadata["started_from"] == "truth" and labels.num_cuboids() == 2728
    image = _read_png(tmp_path / "view.png").astype(int)
    assert image.shape == (1000, 1600, 3)
    scene, cameras = image[:900, :1000], image[:900, 1110:]
    assert (scene.sum(axis=2) > 150).mean() > 0.02  # a 32-beam sweep's points and boxes
    assert cameras.std() > 30  # three camera images, not a flat panel
