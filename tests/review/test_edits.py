"""Every review operation, applied through a session: what it changes, what it records,
and the clear errors it gives when it does not fit the labels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from avlabel.io.labels_file import labels_to_document
from avlabel.review import (
    AcceptProposal,
    CreateCuboid,
    DeleteCuboid,
    DeleteTrack,
    EditContext,
    FitBoxToPoints,
    InterpolateTrack,
    MarkKeyframe,
    MergeTracks,
    MoveCuboid,
    RejectProposal,
    Relabel,
    ResizeCuboid,
    ReviewError,
    ReviewSession,
    RotateCuboid,
    Select,
    SetBox,
    SetTrackSize,
    SplitTrack,
    TrimTrack,
    apply_operation,
    default_box_at,
)
from avlabel.structs import LABELS_SCHEMA
from review_scenes import FakeClock, make_labels, stamps

T = [int(stamp) for stamp in stamps(10)]


@pytest.fixture
def session(tmp_path: Path) -> ReviewSession:
    opened = ReviewSession.create(tmp_path / "labels.json", make_labels(), annotator="alice", clock=FakeClock())
    yield opened
    opened.close()


def test_select_points_at_a_cuboid_without_editing(session: ReviewSession) -> None:
    before = session.labels
    session.apply(Select(T[2], "1"))
    assert session.selection == (T[2], "1")
    assert session.selected_cuboid().id == "car-2"
    assert session.labels.frames == before.frames
    assert not session.can_undo and not session.dirty
    with pytest.raises(ReviewError, match="tracks in that frame: 1, 2"):
        session.apply(Select(T[0], "3"))


def test_move_rotate_resize_stamp_the_cuboid(session: ReviewSession) -> None:
    session.apply(MoveCuboid(T[1], "1", (0.5, -0.25, 0.1)))
    session.apply(RotateCuboid(T[1], "1", 0.2))
    session.apply(ResizeCuboid(T[1], "1", (0.3, -0.1, 0.4)))
    cuboid = session.cuboid(T[1], "1")
    np.testing.assert_allclose(cuboid.center, [1.5, -0.25, 0.9 + 0.2])
    np.testing.assert_allclose(cuboid.size, [4.8, 1.8, 2.0])
    assert cuboid.yaw == pytest.approx(0.2)
    assert cuboid.center[2] - cuboid.size[2] / 2 == pytest.approx(0.1)  # height grew upwards from the moved bottom
    assert cuboid.source == "human"
    assert cuboid.attributes["review"] == "corrected"
    assert cuboid.attributes["edited_by"] == "alice"
    assert cuboid.attributes["keyframe"] is True
    assert cuboid.attributes["auto_box"] == [1.0, 0.0, 0.8, 4.5, 1.9, 1.6, 0.0]  # the machine's box, kept once
    assert cuboid.attributes["state"] == "observed"  # the tracker's attributes stay
    untouched = session.cuboid(T[2], "1")
    assert untouched.source == "auto" and "review" not in untouched.attributes


def test_rotation_wraps_and_resize_keeps_a_positive_size(session: ReviewSession) -> None:
    session.apply(RotateCuboid(T[0], "1", 3.5))
    assert session.cuboid(T[0], "1").yaw == pytest.approx(3.5 - 2 * np.pi)
    with pytest.raises(ReviewError, match="must stay above"):
        session.apply(ResizeCuboid(T[0], "2", (0, -0.6, 0)))
    assert session.cuboid(T[0], "2").size[1] == pytest.approx(0.6)


def test_set_box(session: ReviewSession) -> None:
    session.apply(SetBox(T[3], "2", (5.5, 5.2, 0.85, 0.7, 0.7, 1.7, -0.4)))
    np.testing.assert_allclose(session.cuboid(T[3], "2").box, [5.5, 5.2, 0.85, 0.7, 0.7, 1.7, -0.4])


def test_fit_box_to_points_uses_the_points_inside_and_keeps_the_heading(session: ReviewSession, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    true_box = np.array([3.3, 0.2, 0.75, 4.2, 1.8, 1.5, 0.05])
    local = rng.uniform(-0.5, 0.5, (400, 3)) * true_box[3:6]
    cos, sin = np.cos(true_box[6]), np.sin(true_box[6])
    car = np.column_stack([local[:, 0] * cos - local[:, 1] * sin, local[:, 0] * sin + local[:, 1] * cos, local[:, 2]]) + true_box[:3]
    clutter = rng.uniform(-40, 40, (500, 3)) + [60, 60, 0]
    seen = {}

    def fitter(points: np.ndarray, hint: np.ndarray, label: str, sensor_xy) -> np.ndarray:
        seen["count"] = len(points)
        seen["label"], seen["sensor"] = label, sensor_xy
        center = (points.max(axis=0) + points.min(axis=0)) / 2
        return np.array([*center, 4.2, 1.8, 1.5, 0.05 + np.pi])  # a fitter that returns the box facing backwards

    fitting = ReviewSession.open(
        session.labels_path, annotator="alice", points=lambda stamp: np.vstack([car, clutter]), sensor=lambda stamp: np.array([-5.0, 1.0, 1.8]),
        fitter=fitter, clock=FakeClock(),
    )
    result = fitting.apply(FitBoxToPoints(T[3], "1", margin=0.5))
    cuboid = fitting.cuboid(T[3], "1")
    assert seen["count"] == np.count_nonzero(car[:, 2] - 0.0 >= 0.2)  # the points above the ground clearance
    assert seen["label"] == "car" and seen["sensor"].tolist() == [-5.0, 1.0]
    np.testing.assert_allclose(cuboid.center[:2], true_box[:2], atol=0.05)
    assert cuboid.yaw == pytest.approx(0.05)  # kept facing the way the annotator's box faced
    assert cuboid.num_points >= 300  # the points inside the fitted box (above the ground clearance)
    assert result.cuboids == ((T[3], "1"),)
    fitting.close()
    with pytest.raises(ReviewError, match="needs the log's points"):
        session.apply(FitBoxToPoints(T[3], "1"))
    with pytest.raises(ReviewError, match="ReviewSession opened with the log's points"):
        apply_operation(session.labels, FitBoxToPoints(T[3], "1"), EditContext("alice", "2024-05-01T09:00:00+00:00"))


def test_fit_box_refuses_an_empty_box(session: ReviewSession) -> None:
    fitting = ReviewSession.open(session.labels_path, annotator="alice", points=lambda stamp: np.zeros((0, 3)))
    with pytest.raises(ReviewError, match="only 0 LiDAR point"):
        fitting.apply(FitBoxToPoints(T[3], "1"))
    fitting.close()


def test_fit_box_with_the_proposal_stage_fitter(session: ReviewSession) -> None:
    """The default fitter: an L of points (the two sides the LiDAR saw) of a 4.4 x 1.8 m car,
    an annotator's box 0.3 m and 0.1 rad off; the fit snaps onto the visible sides."""
    rng = np.random.default_rng(0)
    yaw, length, width = 0.3, 4.4, 1.8
    side = np.column_stack([rng.uniform(-0.5, 0.5, 300) * length, np.full(300, -width / 2)])
    rear = np.column_stack([np.full(120, -length / 2), rng.uniform(-0.5, 0.5, 120) * width])
    rotation = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
    xy = np.vstack([side, rear]) @ rotation.T + [4.0, 0.5]
    ground = np.column_stack([rng.uniform(0, 8, (300, 2)) - [0, 3], np.zeros(300)])
    points = np.vstack([np.column_stack([xy, rng.uniform(0.3, 1.5, len(xy))]), ground])
    sensor = np.array([-8.0, -6.0, 1.8])  # behind and to the right: sees the rear and the right side
    fitting = ReviewSession.open(session.labels_path, annotator="alice", points=lambda stamp: points, sensor=lambda stamp: sensor)
    fitting.apply(SetBox(T[4], "1", (4.2, 0.7, 0.8, 4.5, 1.9, 1.6, 0.2)))
    fitting.apply(FitBoxToPoints(T[4], "1"))
    box = fitting.cuboid(T[4], "1").box
    fitting.close()
    rotation_back = rotation.T
    rear_right = rotation_back @ (box[:2] - [4.0, 0.5]) - [box[3] / 2, box[4] / 2]  # the seen corner, in the car's frame
    np.testing.assert_allclose(rear_right, [-length / 2, -width / 2], atol=0.08)
    assert abs(box[6] - yaw) < np.radians(2)
    assert box[3] >= 4.4 - 0.05 and box[4] >= 1.8 - 0.05  # never smaller than what was seen
    assert box[2] - box[5] / 2 == pytest.approx(0.0)  # still standing where the annotator put it
    assert box[2] + box[5] / 2 == pytest.approx(_highest_point_above_clearance(points, box), abs=1e-9)


def _highest_point_above_clearance(points: np.ndarray, box: np.ndarray) -> float:
    return float(points[points[:, 2] > 0.2, 2].max())


def test_create_a_new_track_and_extend_an_existing_one(session: ReviewSession) -> None:
    result = session.apply(CreateCuboid(T[4], default_box_at((30.0, 2.0, 0.0), "cyclist"), "cyclist"))
    (stamp, track_id), = result.cuboids
    assert stamp == T[4] and track_id == "4"  # one above the largest numeric track id
    created = session.cuboid(T[4], "4")
    assert created.id == "4@1400000" and created.source == "human" and created.score == 1.0
    assert created.attributes["review"] == "created" and created.attributes["keyframe"] is True
    session.apply(CreateCuboid(T[7], (20.0, -6.0, 0.8, 4.0, 1.8, 1.5, 0.5), "car", track_id="3"))
    assert session.cuboid(T[7], "3").id == "3@1700000"
    with pytest.raises(ReviewError, match="track '1' has two cuboids"):
        session.apply(CreateCuboid(T[0], (0, 0, 0.8, 4, 2, 1.5, 0), "car", track_id="1"))
    with pytest.raises(ReviewError, match="no frame at 1234 us"):
        session.apply(CreateCuboid(1234, (0, 0, 0.8, 4, 2, 1.5, 0), "car"))
    session.apply(MoveCuboid(T[4], "4", (1, 0, 0)))
    assert session.cuboid(T[4], "4").attributes["review"] == "created"  # still the annotator's own box


def test_delete_a_cuboid_and_a_track(session: ReviewSession) -> None:
    session.apply(DeleteCuboid(T[0], "2"))
    assert [cuboid.track_id for cuboid in session.labels.frames[0]] == ["1"]
    assert len(session.labels.tracks()["2"]) == 9
    session.apply(DeleteTrack("2"))
    assert "2" not in session.labels.tracks()
    with pytest.raises(ReviewError, match="no track '2'"):
        session.apply(DeleteTrack("2"))


def test_relabel_changes_the_whole_track(session: ReviewSession) -> None:
    result = session.apply(Relabel("1", "truck"))
    assert len(result.cuboids) == 10
    assert {cuboid.label for _, cuboid in _track(session, "1")} == {"truck"}
    assert {cuboid.attributes["review"] for _, cuboid in _track(session, "1")} == {"corrected"}


def test_accept_keeps_the_machine_box_and_source(session: ReviewSession) -> None:
    session.apply(MoveCuboid(T[0], "1", (0.2, 0, 0)))
    session.apply(AcceptProposal("1"))
    cuboids = _track(session, "1")
    assert [cuboid.attributes["review"] for _, cuboid in cuboids] == ["corrected"] + ["accepted"] * 9
    assert cuboids[1][1].source == "auto" and "auto_box" not in cuboids[1][1].attributes
    session.apply(AcceptProposal("2", T[5]))
    assert [("review" in cuboid.attributes) for _, cuboid in _track(session, "2")] == [index == 5 for index in range(10)]


def test_reject_removes_the_proposal(session: ReviewSession) -> None:
    session.apply(RejectProposal("2", T[9]))
    assert len(session.labels.tracks()["2"]) == 9
    result = session.apply(RejectProposal("3"))
    assert len(result.cuboids) == 3 and "3" not in session.labels.tracks()


def test_merge_tracks(session: ReviewSession) -> None:
    session.apply(DeleteCuboid(T[4], "2"))
    session.apply(SplitTrack("2", T[6], "20"))
    with pytest.raises(ReviewError, match="both have cuboids in 4 frame"):
        session.apply(MergeTracks("1", "20"))
    session.apply(MergeTracks("2", "20"))
    track = session.labels.tracks()["2"]
    assert len(track) == 9 and "20" not in session.labels.tracks()
    # overlap policies: keep the kept track's cuboid, or take the absorbed one's
    session.apply(MergeTracks("1", "3", "keep"))
    assert session.cuboid(T[4], "1").id == "car-4"
    session.undo()
    session.apply(MergeTracks("1", "3", "replace"))
    replaced = session.cuboid(T[4], "1")
    assert replaced.id == "weak-4" and replaced.label == "car" and replaced.attributes["review"] == "corrected"


def test_split_track(session: ReviewSession) -> None:
    result = session.apply(SplitTrack("1", T[5]))
    new_track = result.tracks[1]
    assert new_track == "4"
    tracks = session.labels.tracks()
    assert len(tracks["1"]) == 5 and len(tracks["4"]) == 5
    assert tracks["4"].timestamps_us[0] == T[5]
    with pytest.raises(ReviewError, match="leaves one part empty"):
        session.apply(SplitTrack("1", T[0]))
    with pytest.raises(ReviewError, match="is taken"):
        session.apply(SplitTrack("2", T[5], "1"))


def test_trim_track_ends(session: ReviewSession) -> None:
    session.apply(TrimTrack("1", start_us=T[2]))
    assert session.labels.tracks()["1"].timestamps_us.tolist() == T[2:]
    session.apply(TrimTrack("1", end_us=T[6]))
    assert session.labels.tracks()["1"].timestamps_us.tolist() == T[2:7]
    with pytest.raises(ReviewError, match="nothing to trim"):
        session.apply(TrimTrack("1", T[1], T[8]))
    with pytest.raises(ReviewError, match="delete or reject the track instead"):
        session.apply(TrimTrack("3", start_us=T[9]))


def test_set_track_size_is_one_operation_for_a_100_frame_track(tmp_path: Path) -> None:
    labels = make_labels(100)
    with ReviewSession.create(tmp_path / "labels.json", labels, annotator="alice") as session:
        result = session.apply(SetTrackSize("1", (4.2, 1.85, 1.45)))
        assert len(result.cuboids) == 100
        sizes = np.stack([cuboid.size for _, cuboid in _track(session, "1")])
        np.testing.assert_allclose(sizes, np.tile([4.2, 1.85, 1.45], (100, 1)))
        bottoms = [cuboid.center[2] - cuboid.size[2] / 2 for _, cuboid in _track(session, "1")]
        np.testing.assert_allclose(bottoms, 0.0, atol=1e-12)  # boxes still stand on the ground
        edits = [line for line in session.journal_path.read_text().splitlines() if '"kind":"operation"' in line]
        assert len(edits) == 1


def test_mark_keyframe_and_interpolate(session: ReviewSession) -> None:
    session.apply(MarkKeyframe(T[0], "1"))
    with pytest.raises(ReviewError, match="has 1 keyframe"):
        session.apply(InterpolateTrack("1"))
    session.apply(SetBox(T[8], "1", (8.0, 0.0, 0.8, 5.3, 1.9, 1.6, 0.0)))
    assert session.cuboid(T[0], "1").attributes["review"] == "accepted"  # marking vouches for the box as it is
    result = session.apply(InterpolateTrack("1"))
    assert [stamp for stamp, _ in result.cuboids] == T[1:8]
    for index in range(1, 8):
        cuboid = session.cuboid(T[index], "1")
        np.testing.assert_allclose(cuboid.center, [index, 0.0, 0.8], atol=1e-9)
        assert cuboid.size[0] == pytest.approx(4.5 + 0.1 * index)
        assert cuboid.attributes["review"] == "interpolated"
        np.testing.assert_allclose(cuboid.velocity, [10.0, 0.0], atol=1e-6)
    assert session.cuboid(T[9], "1").attributes.get("review") is None  # outside the keyframes: untouched
    session.apply(MarkKeyframe(T[8], "1", False))
    assert "keyframe" not in session.cuboid(T[8], "1").attributes


def test_interpolation_fills_frames_the_tracker_missed(session: ReviewSession) -> None:
    for index in (3, 4, 5):
        session.apply(DeleteCuboid(T[index], "1"))
    session.apply(MarkKeyframe(T[2], "1"))
    session.apply(MarkKeyframe(T[6], "1"))
    result = session.apply(InterpolateTrack("1"))
    assert [stamp for stamp, _ in result.cuboids] == T[3:6]
    filled = session.cuboid(T[4], "1")
    np.testing.assert_allclose(filled.center, [4.0, 0.0, 0.8])
    assert filled.id == "1@1400000" and filled.label == "car"
    assert filled.attributes["state"] == "interpolated" and filled.attributes["review"] == "interpolated"


def test_correction_mode_keeps_per_frame_detail(tmp_path: Path) -> None:
    labels = make_labels()
    frame = labels.frames[5]
    wiggled = dataclasses.replace(frame.cuboids[0], center=frame.cuboids[0].center + [0, 0.3, 0])
    labels = dataclasses.replace(labels, frames=labels.frames[:5] + (dataclasses.replace(frame, cuboids=(wiggled,) + frame.cuboids[1:]),) + labels.frames[6:])
    for mode, expected_at_wiggle in (("correction", 0.8), ("path", 0.5)):
        with ReviewSession.create(tmp_path / f"{mode}.json", labels, annotator="alice") as session:
            session.apply(SetTrackSize("1", (4.0, 1.8, 1.5)))  # a size change is not a pose correction
            session.apply(MoveCuboid(T[1], "1", (0, 0.5, 0)))  # the machine was 0.5 m off to the right
            session.apply(MoveCuboid(T[9], "1", (0, 0.5, 0)))
            session.apply(InterpolateTrack("1", mode))
            lateral = [session.cuboid(T[index], "1").center[1] for index in range(1, 10)]
            expected = [expected_at_wiggle if index == 5 else 0.5 for index in range(1, 10)]
            np.testing.assert_allclose(lateral, expected, atol=1e-9, err_msg=mode)
            bottoms = [session.cuboid(T[index], "1").center[2] - 0.75 for index in range(10)]
            np.testing.assert_allclose(bottoms, 0.0, atol=1e-9, err_msg=mode)


def test_one_correction_keyframe_shifts_the_whole_track(session: ReviewSession) -> None:
    with pytest.raises(ReviewError, match="mark at least 1"):
        session.apply(InterpolateTrack("1", "correction"))
    session.apply(MoveCuboid(T[4], "1", (0.3, -0.6, 0.0)))  # the machine's track is off by the same everywhere
    result = session.apply(InterpolateTrack("1", "correction"))
    assert len(result.cuboids) == 9  # every other cuboid of the track
    for index in range(10):
        np.testing.assert_allclose(session.cuboid(T[index], "1").center, [index + 0.3, -0.6, 0.8], atol=1e-9)
    # held beyond the keyframes: two keyframes, corrections blend between and stay outside
    session.apply(MoveCuboid(T[8], "1", (0.0, 0.4, 0.0)))
    session.apply(InterpolateTrack("1", "correction"))
    lateral = [session.cuboid(T[index], "1").center[1] for index in range(10)]
    np.testing.assert_allclose(lateral, [-0.6] * 5 + [-0.5, -0.4, -0.3, -0.2, -0.2], atol=1e-9)


def test_operations_are_pure_functions_of_labels_and_context() -> None:
    labels = make_labels()
    context = EditContext("carol", "2024-05-01T10:00:00.000+00:00")
    first = apply_operation(labels, SetTrackSize("1", (4, 2, 1.5)), context)
    second = apply_operation(labels, SetTrackSize("1", (4, 2, 1.5)), context)
    assert labels_to_document(first.labels) == labels_to_document(second.labels)
    assert first.labels.frames[0].cuboids[1] is labels.frames[0].cuboids[1]  # untouched cuboids are shared
    assert labels_to_document(labels)["schema"] == LABELS_SCHEMA


def _track(session: ReviewSession, track_id: str) -> list:
    return [(frame.timestamp_us, cuboid) for frame in session.labels.frames for cuboid in frame.cuboids if cuboid.track_id == track_id]
