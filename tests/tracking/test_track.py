"""Behaviour of the tracking stage on small hand-built scenes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avlabel.config import config_from_document
from avlabel.io.errors import InputError
from avlabel.structs import STATES, Cuboid, LabelFrame, Labels, PoseSeries
from avlabel.tracking.settings import TrackingConfig
from avlabel.tracking.track import track

CAR = np.array([4.5, 1.9, 1.6])
PEDESTRIAN = np.array([0.6, 0.6, 1.75])
RATE_HZ = 10.0


def _stamps(count: int) -> np.ndarray:
    return 1_000_000 + np.arange(count, dtype=np.int64) * int(1e6 / RATE_HZ)


def _labels(per_frame: list[list[tuple[np.ndarray, str]]], *, score: float = 0.8, num_points: int = 200) -> Labels:
    """Labels from, per frame, a list of (box (7,), label) detections."""
    frames = []
    for stamp, detections in zip(_stamps(len(per_frame)), per_frame):
        cuboids = tuple(
            Cuboid.from_box(box, id=f"d{index}", track_id=f"d{index}", label=label, score=score, num_points=num_points)
            for index, (box, label) in enumerate(detections)
        )
        frames.append(LabelFrame(int(stamp), cuboids))
    return Labels(tuple(frames))


def _static_poses(count: int, position: tuple[float, float] = (0.0, 0.0)) -> PoseSeries:
    world_from_ego = np.tile(np.eye(4), (count, 1, 1))
    world_from_ego[:, :2, 3] = position
    return PoseSeries(_stamps(count), world_from_ego)


def _track_ids(labels: Labels) -> set[str]:
    return {cuboid.track_id for frame in labels for cuboid in frame}


def _mover(count: int, start: tuple[float, float], velocity: tuple[float, float], size: np.ndarray) -> np.ndarray:
    """(count, 7) truth boxes of a constant-velocity object heading along its velocity."""
    times = np.arange(count) / RATE_HZ
    yaw = math.atan2(velocity[1], velocity[0])
    return np.column_stack([
        start[0] + velocity[0] * times, start[1] + velocity[1] * times, np.full(count, size[2] / 2),
        np.tile(size, (count, 1)), np.full(count, yaw),
    ])


def _noisy(boxes: np.ndarray, rng: np.random.Generator, centre: float = 0.15, yaw: float = 0.05, flips: float = 0.0) -> np.ndarray:
    noisy = boxes.copy()
    noisy[:, :2] += rng.normal(0.0, centre, (len(boxes), 2))
    noisy[:, 3:6] *= np.exp(rng.normal(0.0, 0.05, (len(boxes), 3)))
    noisy[:, 6] += rng.normal(0.0, yaw, len(boxes)) + math.pi * (rng.random(len(boxes)) < flips)
    return noisy


def test_constant_velocity_object_with_noisy_detections_keeps_one_id():
    rng = np.random.default_rng(1)
    truth = _mover(60, (10.0, 0.0), (8.0, 1.0), CAR)
    detections = _noisy(truth, rng, flips=0.1)
    result = track(_labels([[(box, "car")] for box in detections]), TrackingConfig(), poses=_static_poses(60))
    assert _track_ids(result) == {"1"}
    assert all(len(frame) == 1 for frame in result)
    boxes = np.stack([frame.cuboids[0].box for frame in result])
    raw_error = np.median(np.linalg.norm(detections[:, :2] - truth[:, :2], axis=1))
    smoothed_error = np.median(np.linalg.norm(boxes[:, :2] - truth[:, :2], axis=1))
    assert smoothed_error < 0.6 * raw_error
    # Heading follows the motion, whatever the flips of single detections.
    assert np.max(np.abs(np.angle(np.exp(1j * (boxes[:, 6] - truth[:, 6]))))) < 0.1
    velocity = np.stack([frame.cuboids[0].velocity for frame in result])
    np.testing.assert_allclose(np.median(velocity, axis=0), [8.0, 1.0], atol=0.3)


@pytest.mark.parametrize(
    "label, size, first, second",
    [
        ("car", CAR, ((0.0, -20.0), (0.0, 10.0)), ((-20.0, 0.3), (10.0, 0.0))),  # crossing at right angles, 0.3 s apart
        ("pedestrian", PEDESTRIAN, ((-6.0, 10.0), (1.4, 0.0)), ((6.0, 10.7), (-1.4, 0.0))),  # passing 0.7 m apart
    ],
)
def test_two_objects_crossing_keep_their_ids(label, size, first, second):
    rng = np.random.default_rng(2)
    count = 45
    paths = [_mover(count, *first, size), _mover(count, *second, size)]
    noisy = [_noisy(path, rng, centre=0.08 if label == "pedestrian" else 0.15, yaw=0.3 if label == "pedestrian" else 0.05) for path in paths]
    per_frame = [[(noisy[0][step], label), (noisy[1][step], label)] for step in range(count)]
    result = track(_labels(per_frame), TrackingConfig(), poses=_static_poses(count, (0.0, 25.0)))
    # Each truth path is followed by one id, and the two ids differ.
    owners = []
    for path in paths:
        ids = set()
        for step, frame in enumerate(result):
            centres = np.array([cuboid.center[:2] for cuboid in frame])
            nearest = int(np.argmin(np.linalg.norm(centres - path[step, :2], axis=1)))
            ids.add(frame.cuboids[nearest].track_id)
        owners.append(ids)
    assert len(owners[0]) == 1 and len(owners[1]) == 1
    assert owners[0] != owners[1]


def test_parked_car_gets_one_pose_and_size():
    rng = np.random.default_rng(3)
    count = 200
    truth = np.array([20.0, -6.0, 0.8, *CAR, 0.3])
    ego_x = np.linspace(-20.0, 60.0, count)  # the ego drives past: views change from rear to side to front
    detections = []
    for step in range(count):
        box = truth.copy()
        box[:2] += rng.normal(0.0, 0.15, 2)
        box[3:6] *= np.exp(rng.normal(0.0, 0.05, 3))
        box[6] += rng.normal(0.0, 0.05) + (math.pi if rng.random() < 0.1 else 0.0)
        detections.append([(box, "car")])
    world_from_ego = np.tile(np.eye(4), (count, 1, 1))
    world_from_ego[:, 0, 3] = ego_x
    result = track(_labels(detections), TrackingConfig(), poses=PoseSeries(_stamps(count), world_from_ego))
    assert _track_ids(result) == {"1"}
    boxes = np.stack([frame.cuboids[0].box for frame in result])
    assert len(boxes) == count
    np.testing.assert_array_equal(boxes, np.tile(boxes[0], (count, 1)))  # one pose, one size
    assert np.linalg.norm(boxes[0, :2] - truth[:2]) < 0.1
    np.testing.assert_allclose(boxes[0, 3:6], truth[3:6], rtol=0.06)
    assert abs(math.remainder(boxes[0, 6] - truth[6], 2 * math.pi)) < 0.05
    np.testing.assert_array_equal(np.stack([frame.cuboids[0].velocity for frame in result]), 0.0)
    assert all(frame.cuboids[0].attributes["parked"] for frame in result)


def test_object_missed_for_three_sweeps_is_bridged_and_flagged_interpolated():
    rng = np.random.default_rng(4)
    count = 40
    truth = _mover(count, (5.0, 3.0), (6.0, 0.0), CAR)
    detections = _noisy(truth, rng)
    missed = {20, 21, 22}
    per_frame = [[] if step in missed else [(detections[step], "car")] for step in range(count)]
    result = track(_labels(per_frame), TrackingConfig(), poses=_static_poses(count))
    assert _track_ids(result) == {"1"}
    assert [len(frame) for frame in result] == [1] * count
    states = [frame.cuboids[0].attributes["state"] for frame in result]
    assert {step for step, state in enumerate(states) if state == "interpolated"} == missed
    assert set(states) <= set(STATES)
    for step in missed:
        cuboid = result.frames[step].cuboids[0]
        assert np.linalg.norm(cuboid.center[:2] - truth[step, :2]) < 0.3
        assert cuboid.num_points == 0
        # Uncertainty is larger where there was no detection.
        assert cuboid.attributes["uncertainty"] > result.frames[10].cuboids[0].attributes["uncertainty"]


def test_every_cuboid_carries_state_uncertainty_and_track_score():
    rng = np.random.default_rng(5)
    truth = _mover(30, (0.0, 0.0), (5.0, 0.0), CAR)
    result = track(_labels([[(box, "car")] for box in _noisy(truth, rng)]), TrackingConfig())  # no poses
    for frame in result:
        for cuboid in frame:
            assert cuboid.attributes["state"] in STATES
            assert cuboid.attributes["uncertainty"] >= 0
            assert 0 <= cuboid.attributes["track_score"] <= 1
            assert cuboid.score == cuboid.attributes["track_score"]
            assert cuboid.source == "auto"


def test_short_weak_tracks_are_dropped_and_weak_tracks_flagged():
    rng = np.random.default_rng(6)
    truth = _mover(30, (0.0, 0.0), (5.0, 0.0), CAR)
    strong = _noisy(truth, rng)
    per_frame = [[(box, "car")] for box in strong]
    per_frame[5].append((np.array([30.0, 30.0, 0.8, *CAR, 0.0]), "car"))  # one stray detection
    result = track(_labels(per_frame, score=0.4), TrackingConfig())
    assert _track_ids(result) == {"1"}
    assert all(cuboid.attributes.get("needs_review") for frame in result for cuboid in frame)  # 0.4 < review score


def test_a_far_person_seen_all_along_with_modest_scores_is_kept_for_review():
    # A person 40 m away returns 15-30 points a sweep: each detection scores ~0.52. Seen
    # for 3 s, the track stays (flagged for review); poles and bushes scoring less go.
    rng = np.random.default_rng(9)
    walking = _noisy(_mover(30, (40.0, 5.0), (1.3, 0.0), PEDESTRIAN), rng, centre=0.05)
    kept = track(_labels([[(box, "pedestrian")] for box in walking], score=0.52, num_points=20), TrackingConfig(), poses=_static_poses(30))
    assert _track_ids(kept) == {"1"}
    assert all(cuboid.attributes.get("needs_review") for frame in kept for cuboid in frame)
    dropped = track(_labels([[(box, "pedestrian")] for box in walking], score=0.45, num_points=20), TrackingConfig(), poses=_static_poses(30))
    assert dropped.num_cuboids() == 0


def test_empty_frames_and_a_log_without_detections():
    empty = Labels(tuple(LabelFrame(int(stamp)) for stamp in _stamps(5)))
    result = track(empty, TrackingConfig(), poses=_static_poses(5))
    assert len(result) == 5 and result.num_cuboids() == 0
    np.testing.assert_array_equal(result.timestamps_us, empty.timestamps_us)
    assert len(track(Labels(), TrackingConfig())) == 0


def test_empty_frames_in_the_middle_of_a_log():
    rng = np.random.default_rng(7)
    truth = _mover(45, (0.0, 0.0), (5.0, 0.0), CAR)
    detections = _noisy(truth, rng)
    per_frame = [[(box, "car")] for box in detections[:10]] + [[] for _ in range(25)] + [[(box, "car")] for box in detections[35:]]
    result = track(_labels(per_frame), TrackingConfig())
    assert len(result) == 45
    # 2.6 s without a detection: too long to fill for a mover, short enough to keep the id.
    assert all(len(frame) == 0 for frame in result.frames[10:35])
    assert _track_ids(result) == {"1"}


def test_a_log_with_one_frame():
    box = np.array([10.0, 0.0, 0.8, *CAR, 0.0])
    one = _labels([[(box, "car"), (box + [0, 5, 0, 0, 0, 0, 0], "car")]])
    config = TrackingConfig.model_validate({"classes": {"car": {"minimum_observations": 1}}})
    result = track(one, config)
    assert len(result) == 1 and len(result.frames[0]) == 2
    assert {cuboid.attributes["state"] for cuboid in result.frames[0]} == {"observed"}
    np.testing.assert_allclose(result.frames[0].cuboids[0].box, box)
    # With the default evidence rule one sighting is not a track.
    assert track(one, TrackingConfig()).num_cuboids() == 0


def test_snapshots_are_never_associated_across_frames():
    rng = np.random.default_rng(8)
    truth = _mover(10, (0.0, 0.0), (5.0, 0.0), CAR)
    proposals = _labels([[(box, "car")] for box in _noisy(truth, rng)])
    result = track(proposals, TrackingConfig(), sequential=False)
    ids = [cuboid.track_id for frame in result for cuboid in frame]
    assert len(ids) == 10 and len(set(ids)) == 10
    for frame, original in zip(result, proposals):
        np.testing.assert_allclose(frame.cuboids[0].box, original.cuboids[0].box)
        assert frame.cuboids[0].attributes["state"] == "observed"


def test_radar_velocity_is_fused():
    rng = np.random.default_rng(9)
    count = 30
    truth = _mover(count, (0.0, 0.0), (10.0, 0.0), CAR)
    detections = _noisy(truth, rng, centre=0.4)
    frames = []
    for step, stamp in enumerate(_stamps(count)):
        cuboid = Cuboid.from_box(detections[step], id="d0", track_id="d0", label="car", score=0.8, num_points=100, velocity=[10.0, 0.0])
        frames.append(LabelFrame(int(stamp), (cuboid,)))
    with_radar = track(Labels(tuple(frames)), TrackingConfig())
    without = track(_labels([[(box, "car")] for box in detections]), TrackingConfig())

    def speed_error(labels: Labels) -> float:
        return float(np.max(np.abs(np.stack([frame.cuboids[0].velocity for frame in labels])[:, 0] - 10.0)))

    assert speed_error(with_radar) < speed_error(without)
    assert speed_error(with_radar) < 0.3


def test_unknown_class_and_bad_arguments_raise_value_error_with_advice():
    box = np.array([10.0, 0.0, 0.8, *CAR, 0.0])
    with pytest.raises(ValueError, match=r"\[tracking.classes.tram\]"):
        track(_labels([[(box, "tram")]]), TrackingConfig())
    with pytest.raises(ValueError, match="Labels"):
        track([], TrackingConfig())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="TrackingConfig"):
        track(_labels([[(box, "car")]]), {})  # type: ignore[arg-type]


def test_config_class_tables_override_only_the_fields_they_name():
    config = config_from_document({"tracking": {"classes": {"car": {"distance_gate": 5.0}, "tram": {"distance_gate": 6.0}}}})
    assert config.tracking.classes["car"].distance_gate == 5.0
    assert config.tracking.classes["car"].acceleration_noise == TrackingConfig().classes["car"].acceleration_noise
    assert config.tracking.classes["pedestrian"] == TrackingConfig().classes["pedestrian"]
    assert config.tracking.for_label("tram").distance_gate == 6.0
    with pytest.raises(InputError, match="review_score"):
        config_from_document({"tracking": {"classes": {"car": {"drop_score": 0.6, "review_score": 0.5}}}})
    with pytest.raises(InputError, match="compatible_labels"):
        config_from_document({"tracking": {"classes": {"car": {"compatible_labels": ["tram"]}}}})


def test_default_config_file_has_a_tracking_table_for_every_class():
    from avlabel.config import load_config
    from avlabel.structs import CLASSES

    config = load_config()
    assert set(CLASSES) <= set(config.tracking.classes)
    # The file states the defaults; the two must not drift apart.
    assert config.tracking == TrackingConfig()


def test_two_tracks_on_one_object_leave_one():
    rng = np.random.default_rng(10)
    count = 40
    truth = _mover(count, (0.0, 0.0), (6.0, 0.0), CAR)
    halves = []
    for step, box in enumerate(_noisy(truth, rng)):
        front, back = box.copy(), box.copy()
        front[0] += 0.9  # a cluster split in two: two overlapping boxes on one car
        back[0] -= 0.9
        halves.append([(front, "car"), (back, "other" if step % 4 else "car")])
    result = track(_labels(halves), TrackingConfig())
    assert len(_track_ids(result)) == 1


def test_seen_sizes_come_from_the_proposal_attribute():
    from avlabel.tracking.measurements import seen_sizes

    box = np.array([10.0, 0.0, 0.8, *CAR, 0.0])
    cuboids = (
        Cuboid.from_box(box, id="a", track_id="a", label="car", attributes={"observed_size": [1.2, 3.1, 1.5]}),
        Cuboid.from_box(box, id="b", track_id="b", label="car", attributes={"observed_size": "broken"}),
        Cuboid.from_box(box, id="c", track_id="c", label="car"),
    )
    np.testing.assert_allclose(seen_sizes(cuboids, "observed_size"), [[3.1, 1.2, 1.5], CAR, CAR])
    np.testing.assert_allclose(seen_sizes(cuboids, ""), [CAR, CAR, CAR])


def test_a_parked_car_lost_by_the_proposals_is_carried_a_little_further():
    rng = np.random.default_rng(11)
    count = 60
    truth = np.array([20.0, -6.0, 0.8, *CAR, 0.3])
    per_frame = []
    for step in range(count):
        box = truth.copy()
        box[:2] += rng.normal(0.0, 0.1, 2)
        per_frame.append([(box, "car")] if 10 <= step < 40 else [])
    config = TrackingConfig.model_validate({"classes": {"car": {"parked_extension_seconds": 1.0}}})
    result = track(_labels(per_frame), config, poses=_static_poses(count, (0.0, 5.0)))
    present = [step for step, frame in enumerate(result) if len(frame)]
    assert present == list(range(0, 50))  # 1 s (10 sweeps) either side of frames 10..39
    uncertainty = [result.frames[step].cuboids[0].attributes["uncertainty"] for step in (39, 42, 46, 49)]
    assert uncertainty == sorted(uncertainty) and uncertainty[0] < uncertainty[-1]
    assert {result.frames[step].cuboids[0].attributes["state"] for step in (0, 5, 45, 49)} == {"interpolated"}
    # A moving car is not carried past its detections.
    moving = _mover(count, (0.0, 0.0), (8.0, 0.0), CAR)
    result = track(_labels([[(box, "car")] if 10 <= step < 40 else [] for step, box in enumerate(moving)]), config)
    assert [step for step, frame in enumerate(result) if len(frame)] == list(range(10, 40))


def test_tracked_labels_round_trip_through_the_labels_file(tmp_path):
    from avlabel.io.labels_file import read_labels, write_labels

    rng = np.random.default_rng(12)
    truth = _mover(20, (0.0, 0.0), (5.0, 0.0), CAR)
    per_frame = [[(box, "car")] if step != 7 else [] for step, box in enumerate(_noisy(truth, rng))]
    result = track(_labels(per_frame), TrackingConfig())
    write_labels(tmp_path / "labels.json", result)
    again = read_labels(tmp_path / "labels.json")
    assert [frame.timestamp_us for frame in again] == [frame.timestamp_us for frame in result]
    for before, after in zip(result.frames, again.frames):
        for first, second in zip(before.cuboids, after.cuboids):
            np.testing.assert_allclose(first.box, second.box)
            assert first.track_id == second.track_id and first.attributes == second.attributes


def test_a_duplicate_that_outlives_the_stronger_track_is_merged_into_it():
    rng = np.random.default_rng(13)
    count = 80
    truth = np.array([20.0, -6.0, 0.8, *CAR, 0.3])
    per_frame = []
    for step in range(count):
        detections = []
        if step < 60:  # the whole car, well seen
            box = truth.copy()
            box[:2] += rng.normal(0.0, 0.05, 2)
            detections.append((box, "car"))
        if step >= 20:  # a second, offset box on the same car, seen for longer
            box = truth.copy()
            box[:2] += np.array([0.8 * np.cos(0.3), 0.8 * np.sin(0.3)]) + rng.normal(0.0, 0.05, 2)
            detections.append((box, "car"))
        per_frame.append(detections)
    config = TrackingConfig.model_validate({"classes": {"car": {"parked_extension_seconds": 0.0}}})
    result = track(_labels(per_frame), config, poses=_static_poses(count, (0.0, 5.0)))
    assert _track_ids(result) == {"1"}
    assert [len(frame) for frame in result] == [1] * count


def _cuboids(per_frame: list[list[tuple[np.ndarray, str, int, list[float] | None]]], *, score: float = 0.8) -> Labels:
    """Labels from, per frame, (box (7,), label, num_points, observed size or None) detections."""
    frames = []
    for stamp, detections in zip(_stamps(len(per_frame)), per_frame):
        cuboids = tuple(
            Cuboid.from_box(
                box, id=f"d{index}", track_id=f"d{index}", label=label, score=score, num_points=points,
                attributes={} if seen is None else {"observed_size": seen},
            )
            for index, (box, label, points, seen) in enumerate(detections)
        )
        frames.append(LabelFrame(int(stamp), cuboids))
    return Labels(tuple(frames))


def test_a_car_merged_with_its_neighbour_for_a_few_sweeps_keeps_its_track_and_size():
    rng = np.random.default_rng(14)
    count = 40
    truth = np.array([20.0, -6.0, 0.8, *CAR, 0.0])
    merged = np.array([20.0, -5.8, 0.8, 4.6, 4.0, 1.6, 0.0])  # the car and the hedge beside it, one cluster
    per_frame = []
    for step in range(count):
        if step in (12, 13, 25):
            per_frame.append([(merged, "car", 400, None)])
            continue
        box = truth.copy()
        box[:2] += rng.normal(0.0, 0.1, 2)
        per_frame.append([(box, "car", 60, None)])  # partial views: too few points to vote for the size
    result = track(_cuboids(per_frame), TrackingConfig(), poses=_static_poses(count, (0.0, 5.0)))
    assert _track_ids(result) == {"1"}
    boxes = np.stack([frame.cuboids[0].box for frame in result])
    assert boxes[0, 4] < 3.0  # a car's width, not two cars'
    assert np.linalg.norm(boxes[0, :2] - truth[:2]) < 0.2


def test_a_car_track_never_seen_as_wide_as_a_car_is_dropped():
    rng = np.random.default_rng(15)
    count = 40
    path = _mover(count, (10.0, 4.0), (5.0, 0.0), CAR)

    def proposals(seen: list[float]) -> Labels:
        # The proposal stage grows every box to a car's size; its points showed `seen`.
        return _cuboids([[(box, "car", 60, seen)] for box in _noisy(path, rng)])

    cyclist = track(proposals([1.1, 0.5, 1.8]), TrackingConfig(), poses=_static_poses(count))
    assert cyclist.num_cuboids() == 0
    car_from_behind = track(proposals([0.6, 1.7, 1.5]), TrackingConfig(), poses=_static_poses(count))
    assert _track_ids(car_from_behind) == {"1"}


def _scored(boxes: np.ndarray, label: str, class_scores: dict[str, float]) -> Labels:
    """One detection a frame, labelled `label`, carrying the proposals' per-class scores."""
    frames = []
    for stamp, box in zip(_stamps(len(boxes)), boxes):
        cuboid = Cuboid.from_box(box, id="d0", track_id="d0", label=label, score=0.8, num_points=80, attributes={"class_scores": class_scores})
        frames.append(LabelFrame(int(stamp), (cuboid,)))
    return Labels(tuple(frames))


def test_a_moving_track_takes_the_smaller_class_its_detections_score_highest():
    rng = np.random.default_rng(16)
    count = 40
    cyclist_size = np.array([1.8, 0.6, 1.7])
    scores = {"car": 0.61, "truck": 0.0, "pedestrian": 0.0, "cyclist": 0.87, "other": 0.4}
    # A cyclist riding by, each sweep called a car (the proposals hold cyclists back: one
    # sweep cannot tell them from a bush): moving, it is a cyclist.
    riding = track(_scored(_noisy(_mover(count, (5.0, 4.0), (4.0, 0.0), cyclist_size), rng, centre=0.05), "car", scores), TrackingConfig(), poses=_static_poses(count))
    assert {cuboid.label for frame in riding for cuboid in frame} == {"cyclist"}
    assert riding.frames[20].cuboids[0].size[0] < 2.5
    # Standing still, the same detections keep the class they were given.
    standing = np.tile(np.array([5.0, 4.0, 0.85, *cyclist_size, 0.0]), (count, 1))
    parked = track(_scored(_noisy(standing, rng, centre=0.05), "car", scores), TrackingConfig(), poses=_static_poses(count))
    assert {cuboid.label for frame in parked for cuboid in frame} == {"car"}
    # A walking person whose detections score higher as a car stays a pedestrian: a
    # moving track only ever turns into a smaller class.
    walking = _noisy(_mover(count, (5.0, 4.0), (1.4, 0.0), PEDESTRIAN), rng, centre=0.05)
    person = track(_scored(walking, "pedestrian", {"car": 0.7, "pedestrian": 0.4}), TrackingConfig(), poses=_static_poses(count))
    assert {cuboid.label for frame in person for cuboid in frame} == {"pedestrian"}


def test_a_parked_car_is_carried_through_the_log_until_another_track_takes_its_place():
    rng = np.random.default_rng(16)
    count = 100
    parked = np.array([20.0, -6.0, 0.8, *CAR, 0.0])
    passing = _mover(count, (-10.0, -6.0), (5.0, 0.0), CAR)  # at the parked car's place from about frame 60
    per_frame = []
    for step in range(count):
        detections = []
        if 10 <= step < 30:
            box = parked.copy()
            box[:2] += rng.normal(0.0, 0.1, 2)
            detections.append((box, "car"))
        if step >= 40:
            detections.append((_noisy(passing[step : step + 1], rng)[0], "car"))
        per_frame.append(detections)
    result = track(_labels(per_frame), TrackingConfig(), poses=_static_poses(count, (0.0, 5.0)))
    first_id = result.frames[10].cuboids[0].track_id
    frames_of_parked = [step for step, frame in enumerate(result) if any(cuboid.track_id == first_id for cuboid in frame)]
    # Carried back to the log's start, and on until the passing car reaches its place.
    assert frames_of_parked[0] == 0
    apart = np.abs(passing[:, 0] - parked[0])
    touching, half_over = np.flatnonzero(apart < CAR[0])[0], np.flatnonzero(apart < CAR[0] / 2)[0]
    assert touching <= frames_of_parked[-1] + 1 < half_over
    assert frames_of_parked == list(range(frames_of_parked[-1] + 1))


def test_views_are_described_along_the_cars_axis_when_its_first_boxes_lie_a_quarter_turn_off():
    from avlabel.tracking import measurements, smoothing

    rng = np.random.default_rng(17)
    count = 60
    truth = np.array([30.0, -8.0, 0.8, *CAR, 1.4])
    per_frame = []
    for step in range(count):
        box = truth.copy()
        box[:2] += rng.normal(0.0, 0.1, 2)
        if step < 12:  # a few sparse views whose L-shape was fitted the other way round
            box[6] += math.pi / 2
            per_frame.append([(box, "car", 30, [1.8, 1.4, 1.5])])
        else:
            box[6] += rng.normal(0.0, 0.03)
            per_frame.append([(box, "car", 250, [4.6, 1.85, 1.55])])
    config = TrackingConfig()
    detections = measurements.collect(_cuboids(per_frame), config, _static_poses(count))
    boxes, seen, _ = smoothing.track_views(np.arange(count), detections, config.for_label("car"))
    off_axis = np.abs(np.mod(boxes[:, 6] - truth[6] + math.pi / 2, math.pi) - math.pi / 2)
    assert off_axis.max() < 0.2
    np.testing.assert_allclose(seen[12:, :2], np.tile([4.6, 1.85], (count - 12, 1)))  # full views show the length as length


def test_a_car_seen_from_its_end_keeps_its_axis_when_a_few_boxes_lie_across_it():
    rng = np.random.default_rng(18)
    count = 40
    truth = np.array([30.0, 0.0, 0.8, *CAR, 0.0])  # ahead of the ego: seen from behind, its width in sight
    per_frame = []
    for step in range(count):
        box = truth.copy()
        box[:2] += rng.normal(0.0, 0.1, 2)
        box[6] += rng.normal(0.0, 0.03)
        if step % 7 == 3:  # a few boxes fitted across, to a long thin stretch of points
            box[6] += math.pi / 2
            per_frame.append([(box, "car", 60, [2.8, 0.3, 1.5])])
        else:
            per_frame.append([(box, "car", 60, [1.7, 1.5, 1.5])])
    result = track(_cuboids(per_frame), TrackingConfig(), poses=_static_poses(count))
    assert _track_ids(result) == {"1"}
    box = result.frames[5].cuboids[0].box
    assert abs(math.remainder(box[6] - truth[6], math.pi)) < 0.1
    assert np.linalg.norm(box[:2] - truth[:2]) < 0.2


def test_a_car_followed_in_the_next_lane_keeps_its_length():
    rng = np.random.default_rng(19)
    count = 50
    path = _mover(count, (30.0, 3.5), (10.0, 0.0), CAR)  # 30 m ahead of the ego, one lane over
    world_from_ego = np.tile(np.eye(4), (count, 1, 1))
    world_from_ego[:, 0, 3] = path[:, 0] - 30.0  # the ego keeps its distance
    # Seen at a grazing angle the car's side returns almost nothing: its points show its back.
    per_frame = [[(box, "car", 200, [1.75, 0.5, 1.5])] for box in _noisy(path, rng, centre=0.05)]
    result = track(_cuboids(per_frame), TrackingConfig(), poses=PoseSeries(_stamps(count), world_from_ego))
    assert _track_ids(result) == {"1"}
    length = result.frames[25].cuboids[0].size[0]
    assert length > 4.0  # the class's typical length, not its shortest


def test_a_car_followed_from_behind_gets_the_width_its_back_shows():
    rng = np.random.default_rng(20)
    count = 50
    size = np.array([4.2, 1.75, 1.5])
    path = _mover(count, (25.0, 0.0), (10.0, 0.0), size)
    world_from_ego = np.tile(np.eye(4), (count, 1, 1))
    world_from_ego[:, 0, 3] = path[:, 0] - 25.0  # the ego follows in the same lane
    # The proposal stage grows each box to a car's typical size; its points showed the back:
    # the back's width as the longer extent, a little of the roof as the shorter.
    boxes = _noisy(path, rng, centre=0.05)
    boxes[:, 3:6] = [4.5, 1.9, 1.5]
    per_frame = [[(box, "car", 200, [1.75, 0.5, 1.5])] for box in boxes]
    result = track(_cuboids(per_frame), TrackingConfig(), poses=PoseSeries(_stamps(count), world_from_ego))
    assert _track_ids(result) == {"1"}
    assert abs(result.frames[25].cuboids[0].size[1] - 1.75) < 0.1


def test_a_wall_is_dropped_but_a_car_whose_back_looks_as_thin_is_kept():
    rng = np.random.default_rng(21)
    count = 40
    # A wall beside the road, seen square on from the side: a long, thin stretch of points.
    wall = np.array([20.0, 8.0, 1.0, 4.5, 1.9, 2.0, 0.0])
    walls = [[(wall + np.r_[rng.normal(0.0, 0.05, 2), np.zeros(5)], "car", 300, [4.2, 0.25, 2.0])] for _ in range(count)]
    assert track(_cuboids(walls), TrackingConfig(), poses=_static_poses(count)).num_cuboids() == 0
    # A car followed from behind shows as little depth: its back and a little of its roof.
    path = _mover(count, (25.0, 0.0), (10.0, 0.0), CAR)
    world_from_ego = np.tile(np.eye(4), (count, 1, 1))
    world_from_ego[:, 0, 3] = path[:, 0] - 25.0
    cars = [[(box, "car", 300, [1.8, 0.3, 1.5])] for box in _noisy(path, rng, centre=0.05)]
    result = track(_cuboids(cars), TrackingConfig(), poses=PoseSeries(_stamps(count), world_from_ego))
    assert _track_ids(result) == {"1"}


def test_a_person_standing_still_is_carried_only_briefly():
    rng = np.random.default_rng(22)
    count = 80
    person = np.array([12.0, 4.0, 0.9, *PEDESTRIAN, 0.0])
    per_frame = [[(person + np.r_[rng.normal(0.0, 0.03, 2), np.zeros(5)], "pedestrian")] if 30 <= step < 50 else [] for step in range(count)]
    result = track(_labels(per_frame, score=0.9), TrackingConfig(), poses=_static_poses(count))
    present = [step for step, frame in enumerate(result) if len(frame)]
    assert present == list(range(10, 70))  # 2 s either side: people walk off, parked cars do not


def test_a_car_whose_last_views_before_a_gap_saw_only_part_of_it_is_stitched_to_its_next_piece():
    # Far away and half hidden, the proposals see only 1.5 m of the car and grow each box to a
    # car's size from the wrong end: the last views before a one-sweep gap lag further and
    # further behind the car (as on tuning logs 1 and 7), and the forward pass loses it.
    rng = np.random.default_rng(21)
    count = 50
    path = _mover(count, (-20.0, 12.0), (10.0, 0.0), CAR)
    boxes = _noisy(path, rng, centre=0.05)
    lags = {16: 0.4, 17: 0.8, 18: 1.2, 19: 1.5}
    per_frame = []
    for step, box in enumerate(boxes):
        if step in lags:
            partial = box.copy()
            partial[0] -= lags[step]
            per_frame.append([(partial, "car", 30, [1.5, 1.8, 1.5])])
        elif step == 20:
            per_frame.append([])
        else:
            per_frame.append([(box, "car", 200, None)])
    result = track(_cuboids(per_frame), TrackingConfig(), poses=_static_poses(count))
    assert _track_ids(result) == {"1"}
    assert [len(frame) for frame in result] == [1] * count


@pytest.mark.parametrize("seed", [1, 2, 4])
def test_a_parked_car_is_not_continued_by_a_piece_too_large_for_a_car(seed):
    # Three seconds after the parked car was last seen, boxes fitted across it as it comes
    # back into sight (a quarter turn off from one sweep to the next, a metre and more off its
    # place, drifting) make a short piece that, described along one heading, is wider than
    # any car (as on tuning log 9). On its own it is dropped; joined to the parked car it
    # would set the car moving and end its carried boxes.
    rng = np.random.default_rng(seed)
    count = 100
    parked = np.array([20.0, 6.0, 0.8, *CAR, 0.0])
    per_frame = []
    for step in range(count):
        box = parked.copy()
        if step < 40:
            box[:2] += rng.normal(0.0, 0.05, 2)
            per_frame.append([(box, "car", 200, [4.5, 1.9, 1.5])])
        elif 70 <= step < 78:
            box[:2] += np.array([-1.0 - 0.2 * (step - 70), -0.9]) + rng.normal(0.0, 0.1, 2)
            box[6] = 0.0 if step % 2 else math.pi / 2
            per_frame.append([(box, "car", 50, [4.5, 1.9, 1.5])])
        else:
            per_frame.append([])
    result = track(_cuboids(per_frame), TrackingConfig(), poses=_static_poses(count, (0.0, -20.0)))
    assert _track_ids(result) == {"1"}
    cuboids = [frame.cuboids[0] for frame in result if frame.cuboids]
    assert len(cuboids) == count
    assert all(cuboid.attributes.get("parked") for cuboid in cuboids)
    assert max(np.linalg.norm(cuboid.center[:2] - parked[:2]) for cuboid in cuboids) < 0.3


def test_radar_velocities_far_from_the_tracks_are_not_used():
    # A car driving past: for a second and a half the radar velocity attached to its
    # proposals is only the radial part of its motion (the returns pinned down no more; as on
    # tuning log 24, where such velocities, 6 m/s off, slowed a car's track to a crawl, the
    # forward pass lost it three times and the short pieces it left were taken for parked).
    rng = np.random.default_rng(24)
    count = 60
    truth = _mover(count, (-10.0, 15.0), (6.0, 0.0), CAR)
    detections = _noisy(truth, rng, centre=0.05)
    frames = []
    for step, stamp in enumerate(_stamps(count)):
        velocity = [0.3, 1.2] if 25 <= step < 40 else [6.0, 0.0]
        cuboid = Cuboid.from_box(detections[step], id="d0", track_id="d0", label="car", score=0.8, num_points=1500, velocity=velocity)
        frames.append(LabelFrame(int(stamp), (cuboid,)))
    result = track(Labels(tuple(frames)), TrackingConfig(), poses=_static_poses(count))
    assert _track_ids(result) == {"1"}
    assert [len(frame) for frame in result] == [1] * count
    velocities = np.stack([frame.cuboids[0].velocity for frame in result])
    assert np.max(np.linalg.norm(velocities - [6.0, 0.0], axis=1)) < 0.5


@pytest.mark.parametrize("seed", [1, 4, 6])
def test_two_short_pieces_showing_no_motion_are_not_joined_across_a_row_of_parked_cars(seed):
    # Two parked cars side by side, 6.5 m apart, each seen briefly and sparsely (as on tuning
    # log 24, where a parked car's short piece and, 2.3 s later, boxes fitted across its
    # neighbours made one "moving" track that ended another parked car's carried boxes).
    # Neither piece is long or steady enough to be parked, nor shows any motion; whatever
    # their poorly known velocities would let them reach, they are two objects.
    rng = np.random.default_rng(seed)
    count = 60
    first = np.array([30.0, 20.0, 0.8, *CAR, -0.5])
    second = first.copy()
    second[:2] -= 6.5 * np.array([math.sin(0.5), math.cos(0.5)])  # beside it, across its axis
    per_frame = []
    for step in range(count):
        detections = []
        for box, start in ((first, 20), (second, 46)):
            if start <= step < start + 6:
                noisy = box.copy()
                noisy[:2] += rng.normal(0.0, 0.35, 2)
                detections.append((noisy, "car", 60, [2.5, 1.9, 1.5]))
        per_frame.append(detections)
    result = track(_cuboids(per_frame), TrackingConfig(), poses=_static_poses(count, (0.0, -20.0)))
    assert len(_track_ids(result)) == 2
    for track_id in _track_ids(result):
        centres = np.array([cuboid.center[:2] for frame in result for cuboid in frame if cuboid.track_id == track_id])
        assert np.linalg.norm(centres.max(axis=0) - centres.min(axis=0)) < 2.0
