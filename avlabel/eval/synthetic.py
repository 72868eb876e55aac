"""Synthetic truth and imperfect predictions for evaluation tests, benchmarks and docs.

`synthetic_scene` drives an ego along +x at 10 m/s through objects that move at constant
velocity (world frame), and makes predictions the way a detector and tracker err: centre,
size and heading noise (now and then a heading turned around), misses, a few wrong
classes and attributes, false positives (some of them lasting tracks), identity switches,
and scores that fall with the error. Deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avlabel.structs import Cuboid, LabelFrame, Labels, PoseSeries, wrap_angle

# label: (length, width, height) mean sizes in metres, typical speed in m/s, attributes
_CLASSES = {
    "car": ((4.5, 1.9, 1.6), 8.0, ("vehicle.moving", "vehicle.parked", "vehicle.stopped")),
    "truck": ((8.0, 2.5, 3.2), 6.0, ("vehicle.moving", "vehicle.parked")),
    "pedestrian": ((0.7, 0.7, 1.8), 1.3, ("pedestrian.moving", "pedestrian.standing")),
    "cyclist": ((1.8, 0.7, 1.7), 4.0, ("cycle.with_rider", "cycle.without_rider")),
}
_CLASS_SHARE = (0.5, 0.15, 0.2, 0.15)


@dataclass(frozen=True, slots=True)
class SyntheticScene:
    truth: Labels
    predictions: Labels
    poses: PoseSeries


def synthetic_scene(
    frames: int = 40,
    objects: int = 20,
    *,
    seed: int = 0,
    frame_period_us: int = 100_000,
    miss_rate: float = 0.1,
    false_positive_rate: float = 0.15,
    switch_rate: float = 0.02,
    ignore_regions: int = 0,
) -> SyntheticScene:
    """Truth with `objects` tracks visible on every frame, and predictions of them.

    ignore_regions: that many large don't-care cuboids (label "ignore") per frame, each
    with a few false positives inside.
    """
    if frames < 1 or objects < 0:
        raise ValueError(f"synthetic_scene: expected frames >= 1 and objects >= 0, got {frames} and {objects}")
    rng = np.random.default_rng(seed)
    stamps = 1_000_000 + np.arange(frames, dtype=np.int64) * frame_period_us
    seconds = (stamps - stamps[0]) / 1e6
    ego_x = 10.0 * seconds

    labels = rng.choice(list(_CLASSES), size=objects, p=_CLASS_SHARE)
    start = np.column_stack([rng.uniform(-45, 55 + ego_x[-1], objects), rng.uniform(-30, 30, objects), rng.uniform(0.5, 1.2, objects)])
    heading = rng.uniform(-np.pi, np.pi, objects)
    speed = np.array([_CLASSES[label][1] for label in labels]) * rng.uniform(0.0, 1.2, objects)
    velocity = np.column_stack([np.cos(heading), np.sin(heading)]) * speed[:, None]
    sizes = np.array([_CLASSES[label][0] for label in labels]) * rng.uniform(0.85, 1.15, (objects, 3))
    attributes = [rng.choice(_CLASSES[label][2]) for label in labels]
    # Per object: a class the detector confuses it with now and then, and its track-id epoch.
    confused = {label: [other for other in _CLASSES if other != label] for label in _CLASSES}
    prediction_track = {index: f"p{index}" for index in range(objects)}
    lasting_false = [(rng.uniform(-40, 60 + ego_x[-1]), rng.uniform(-30, 30), rng.choice(list(_CLASSES))) for _ in range(max(1, objects // 10))]
    regions = [(rng.uniform(0, 40 + ego_x[-1]), rng.uniform(-25, 25)) for _ in range(ignore_regions)]

    truth_frames, prediction_frames = [], []
    switches = 0
    for frame, stamp in enumerate(stamps):
        truth_cuboids, prediction_cuboids = [], []
        for index in range(objects):
            centre = start[index] + np.array([*velocity[index] * seconds[frame], 0.0])
            truth_cuboids.append(
                Cuboid(
                    f"t{index}-{frame}", f"t{index}", str(labels[index]), centre, sizes[index], float(heading[index]),
                    source="truth", num_points=int(rng.integers(1, 400)), velocity=velocity[index].copy(),
                    attributes={"attribute": str(attributes[index])},
                )
            )
            if rng.random() < miss_rate:
                continue
            if rng.random() < switch_rate:
                switches += 1
                prediction_track[index] = f"p{index}s{switches}"
            scale = 0.15 + 0.6 * rng.random() ** 3
            noisy_centre = centre + rng.normal(0, scale, 3) * (1, 1, 0.3)
            noisy_size = sizes[index] * np.exp(rng.normal(0, 0.08, 3))
            noisy_heading = heading[index] + rng.normal(0, 0.08) + (np.pi if rng.random() < 0.05 else 0.0)
            label = str(labels[index]) if rng.random() > 0.03 else str(rng.choice(confused[str(labels[index])]))
            error = float(np.linalg.norm(noisy_centre[:2] - centre[:2]))
            score = float(np.clip(0.95 - 0.5 * error + rng.normal(0, 0.12), 0.02, 0.99))
            attribute = str(attributes[index]) if rng.random() > 0.1 else str(rng.choice(_CLASSES[str(labels[index])][2]))
            prediction_cuboids.append(
                Cuboid(
                    f"d{index}-{frame}", prediction_track[index], label, noisy_centre, noisy_size, float(wrap_angle(noisy_heading)),
                    score=score, velocity=velocity[index] + rng.normal(0, 0.5, 2), attributes={"attribute": attribute},
                )
            )
        for clutter in range(rng.poisson(false_positive_rate * objects)):
            label = str(rng.choice(list(_CLASSES)))
            centre = (rng.uniform(-45, 55) + ego_x[frame], rng.uniform(-30, 30), 0.8)
            prediction_cuboids.append(
                Cuboid(
                    f"f{frame}-{clutter}", f"f{frame}-{clutter}", label, centre, np.array(_CLASSES[label][0]) * rng.uniform(0.8, 1.2, 3),
                    float(rng.uniform(-np.pi, np.pi)), score=float(rng.uniform(0.02, 0.6)), velocity=rng.normal(0, 1, 2),
                    attributes={"attribute": str(rng.choice(_CLASSES[label][2]))},
                )
            )
        for number, (x, y, label) in enumerate(lasting_false):
            prediction_cuboids.append(
                Cuboid(
                    f"g{number}-{frame}", f"g{number}", str(label), (x + rng.normal(0, 0.1), y + rng.normal(0, 0.1), 0.8),
                    _CLASSES[str(label)][0], 0.3, score=float(rng.uniform(0.3, 0.7)), velocity=(0.0, 0.0),
                )
            )
        for number, (x, y) in enumerate(regions):
            truth_cuboids.append(Cuboid(f"i{number}-{frame}", f"i{number}", "ignore", (x, y, 1.0), (12.0, 8.0, 3.0), 0.0, source="truth"))
            for inside in range(2):
                prediction_cuboids.append(
                    Cuboid(
                        f"r{number}-{inside}-{frame}", f"r{number}-{inside}-{frame}", "car",
                        (x + rng.uniform(-3, 3), y + rng.uniform(-2, 2), 0.8), (4.2, 1.8, 1.5), float(rng.uniform(-np.pi, np.pi)),
                        score=float(rng.uniform(0.5, 0.9)),
                    )
                )
        truth_frames.append(LabelFrame(int(stamp), tuple(truth_cuboids)))
        prediction_frames.append(LabelFrame(int(stamp), tuple(prediction_cuboids)))

    pose_stamps = np.arange(stamps[0] - 50_000, stamps[-1] + 50_001, 10_000, dtype=np.int64)
    world_from_ego = np.tile(np.eye(4), (len(pose_stamps), 1, 1))
    world_from_ego[:, 0, 3] = 10.0 * (pose_stamps - stamps[0]) / 1e6
    return SyntheticScene(
        truth=Labels(tuple(truth_frames), {"generator": "avlabel.eval.synthetic", "seed": seed}),
        predictions=Labels(tuple(prediction_frames), {"generator": "avlabel.eval.synthetic", "seed": seed}),
        poses=PoseSeries(pose_stamps, world_from_ego),
    )
