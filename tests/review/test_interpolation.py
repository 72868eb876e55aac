"""Keyframe interpolation in the world frame, on a moving and turning ego, and how many
keyframes an annotator needs to fix a track against truth."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from avlabel.review import InterpolateTrack, ReviewSession, SetBox, SetTrackSize, interpolate_path, plan_keyframes
from avlabel.review.interpolation import box_errors, interpolate_track_boxes
from avlabel.structs import Cuboid, LabelFrame, Labels, wrap_angle
from review_scenes import stamps, turning_ego

logger = logging.getLogger(__name__)


def test_keyframes_come_back_exactly_and_two_keys_give_a_straight_line() -> None:
    keys = np.array([0, 1_000_000])
    heading = np.arctan2(5, 10)
    for yaw in (heading, heading + np.pi, 1.5):  # driving forwards, reversing, side-stepping
        boxes = np.array([[0, 0, 1, 4, 2, 1.5, yaw], [10, 5, 1, 4, 2, 1.5, yaw]])
        result = interpolate_path(keys, boxes, np.array([0, 250_000, 500_000, 1_000_000]))
        np.testing.assert_allclose(result[0], boxes[0])
        np.testing.assert_allclose(result[-1], boxes[1])
        np.testing.assert_allclose(result[1], [2.5, 1.25, 1, 4, 2, 1.5, wrap_angle(yaw)], atol=1e-12)
        np.testing.assert_allclose(result[2], [5, 2.5, 1, 4, 2, 1.5, wrap_angle(yaw)], atol=1e-12)
    sizes = interpolate_path(keys, np.array([[0, 0, 1, 4, 2, 1.5, 0.0], [0, 0, 1, 5, 2, 1.5, 0.5]]), np.array([500_000]))[0]
    np.testing.assert_allclose(sizes[3:], [4.5, 2, 1.5, 0.25])


@pytest.mark.parametrize("heading", ["along the motion", "across the motion"])
def test_constant_acceleration_is_reproduced_exactly(heading: str) -> None:
    times = np.arange(0, 3_000_001, 100_000)
    seconds = times / 1e6
    truth = np.zeros((len(times), 7))
    travelled = 2.0 * seconds + 0.5 * 1.5 * seconds**2
    truth[:, 3:6] = (4.5, 1.9, 1.6)
    if heading == "along the motion":  # a car speeding up on a straight road
        truth[:, 0], truth[:, 1] = travelled * np.cos(0.4), travelled * np.sin(0.4)
        truth[:, 6] = 0.4
    else:  # something sliding sideways while slowly turning
        truth[:, 0], truth[:, 1] = travelled, -0.4 * seconds**2
        truth[:, 6] = 1.5 + 0.2 * seconds
    truth[:, 2] = 0.8 + 0.1 * seconds**2
    keys = [0, 7, 30]  # unevenly spaced
    result = interpolate_path(times[keys], truth[keys], times)
    np.testing.assert_allclose(result, truth, atol=1e-9)


def test_a_steady_turn_is_traced_from_its_two_ends() -> None:
    times = np.arange(0, 3_000_001, 100_000)
    seconds = times / 1e6
    radius, rate = 12.0, (np.pi / 2) / 3.0  # a quarter circle in 3 s
    truth = np.column_stack([radius * np.sin(rate * seconds), radius * (1 - np.cos(rate * seconds)), np.full(len(times), 0.8),
                             np.tile([4.5, 1.9, 1.6], (len(times), 1)), rate * seconds])
    result = interpolate_path(times[[0, -1]], truth[[0, -1]], times)
    distance, heading = box_errors(result, truth)
    assert distance.max() < 0.1 and heading.max() < 0.01  # the curve itself is within millimetres; timing along it within 9 cm


def test_heading_interpolates_the_short_way_through_pi() -> None:
    keys = np.array([0, 1_000_000])
    boxes = np.array([[0, 0, 1, 4, 2, 1.5, 3.0], [0, 0, 1, 4, 2, 1.5, -3.0]])
    middle = interpolate_path(keys, boxes, np.array([500_000]))[0]
    assert abs(wrap_angle(middle[6] - np.pi)) < 1e-9  # through pi, not through 0


def test_no_extrapolation() -> None:
    with pytest.raises(ValueError, match="between the first and the last keyframe"):
        interpolate_path(np.array([0, 10]), np.zeros((2, 7)) + 1, np.array([11]))
    with pytest.raises(ValueError, match="at least 2 keyframe"):
        interpolate_path(np.array([0]), np.ones((1, 7)), np.array([0]))


def _world_boxes_seen_from(world_from_ego: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Boxes (T, 7) expressed in the ego frame of each time (T poses)."""
    ego_from_world = np.linalg.inv(world_from_ego)
    local = np.einsum("tij,tj->ti", ego_from_world[:, :3, :3], boxes[:, :3]) + ego_from_world[:, :3, 3]
    yaw = boxes[:, 6] + np.arctan2(ego_from_world[:, 1, 0], ego_from_world[:, 0, 0])
    return np.column_stack([local, boxes[:, 3:6], wrap_angle(yaw)])


def test_interpolation_on_a_turning_ego_follows_the_world_not_the_ego(tmp_path: Path) -> None:
    times = stamps(31)
    world_from_ego = turning_ego(times, speed=8.0, yaw_rate=0.3)  # the ego drives a 27 m circle
    seconds = (times - times[0]) / 1e6
    parked = np.tile([20.0, 15.0, 0.8, 4.5, 1.9, 1.6, 1.0], (len(times), 1))
    driving = np.column_stack([-5 + 6.0 * seconds, 30 - 2.0 * seconds, np.full(len(times), 0.8), np.tile([4.5, 1.9, 1.6], (len(times), 1)), np.full(len(times), np.arctan2(-2, 6))])
    frames = []
    for index, stamp in enumerate(times):
        cuboids = tuple(
            Cuboid(f"{track}-{index}", track, "car", boxes[index, :3] + [0.7, -0.4, 0], boxes[index, 3:6], boxes[index, 6] + 0.2)  # the machine is off
            for track, boxes in (("parked", parked), ("driving", driving))
        )
        frames.append(LabelFrame(int(stamp), cuboids))
    with ReviewSession.create(tmp_path / "labels.json", Labels(tuple(frames)), annotator="alice") as session:
        for track, truth in (("parked", parked), ("driving", driving)):
            session.apply(SetBox(int(times[0]), track, truth[0]))
            session.apply(SetBox(int(times[-1]), track, truth[-1]))
            session.apply(InterpolateTrack(track))
            fixed = session.labels.tracks()[track].boxes
            np.testing.assert_allclose(fixed, truth, atol=1e-9, err_msg=track)
    # interpolating linearly where the ego saw the objects would have bent both paths by metres
    for truth in (parked, driving):
        seen = _world_boxes_seen_from(world_from_ego, truth)
        naive_local = np.column_stack([np.interp(times, times[[0, -1]], seen[[0, -1], column]) for column in range(3)])
        naive_world = np.einsum("tij,tj->ti", world_from_ego[:, :3, :3], naive_local[:, :3]) + world_from_ego[:, :3, 3]
        assert np.linalg.norm(naive_world - truth[:, :3], axis=1).max() > 1.5


def _turning_car(count: int, rng: np.random.Generator, *, noise: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A car that drives straight, turns 90 degrees left, and drives on (10 Hz), and a
    machine track of it: lagging 0.6 m, 0.04 rad off in heading, 0.4 m short, and (noise)
    jittering by 0.15 m and 0.03 rad."""
    times = stamps(count)
    seconds = (times - times[0]) / 1e6
    yaw_rate = np.where((seconds > 3) & (seconds <= 6), (np.pi / 2) / 3, 0.0)
    yaw = np.concatenate([[0.0], np.cumsum(yaw_rate[1:] * np.diff(seconds))])
    speed = 7.0
    x = np.concatenate([[0.0], np.cumsum(speed * np.cos(yaw[1:]) * np.diff(seconds))])
    y = np.concatenate([[0.0], np.cumsum(speed * np.sin(yaw[1:]) * np.diff(seconds))])
    truth = np.column_stack([x, y, np.full(count, 0.8), np.tile([4.6, 1.9, 1.6], (count, 1)), wrap_angle(yaw)])
    machine = truth.copy()
    machine[:, 0] -= 0.6 * np.cos(yaw)  # smoothing lag along the path
    machine[:, 1] -= 0.6 * np.sin(yaw)
    machine[:, 3:6] = (4.2, 1.8, 1.5)
    machine[:, 2] = 0.75
    machine[:, 6] = wrap_angle(machine[:, 6] + 0.04)
    if noise:
        machine[:, :2] += rng.normal(0, 0.15, (count, 2))
        machine[:, 6] = wrap_angle(machine[:, 6] + rng.normal(0, 0.03, count))
    return times, machine, truth


# (mode, noisy machine track, most keyframes allowed): path mode replaces the machine's
# boxes, so noise does not matter; correction mode keeps them, so it suits smooth errors.
CASES = [("path", True, 5), ("path", False, 5), ("correction", False, 5)]


@pytest.mark.parametrize(("mode", "noise", "allowed"), CASES, ids=[f"{mode}-{'noisy' if noise else 'smooth'}" for mode, noise, _ in CASES])
def test_fixing_a_100_frame_track_takes_a_handful_of_keyframes(tmp_path: Path, mode: str, noise: bool, allowed: int) -> None:
    times, machine, truth = _turning_car(100, np.random.default_rng(5), noise=noise)
    machine = _resized(machine, truth[0, 3:6])  # the size is fixed first, with one SetTrackSize
    keyframes = plan_keyframes(times, machine, truth, mode=mode, position_tolerance=0.2, yaw_tolerance=0.05)
    logger.info("%s interpolation: %d keyframes fix the 100-frame turning track: %s", mode, len(keyframes), keyframes)
    print(f"\n{mode} ({'noisy' if noise else 'smooth'} machine track): {len(keyframes)} keyframes fix a 100-frame turning track to 0.2 m / 0.05 rad: {keyframes}")
    assert len(keyframes) <= allowed
    # the same fix, done with session operations: one size edit, the keyframes, one interpolation
    original = _turning_car(100, np.random.default_rng(5), noise=noise)[1]
    frames = [LabelFrame(int(stamp), (Cuboid.from_box(original[index], id=f"c{index}", track_id="7", label="car"),)) for index, stamp in enumerate(times)]
    with ReviewSession.create(tmp_path / "labels.json", Labels(tuple(frames)), annotator="alice") as session:
        session.apply(SetTrackSize("7", tuple(truth[0, 3:6])))
        for index in keyframes:
            session.apply(SetBox(int(times[index]), "7", truth[index]))
        session.apply(InterpolateTrack("7", mode))
        fixed = session.labels.tracks()["7"].boxes
    distance, heading = box_errors(fixed, truth)
    assert distance.max() <= 0.2 + 1e-9 and heading.max() <= 0.05 + 1e-9
    np.testing.assert_allclose(fixed, interpolate_track_boxes(times, machine, keyframes, truth[keyframes], mode=mode), atol=1e-9)


def _resized(boxes: np.ndarray, size: np.ndarray) -> np.ndarray:
    result = boxes.copy()
    result[:, 2] += (size[2] - boxes[:, 5]) / 2
    result[:, 3:6] = size
    return result


def test_a_straight_track_needs_only_its_two_ends() -> None:
    times = stamps(100)
    seconds = (times - times[0]) / 1e6
    truth = np.column_stack([3 + 9 * seconds, 1 + 0.5 * seconds, np.full(100, 0.8), np.tile([4.5, 1.9, 1.6], (100, 1)), np.full(100, np.arctan2(0.5, 9))])
    machine = truth + [0.4, -0.3, 0, 0, 0, 0, 0.1]
    assert plan_keyframes(times, machine, truth) == [0, 99]
