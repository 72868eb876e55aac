"""Meshes of the labelled object classes, with per-class and per-instance size variation.

Every object mesh is built in its own frame: x forward (heading), y left, z up, origin on
the ground under the middle of its footprint. None is a plain box:

- car: lower body with sloped bumpers, a narrower and shorter cabin (glass), four wheels,
  reflective plates; body styles sedan, hatchback, SUV, van.
- truck: cab and a taller cargo box on a chassis, six wheels.
- pedestrian: two legs in a stride, torso, arms, head, sometimes a backpack.
- cyclist: bicycle (wheels, frame, handlebar) and a rider leaning forward.

`ObjectModel.box_center` and `.size` are the tight axis-aligned box of the mesh in the
object frame; the truth cuboid is that box carried by the object's pose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from avlabel.sim import mesh as meshes
from avlabel.sim.materials import code
from avlabel.sim.mesh import Mesh


@dataclass(frozen=True, slots=True)
class ObjectModel:
    """A labelled object's shape: mesh in the object frame and its tight box."""

    label: str  # car, truck, pedestrian, cyclist
    mesh: Mesh
    box_center: np.ndarray  # (3,) tight-box centre in the object frame
    size: np.ndarray  # (3,) length, width, height
    color: tuple[float, float, float]  # camera colour of this instance, RGB 0..1
    reflectivity_scale: float  # LiDAR reflectivity multiplier of this instance's paint
    rcs_dbsm: float  # radar cross-section of the whole object
    radius: float  # of a sphere around box_center that holds the whole mesh


def _model(label: str, mesh: Mesh, rng: np.random.Generator, rcs: float, color: tuple[float, float, float]) -> ObjectModel:
    low, high = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    centre = (low + high) / 2
    radius = float(np.linalg.norm(mesh.vertices - centre, axis=1).max())
    return ObjectModel(label, mesh, centre, high - low, color, float(rng.uniform(0.6, 1.6)), rcs, radius)


def _car(rng: np.random.Generator, color: tuple[float, float, float]) -> ObjectModel:
    style = _CAR_STYLES[int(rng.choice(len(_CAR_STYLES), p=_CAR_STYLE_WEIGHTS))]
    length, width, height = (float(rng.uniform(*bounds)) for bounds in (style.length, style.width, style.height))
    paint, glass, tyre, plate = code("paint"), code("glass"), code("tyre"), code("reflector")
    clearance = float(rng.uniform(0.14, 0.22)) * (1.4 if style.name == "suv" else 1.0)
    belt = clearance + (height - clearance) * style.belt
    half_length, half_width = length / 2, width / 2
    nose, tail = style.bumper_slope * 0.3, style.bumper_slope * 0.25
    body = meshes.tapered_box(
        (-half_length + tail, half_length - nose, -half_width + 0.05, half_width - 0.05),
        (-half_length, half_length - 0.05, -half_width, half_width),
        clearance, belt, paint,
    )
    cabin_rear = -half_length + length * style.cabin_rear
    cabin_front = half_length - length * style.cabin_front
    cabin = meshes.tapered_box(
        (cabin_rear, cabin_front, -half_width + 0.08, half_width - 0.08),
        (cabin_rear + length * style.rear_slope, cabin_front - length * style.windshield, -half_width + 0.22, half_width - 0.22),
        belt, height - 0.04, glass,
    )
    roof = meshes.tapered_box(
        (cabin_rear + length * style.rear_slope, cabin_front - length * style.windshield, -half_width + 0.22, half_width - 0.22),
        (cabin_rear + length * style.rear_slope + 0.05, cabin_front - length * style.windshield - 0.05, -half_width + 0.25, half_width - 0.25),
        height - 0.04, height, paint,
    )
    radius = float(rng.uniform(0.30, 0.36)) * (1.12 if style.name in ("suv", "van") else 1.0)
    axle = half_length - max(0.75, length * 0.18)
    wheels = [meshes.wheel(radius, 0.22, tyre).translated((x, y * (half_width - 0.13), radius)) for x in (axle, -axle + 0.1) for y in (1, -1)]
    plates = [
        meshes.box((half_length - 0.06, -0.26, clearance + 0.25), (half_length - 0.04, 0.26, clearance + 0.37), plate),
        meshes.box((-half_length - 0.01, -0.26, clearance + 0.3), (-half_length + 0.01, 0.26, clearance + 0.42), plate),
        meshes.box((-half_length - 0.01, half_width - 0.3, belt - 0.2), (-half_length + 0.01, half_width - 0.1, belt - 0.05), plate),
        meshes.box((-half_length - 0.01, -half_width + 0.1, belt - 0.2), (-half_length + 0.01, -half_width + 0.3, belt - 0.05), plate),
    ]
    # no side mirrors: labelling conventions keep them out of the box
    mesh = meshes.concatenate([body, cabin, roof, *wheels, *plates])
    return _model("car", mesh, rng, float(rng.uniform(8.0, 16.0)), color)


@dataclass(frozen=True, slots=True)
class _CarStyle:
    name: str
    weight: float
    length: tuple[float, float]
    width: tuple[float, float]
    height: tuple[float, float]
    belt: float  # belt line as a fraction of the height above the ground clearance
    cabin_rear: float  # cabin start from the rear, fraction of the length
    cabin_front: float  # cabin end from the front
    windshield: float  # windshield run, fraction of the length
    rear_slope: float
    bumper_slope: float


_CAR_STYLES = (
    _CarStyle("sedan", 0.4, (4.3, 5.0), (1.75, 1.9), (1.38, 1.52), 0.45, 0.2, 0.3, 0.12, 0.10, 1.0),
    _CarStyle("hatchback", 0.25, (3.7, 4.3), (1.66, 1.8), (1.42, 1.55), 0.45, 0.04, 0.3, 0.12, 0.05, 0.8),
    _CarStyle("suv", 0.25, (4.4, 5.0), (1.82, 2.0), (1.62, 1.85), 0.5, 0.05, 0.28, 0.1, 0.03, 0.7),
    _CarStyle("van", 0.1, (4.8, 5.4), (1.9, 2.05), (1.85, 2.1), 0.45, 0.03, 0.18, 0.08, 0.01, 0.5),
)
_CAR_STYLE_WEIGHTS = np.array([style.weight for style in _CAR_STYLES]) / sum(style.weight for style in _CAR_STYLES)


def _truck(rng: np.random.Generator, color: tuple[float, float, float]) -> ObjectModel:
    paint, glass, tyre, plate = code("paint"), code("glass"), code("tyre"), code("reflector")
    width = float(rng.uniform(2.35, 2.55))
    cab_length, cab_height = float(rng.uniform(1.9, 2.4)), float(rng.uniform(2.7, 3.2))
    box_length, box_height = float(rng.uniform(4.5, 7.5)), float(rng.uniform(3.3, 3.9))
    length = cab_length + 0.25 + box_length
    front = length / 2
    cab_back = front - cab_length
    half_width = width / 2
    cab = meshes.tapered_box((cab_back, front - 0.1, -half_width + 0.05, half_width - 0.05), (cab_back, front - 0.35, -half_width + 0.1, half_width - 0.1),
                             0.5, cab_height * 0.55, paint)
    windows = meshes.tapered_box((cab_back, front - 0.35, -half_width + 0.1, half_width - 0.1), (cab_back, front - 0.6, -half_width + 0.15, half_width - 0.15),
                                 cab_height * 0.55, cab_height, glass)
    cargo = meshes.box((-front, -half_width, 0.95), (cab_back - 0.25, half_width, box_height), paint)
    chassis = meshes.box((-front + 0.3, -0.5, 0.5), (front - 0.5, 0.5, 0.95), code("frame_metal"))
    radius = float(rng.uniform(0.45, 0.52))
    axles = (front - 1.2, -front + 1.6, -front + 2.9)
    wheels = [meshes.wheel(radius, 0.3, tyre).translated((x, y * (half_width - 0.2), radius)) for x in axles for y in (1, -1)]
    plates = [meshes.box((-front - 0.01, -half_width + 0.1, 1.0), (-front + 0.01, half_width - 0.1, 1.15), plate)]
    return _model("truck", meshes.concatenate([cab, windows, cargo, chassis, *wheels, *plates]), rng, float(rng.uniform(18.0, 28.0)), color)


def _pedestrian(rng: np.random.Generator, color: tuple[float, float, float]) -> ObjectModel:
    cloth, skin = code("cloth"), code("skin")
    height = float(np.clip(rng.normal(1.72, 0.1), 1.5, 1.98))
    hip, shoulder = 0.5 * height, 0.81 * height
    stride = float(rng.uniform(0.0, 0.35))  # leg angle of the frozen stride, radians
    leg_length = hip
    parts = []
    for side, phase in ((0.1, 1.0), (-0.1, -1.0)):
        angle = phase * stride
        foot = np.array([np.sin(angle) * leg_length, side])
        # a leg as a slanted prism from the foot to the hip
        parts.append(meshes.tapered_box(
            (foot[0] - 0.07, foot[0] + 0.09, side - 0.07, side + 0.07),
            (-0.08, 0.08, side - 0.08, side + 0.08), 0.0, hip, cloth,
        ))
    torso_depth, torso_width = float(rng.uniform(0.2, 0.3)), float(rng.uniform(0.34, 0.46))
    parts.append(meshes.tapered_box((-torso_depth / 2, torso_depth / 2, -torso_width / 2 + 0.03, torso_width / 2 - 0.03),
                                    (-torso_depth / 2 + 0.02, torso_depth / 2 - 0.02, -torso_width / 2, torso_width / 2), hip - 0.04, shoulder, cloth))
    swing = stride * 0.8
    for side, phase in ((1, -1.0), (-1, 1.0)):
        hand = np.sin(phase * swing) * 0.55 * height * 0.45
        y = side * (torso_width / 2 + 0.05)
        parts.append(meshes.tapered_box((hand - 0.04, hand + 0.04, y - 0.04, y + 0.04), (-0.05, 0.05, y - 0.05, y + 0.05),
                                        shoulder - 0.36 * height, shoulder - 0.02, cloth))
    head = 0.065 * height
    parts.append(meshes.ellipsoid((head * 1.1, head * 0.95, head * 1.2), skin, subdivisions=1).translated((0.01, 0.0, height - head * 1.2)))
    parts.append(meshes.cylinder(0.05, shoulder - 0.02, height - 2 * head * 1.1, skin, segments=6))
    if rng.random() < 0.35:
        parts.append(meshes.box((-torso_depth / 2 - 0.18, -0.15, hip + 0.15), (-torso_depth / 2, 0.15, shoulder - 0.05), cloth))
    return _model("pedestrian", meshes.concatenate(parts), rng, float(rng.uniform(-6.0, 0.0)), color)


def _cyclist(rng: np.random.Generator, color: tuple[float, float, float]) -> ObjectModel:
    metal, tyre, cloth, skin = code("frame_metal"), code("tyre"), code("cloth"), code("skin")
    radius = float(rng.uniform(0.32, 0.36))
    base = float(rng.uniform(1.0, 1.1))  # wheel base
    rider = float(np.clip(rng.normal(1.74, 0.08), 1.55, 1.95))
    front, rear = base / 2, -base / 2
    parts = [meshes.wheel(radius, 0.05, tyre, segments=14).translated((x, 0.0, radius)) for x in (front, rear)]
    seat = np.array([rear + 0.25, 0.0, radius + 0.62])
    bar = np.array([front - 0.12, 0.0, radius + 0.72])
    parts += [
        meshes.tapered_box((rear, rear + 0.06, -0.02, 0.02), (seat[0] - 0.03, seat[0] + 0.03, -0.02, 0.02), radius, seat[2], metal),
        meshes.tapered_box((seat[0], seat[0] + 0.05, -0.02, 0.02), (bar[0] - 0.05, bar[0], -0.02, 0.02), seat[2] - 0.08, seat[2] - 0.02, metal),
        meshes.tapered_box((front - 0.03, front + 0.03, -0.02, 0.02), (bar[0] - 0.03, bar[0] + 0.03, -0.02, 0.02), radius, bar[2], metal),
        meshes.box((bar[0] - 0.03, -0.3, bar[2]), (bar[0] + 0.03, 0.3, bar[2] + 0.04), metal),
        meshes.box((seat[0] - 0.12, -0.08, seat[2]), (seat[0] + 0.1, 0.08, seat[2] + 0.06), cloth),
    ]
    # rider: legs down to the pedals, torso leaning to the bar, head
    crank = np.array([0.0, 0.0, radius])
    for side, phase in ((0.12, 1.0), (-0.12, -1.0)):
        pedal = crank + np.array([phase * 0.17 * rng.uniform(0.3, 1.0), 0.0, -phase * 0.05])
        parts.append(meshes.tapered_box((pedal[0] - 0.06, pedal[0] + 0.08, side - 0.06, side + 0.06), (seat[0] - 0.08, seat[0] + 0.08, side - 0.08, side + 0.08),
                                        pedal[2] - 0.05, seat[2] + 0.08, cloth))
    shoulder_height = seat[2] + 0.38 * rider
    shoulder_x = seat[0] + float(rng.uniform(0.25, 0.4))
    parts.append(meshes.tapered_box((seat[0] - 0.12, seat[0] + 0.12, -0.18, 0.18), (shoulder_x - 0.1, shoulder_x + 0.1, -0.21, 0.21), seat[2] + 0.05, shoulder_height, cloth))
    for side in (1, -1):
        parts.append(meshes.tapered_box((bar[0] - 0.04, bar[0] + 0.04, side * 0.27 - 0.04, side * 0.27 + 0.04),
                                        (shoulder_x - 0.05, shoulder_x + 0.05, side * 0.2 - 0.05, side * 0.2 + 0.05), bar[2] + 0.02, shoulder_height - 0.03, cloth))
    head = 0.065 * rider
    parts.append(meshes.ellipsoid((head * 1.15, head, head * 1.15), skin, subdivisions=1).translated((shoulder_x + 0.06, 0.0, shoulder_height + 0.06 + head)))
    return _model("cyclist", meshes.concatenate(parts), rng, float(rng.uniform(-2.0, 4.0)), color)


BUILDERS: dict[str, Callable[[np.random.Generator, tuple[float, float, float]], ObjectModel]] = {
    "car": _car,
    "truck": _truck,
    "pedestrian": _pedestrian,
    "cyclist": _cyclist,
}


def instance_color(instance: int) -> tuple[float, float, float]:
    """The camera colour of an instance (RGB 0..1): saturated hues a golden angle apart."""
    hue = (instance * 0.61803398875) % 1.0
    saturation, value = 0.75, 0.92
    sector = hue * 6.0
    index = int(sector) % 6
    fraction = sector - int(sector)
    low, falling, rising = value * (1 - saturation), value * (1 - saturation * fraction), value * (1 - saturation * (1 - fraction))
    return ((value, rising, low), (falling, value, low), (low, value, rising), (low, falling, value), (rising, low, value), (value, low, falling))[index]


def build_model(label: str, instance: int, rng: np.random.Generator) -> ObjectModel:
    """A new random instance of class `label` (car, truck, pedestrian, cyclist)."""
    if label not in BUILDERS:
        raise ValueError(f"no simulated model for class {label!r}; expected one of {', '.join(BUILDERS)}")
    return BUILDERS[label](rng, instance_color(instance))
