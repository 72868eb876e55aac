"""The review queue: what needs a human comes first, for the right reasons."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avlabel.review import AcceptProposal, EditContext, MoveCuboid, QueueSettings, apply_operation, review_progress, review_queue
from avlabel.structs import Labels
from review_scenes import make_labels, stamps

T = [int(stamp) for stamp in stamps(10)]
CONTEXT = EditContext("alice", "2024-05-01T09:00:00.000+00:00")


def _change(labels: Labels, frame: int, track_id: str, **changes) -> Labels:
    frames = list(labels.frames)
    cuboids = tuple(dataclasses.replace(cuboid, **changes) if cuboid.track_id == track_id else cuboid for cuboid in frames[frame].cuboids)
    frames[frame] = dataclasses.replace(frames[frame], cuboids=cuboids)
    return dataclasses.replace(labels, frames=tuple(frames))


def test_weak_short_track_comes_first_with_its_reasons() -> None:
    queue = review_queue(make_labels())
    assert [item.track_id for item in queue] == ["3", "1", "2"]
    first = queue[0]
    assert set(first.reasons) == {"low_score", "few_points", "uncertain"}
    assert first.reasons[0] == "uncertain"  # the weightiest issue leads: uncertainty 0.9 (1.8x its threshold)
    assert first.timestamp_us == T[3] and first.cuboids == 3 and first.label == "car"
    assert queue[1].priority == 0.0 and queue[1].issues == ()  # clean tracks still want an accept
    assert [item.track_id for item in review_queue(make_labels(), flagged_only=True)] == ["3"]


@pytest.mark.parametrize(
    ("changes", "reason", "frame"),
    [
        ({"yaw": np.pi}, "heading_jump", 6),
        ({"size": np.array([5.6, 1.9, 1.6])}, "size_jump", 6),
        ({"center": np.array([6.0, 1.5, 0.8])}, "jerky_path", 6),
        ({"attributes": {"state": "interpolated", "uncertainty": 0.1}}, "interpolated", 6),
        ({"attributes": {"state": "smoothed", "uncertainty": 1.4}}, "uncertain", 6),
        ({"num_points": 2}, "few_points", 6),
        ({"attributes": {"state": "smoothed", "uncertainty": 0.1, "needs_review": True}}, "needs_review", 6),
    ],
)
def test_each_reason_points_at_its_frame(changes, reason, frame) -> None:
    labels = _change(make_labels(), frame, "1", **changes)
    item = next(item for item in review_queue(labels) if item.track_id == "1")
    issue = next(issue for issue in item.issues if issue.reason == reason)
    assert issue.timestamp_us == T[frame] and issue.severity >= 1.0
    assert item.priority > 0


def test_a_heading_flip_outranks_a_small_size_wobble() -> None:
    labels = _change(make_labels(), 4, "2", size=np.array([0.6, 0.72, 1.8]))
    labels = _change(labels, 5, "1", yaw=np.pi)
    order = [item.track_id for item in review_queue(labels, flagged_only=True)]
    assert order.index("1") < order.index("2")


def test_reviewed_tracks_leave_the_queue_and_count_as_progress() -> None:
    labels = make_labels()
    assert review_progress(labels).reviewed_tracks == 0
    labels = apply_operation(labels, AcceptProposal("3"), CONTEXT).labels
    labels = apply_operation(labels, MoveCuboid(T[0], "1", (0.1, 0, 0)), CONTEXT).labels
    assert [item.track_id for item in review_queue(labels)] == ["1", "2"]
    assert "3" in [item.track_id for item in review_queue(labels, include_reviewed=True)]
    progress = review_progress(labels)
    assert (progress.reviewed_tracks, progress.total_tracks, progress.reviewed_cuboids, progress.total_cuboids) == (1, 3, 4, 23)
    assert progress.fraction == pytest.approx(1 / 3)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown reason"):
        QueueSettings(weights={"vibes": 1.0})
    with pytest.raises(ValueError, match="few_points must be > 0"):
        QueueSettings(few_points=0)
    strict = QueueSettings(low_score=0.95)
    assert "low_score" in review_queue(make_labels(), strict)[0].reasons
