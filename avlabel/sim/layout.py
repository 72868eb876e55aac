"""The street grid of the simulated town, in its own map frame (x east, y north, z up).

Two streets run along x (at y = 0 and y = block_y) and two along y (at x = 0 and
x = block_x); they cross in four intersections and end at the town's edges. Every street
has the same cross-section, from the centre line outwards on each side:

    | travel lane 3.5 m | bike lane 1.5 m | parking lane 2.2 m | curb 0.15 m | sidewalk 3.5 m | lots
    0                  3.5               5.0                  7.2

Traffic keeps right: a lane's centre lies to the right of its direction of travel. The road
is crowned (it falls 1.5 % from the centre line to the gutter) and the whole town rolls
with gentle hills (grades up to about 6 %). Sidewalks and lots sit one curb above the gutter.
Road markings (centre lines, lane lines, stop lines, zebra crossings) are painted on the
road surface: `markings` says which paint covers a point.

The simulator places the map in the world (ENU) frame with one rigid transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LANE_WIDTH = 3.5
BIKE_LANE_WIDTH = 1.5
PARKING_WIDTH = 2.2
HALF_WIDTH = LANE_WIDTH + BIKE_LANE_WIDTH + PARKING_WIDTH  # 7.2 m, centre line to curb
SIDEWALK_WIDTH = 3.5
CURB_HEIGHT = 0.15
CROWN = 0.015  # road cross-fall, metres per metre from the centre line
RAISED_LEVEL = CURB_HEIGHT - CROWN * HALF_WIDTH  # sidewalk height above the hill surface

LANE_OFFSET = LANE_WIDTH / 2  # travel-lane centre, from the centre line
BIKE_OFFSET = LANE_WIDTH + BIKE_LANE_WIDTH / 2
PARKING_OFFSET = HALF_WIDTH - PARKING_WIDTH / 2 + 0.15  # parked cars sit close to the curb
CROSSWALK = (7.7, 10.7)  # zebra band, distance from the crossing street's centre line
STOP_LINE = (11.2, 11.6)
STOP_LINE_DISTANCE = STOP_LINE[0]  # vehicles stop with their front here

MARKING_NONE, MARKING_WHITE, MARKING_YELLOW = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Hills:
    """Ground height of the map: a sum of three plane waves (amplitude, wavelength, direction, phase)."""

    amplitudes: tuple[float, float, float]
    wavelengths: tuple[float, float, float]
    directions: tuple[float, float, float]  # radians
    phases: tuple[float, float, float]

    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = np.zeros(np.broadcast(x, y).shape)
        for amplitude, wavelength, direction, phase in zip(self.amplitudes, self.wavelengths, self.directions, self.phases):
            along = np.cos(direction) * x + np.sin(direction) * y
            result = result + amplitude * np.sin(2 * np.pi * along / wavelength + phase)
        return result

    def gradient(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gradient_x = np.zeros(np.broadcast(x, y).shape)
        gradient_y = np.zeros_like(gradient_x)
        for amplitude, wavelength, direction, phase in zip(self.amplitudes, self.wavelengths, self.directions, self.phases):
            along = np.cos(direction) * x + np.sin(direction) * y
            slope = amplitude * 2 * np.pi / wavelength * np.cos(2 * np.pi * along / wavelength + phase)
            gradient_x = gradient_x + slope * np.cos(direction)
            gradient_y = gradient_y + slope * np.sin(direction)
        return gradient_x, gradient_y


@dataclass(frozen=True, slots=True)
class Layout:
    """Street grid: x-streets at `street_ys`, y-streets at `street_xs`, town within `bounds`."""

    street_xs: tuple[float, ...]  # centre lines of the streets running north-south
    street_ys: tuple[float, ...]  # centre lines of the streets running east-west
    bounds: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max
    hills: Hills

    @property
    def intersections(self) -> list[tuple[float, float]]:
        return [(x, y) for x in self.street_xs for y in self.street_ys]

    def blocks(self) -> list[tuple[float, float, float, float]]:
        """Rectangles (x0, x1, y0, y1) between streets and town edges, curb to curb."""
        x_min, x_max, y_min, y_max = self.bounds
        x_cuts = [x_min] + [c for x in self.street_xs for c in (x - HALF_WIDTH, x + HALF_WIDTH)] + [x_max]
        y_cuts = [y_min] + [c for y in self.street_ys for c in (y - HALF_WIDTH, y + HALF_WIDTH)] + [y_max]
        return [(x_cuts[i], x_cuts[i + 1], y_cuts[j], y_cuts[j + 1]) for i in range(0, len(x_cuts), 2) for j in range(0, len(y_cuts), 2)]

    # -- heights

    def lateral_offset(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance to the nearest street centre line (metres)."""
        distances = [np.abs(np.asarray(x) - street) for street in self.street_xs] + [np.abs(np.asarray(y) - street) for street in self.street_ys]
        return np.minimum.reduce(distances)

    def on_road(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.lateral_offset(x, y) < HALF_WIDTH

    def road_height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Height of the (crowned) road surface, as if the road were everywhere."""
        return self.hills.height(x, y) - CROWN * np.minimum(self.lateral_offset(x, y), HALF_WIDTH)

    def surface_height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Height of what one stands on: the road, or the sidewalk/lot one curb higher."""
        offset = self.lateral_offset(x, y)
        road = self.hills.height(x, y) - CROWN * np.minimum(offset, HALF_WIDTH)
        return np.where(offset < HALF_WIDTH, road, self.hills.height(x, y) + RAISED_LEVEL)

    # -- paint

    def markings(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Paint at map points (N,): MARKING_NONE, MARKING_WHITE or MARKING_YELLOW."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        result = np.zeros(x.shape, dtype=np.uint8)
        for axis, centres, crossing in ((0, self.street_ys, self.street_xs), (1, self.street_xs, self.street_ys)):
            along, across_coordinate = (x, y) if axis == 0 else (y, x)
            for centre in centres:
                lateral = across_coordinate - centre
                inside = np.abs(lateral) < HALF_WIDTH
                if not inside.any():
                    continue
                # signed distance along the street to the nearest crossing street, and which side
                distance_to_crossing = np.full(x.shape, np.inf)
                signed = np.zeros(x.shape)
                for cross in crossing:
                    delta = along - cross
                    closer = np.abs(delta) < distance_to_crossing
                    distance_to_crossing = np.where(closer, np.abs(delta), distance_to_crossing)
                    signed = np.where(closer, delta, signed)
                between = inside & (distance_to_crossing > HALF_WIDTH)
                absolute = np.abs(lateral)
                centre_line = between & (distance_to_crossing > STOP_LINE[1]) & (absolute > 0.06) & (absolute < 0.18)
                lane_line = between & (distance_to_crossing > STOP_LINE[1]) & (np.abs(absolute - LANE_WIDTH) < 0.07)
                parking_line = (between & (distance_to_crossing > STOP_LINE[1]) & (np.abs(absolute - (LANE_WIDTH + BIKE_LANE_WIDTH)) < 0.06)
                                & (np.mod(along, 6.0) < 3.0))
                zebra = (between & (distance_to_crossing >= CROSSWALK[0]) & (distance_to_crossing <= CROSSWALK[1])
                         & (absolute < HALF_WIDTH - 0.3) & (np.mod(lateral + 0.25, 1.0) < 0.5))
                # stop lines cover the lanes that approach the crossing (traffic keeps right)
                approaching = np.sign(lateral) == (np.sign(signed) if axis == 0 else -np.sign(signed))
                stop = (between & (distance_to_crossing >= STOP_LINE[0]) & (distance_to_crossing <= STOP_LINE[1])
                        & approaching & (absolute > 0.2) & (absolute < LANE_WIDTH + BIKE_LANE_WIDTH))
                result = np.where(lane_line | parking_line | zebra | stop, MARKING_WHITE, result)
                result = np.where(centre_line, MARKING_YELLOW, result)
        return result


def make_layout(rng: np.random.Generator) -> Layout:
    """A town of 3 x 3 blocks around a central block of random size."""
    block_x = float(rng.uniform(135.0, 165.0))
    block_y = float(rng.uniform(100.0, 125.0))
    hills = Hills(
        amplitudes=(float(rng.uniform(1.4, 2.2)), float(rng.uniform(1.0, 1.6)), float(rng.uniform(0.3, 0.6))),
        wavelengths=(float(rng.uniform(240, 320)), float(rng.uniform(200, 260)), float(rng.uniform(110, 150))),
        directions=(float(rng.uniform(-0.3, 0.3)), float(np.pi / 2 + rng.uniform(-0.3, 0.3)), float(rng.uniform(0, np.pi))),
        phases=tuple(float(value) for value in rng.uniform(0, 2 * np.pi, 3)),
    )
    return Layout(street_xs=(0.0, block_x), street_ys=(0.0, block_y), bounds=(-160.0, block_x + 160.0, -150.0, block_y + 150.0), hills=hills)
