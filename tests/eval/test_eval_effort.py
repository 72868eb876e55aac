"""Annotation effort: the keyframe kernel against brute force, and hand-built tracks whose
edits are known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from avlabel.eval import kernels
from avlabel.eval.evaluate import evaluate
from avlabel.geometry.iou import iou_3d
from avlabel.structs import Cuboid, LabelFrame, Labels

FRAMES = 20


def _edited(base, truth, times, sizes, keyframes):
    """Slow twin of the correction model: offsets at keyframes, linear between, held outside."""
    offsets = np.column_stack([truth[:, :3] - base[:, :3], np.arctan2(np.sin(truth[:, 6] - base[:, 6]), np.cos(truth[:, 6] - base[:, 6]))])
    edited = np.empty_like(truth)
    for frame in range(len(truth)):
        if not keyframes:
            offset = np.zeros(4)
        elif frame <= keyframes[0]:
            offset = offsets[keyframes[0]]
        elif frame >= keyframes[-1]:
            offset = offsets[keyframes[-1]]
        else:
            right = next(key for key in keyframes if key >= frame)
            left = max(key for key in keyframes if key <= frame)
            weight = 0.0 if right == left else (times[frame] - times[left]) / (times[right] - times[left])
            offset = (1 - weight) * offsets[left] + weight * offsets[right]
        edited[frame, :3] = base[frame, :3] + offset[:3]
        edited[frame, 3:6] = sizes[frame]
        edited[frame, 6] = base[frame, 6] + offset[3]
    return edited


def _brute_force(base, truth, times, sizes, threshold, allow_none):
    for count in range(0 if allow_none else 1, len(truth) + 1):
        for keyframes in itertools.combinations(range(len(truth)), count):
            if (iou_3d(_edited(base, truth, times, sizes, list(keyframes)), truth) >= threshold - 1e-12).all():
                return count
    return len(truth) + 1


def test_minimum_keyframes_equals_brute_force():
    rng = np.random.default_rng(11)
    seen = set()
    for trial in range(40):
        count = int(rng.integers(1, 8))
        times = np.cumsum(rng.uniform(0.05, 0.2, count))
        truth = np.column_stack([
            np.cumsum(rng.normal(0.8, 0.3, count)), rng.normal(0, 0.2, count), np.full(count, 0.8),
            np.full(count, 4.5), np.full(count, 1.9), np.full(count, 1.6), rng.normal(0, 0.05, count),
        ])
        base = truth.copy()
        base[:, :2] += rng.normal(0, 0.3 * (trial % 4), (count, 2)) + (trial % 3) * 0.5
        base[:, 6] += rng.normal(0, 0.1, count)
        sizes = truth[:, 3:6].copy()
        for allow_none in (True, False):
            expected = _brute_force(base, truth, times, sizes, 0.7, allow_none)
            assert kernels._minimum_keyframes(truth, base, times, sizes, 0.7, allow_none) == expected, (trial, allow_none)
            seen.add(expected)
    assert {0, 1, 2, 3} <= seen  # the trials cover no edit, a shift, a ramp and more


def _track(prefix, label, boxes, start=0, source="truth"):
    return {start + index: Cuboid(f"{prefix}-{start + index}", prefix, label, box[:3], box[3:6], box[6], source=source, score=0.8) for index, box in enumerate(boxes)}


def _scene(*tracks):
    frames = []
    for frame in range(FRAMES):
        frames.append(LabelFrame(1_000_000 + 100_000 * frame, tuple(track[frame] for track in tracks if frame in track)))
    return Labels(tuple(frames))


def _straight(y=0.0, speed=1.0, size=(4.5, 1.9, 1.6)):
    x = np.arange(FRAMES) * speed * 0.1
    return np.column_stack([x, np.full(FRAMES, y), np.full(FRAMES, 0.8), np.tile(size, (FRAMES, 1)), np.zeros(FRAMES)])


def test_hand_built_tracks_need_the_expected_edits():
    car, van, walker = _straight(0.0), _straight(8.0), _straight(-8.0, size=(0.7, 0.7, 1.8))
    truth = _scene(_track("car", "car", car), _track("van", "car", van), _track("walker", "pedestrian", walker))
    shifted = car.copy()
    shifted[:, 0] += 1.2  # 1.2 m too far forward on every frame: one keyframe fixes the whole track
    drifting = van.copy()
    drifting[:, 1] += np.linspace(0.0, 1.5, FRAMES)  # drifts sideways: two keyframes
    drifting[:, 3] = 3.0  # and far too short: a size edit
    walker_as_cyclist = walker[5:]  # starts late, wrong class
    labels = _scene(
        _track("a", "car", shifted, source="auto"),
        _track("b", "car", drifting, source="auto"),
        _track("c", "cyclist", walker_as_cyclist, start=5, source="auto"),
        _track("ghost", "car", _straight(20.0), source="auto"),  # no truth: one delete
    )
    effort = evaluate(labels, truth).effort
    by_track = {track.truth_track_id: track for track in effort.tracks}
    assert (by_track["car"].predicted_track_id, by_track["car"].keyframes, by_track["car"].size_edit, by_track["car"].edits) == ("a", 1, False, 1)
    assert (by_track["van"].keyframes, by_track["van"].size_edit, by_track["van"].edits) == (2, True, 3)
    walker_effort = by_track["walker"]
    assert (walker_effort.class_edit, walker_effort.trims, walker_effort.size_edit) == (True, 0, False)
    # Frames 0-4 have no label; holding the first labelled box leaves them 0.1-0.5 m behind, so
    # the correction ramps from a keyframe at 0 to one at 5.
    assert walker_effort.keyframes == 2 and walker_effort.edits == 3
    assert effort.deleted_tracks == 1 and effort.created_tracks == 0
    assert effort.total_edits == 1 + 3 + 3 + 1
    assert effort.edits_per_track == pytest.approx(8 / 3)
    # Walker frames 5.. fit but carry the wrong class; the others are off by more than IoU 0.7.
    assert effort.no_edit_cuboids == 0 and effort.no_edit_share == 0.0


def test_perfect_labels_need_nothing_and_missing_tracks_are_drawn():
    car = _straight(0.0, speed=10.0)
    truth = _scene(_track("car", "car", car), _track("other", "car", _straight(10.0)))
    labels = _scene(_track("a", "car", car, source="auto"))
    effort = evaluate(labels, truth).effort
    by_track = {track.truth_track_id: track for track in effort.tracks}
    assert by_track["car"].edits == 0
    # The missed slow car is drawn from keyframes: first and last, interpolated between.
    assert by_track["other"].predicted_track_id is None and by_track["other"].keyframes == 2
    assert effort.no_edit_share == pytest.approx(0.5)
    assert effort.created_tracks == 1 and effort.total_edits == 2
