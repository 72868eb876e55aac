"""Keyframe interpolation of a track, in the world frame.

Labels live in the world frame, so an object's path between two keyframes is interpolated
as the object moved in the world, whatever the ego vehicle did meanwhile: a parked car
stays put while the ego turns past it, and a car driving straight stays on a straight
line. (Interpolating in the ego frame would bend both along the ego's own motion.)

Two ways to use keyframes (see `InterpolateTrack`):

- path: a cubic Hermite curve through the keyframe poses. Vehicles move along their
  heading, so where the keyframes say so the curve leaves each keyframe along its heading
  at the object's speed, and the heading in between is the direction of travel: straight
  driving, constant acceleration and steady turns come out right from few keyframes.
  Elsewhere (a pedestrian side-stepping, a parked car) tangents are Bessel's (the slope of
  the parabola through each keyframe and its neighbours), which reproduce constant
  velocity and acceleration exactly. Two keyframes of a moving object give a straight line
  (or an arc, if the headings differ). Yaw is unwrapped across keyframes first, so a turn
  through +-pi goes the short way round. Size is interpolated linearly.
- correction: every box keeps its own shape; its ground pose (x, y, bottom z, yaw) moves by
  the keyframe corrections, blended linearly in time between neighbouring keyframes and
  held before the first and after the last, so one keyframe fixes a track that is only
  shifted (the correction model avlabel.eval.effort counts edits with).

`plan_keyframes` simulates an annotator who fixes a track against truth with as few
keyframes as greedy placement needs: it measures how much work a track will take.
"""

from __future__ import annotations

import numpy as np

from avlabel.structs import wrap_angle


def _check_keys(key_times_us: np.ndarray, key_boxes: np.ndarray, *, minimum: int = 2) -> tuple[np.ndarray, np.ndarray]:
    times = np.asarray(key_times_us, dtype=np.int64)
    boxes = np.asarray(key_boxes, dtype=np.float64)
    if times.ndim != 1 or len(times) < minimum:
        raise ValueError(f"keyframes: need at least {minimum} keyframe time(s), got {times.shape}; mark another keyframe")
    if boxes.shape != (len(times), 7):
        raise ValueError(f"keyframe boxes: expected shape ({len(times)}, 7), got {boxes.shape}")
    if (np.diff(times) <= 0).any():
        raise ValueError("keyframe times must increase strictly (one keyframe per frame)")
    return times, boxes


def _bessel_tangents(times_s: np.ndarray, values: np.ndarray, *, secants: np.ndarray | None = None) -> np.ndarray:
    """(K, D) slopes: interior keys the derivative of the parabola through three keys,
    end keys the same parabola's slope at the end (straight line for two keys).
    `secants` (K-1, D) replaces the segment slopes of `values` when given."""
    steps = np.diff(times_s)[:, None]
    if secants is None:
        secants = np.diff(values, axis=0) / steps
    tangents = np.empty_like(values)
    if len(values) == 2:
        tangents[:] = secants[0]
        return tangents
    before, after = steps[:-1], steps[1:]
    tangents[1:-1] = (after * secants[:-1] + before * secants[1:]) / (before + after)
    tangents[0] = secants[0] - steps[0] * (secants[1] - secants[0]) / (steps[0] + steps[1])
    tangents[-1] = secants[-1] + steps[-1] * (secants[-1] - secants[-2]) / (steps[-1] + steps[-2])
    return tangents


def _hermite(times_s: np.ndarray, values: np.ndarray, tangents: np.ndarray, query_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values (T, D) and time derivatives (T, D) of the cubic Hermite curve through keys."""
    segment = np.clip(np.searchsorted(times_s, query_s, side="right") - 1, 0, len(times_s) - 2)
    start, stop = times_s[segment], times_s[segment + 1]
    length = (stop - start)[:, None]
    u = ((query_s - start) / (stop - start))[:, None]
    basis = (2 * u**3 - 3 * u**2 + 1, u**3 - 2 * u**2 + u, -2 * u**3 + 3 * u**2, u**3 - u**2)
    slopes = (6 * u**2 - 6 * u, 3 * u**2 - 4 * u + 1, -6 * u**2 + 6 * u, 3 * u**2 - 2 * u)
    ends = (values[segment], length * tangents[segment], values[segment + 1], length * tangents[segment + 1])
    value = sum(weight * end for weight, end in zip(basis, ends))
    derivative = sum(weight * end for weight, end in zip(slopes, ends)) / length
    return value, derivative


# A segment follows the keyframe headings when the object moves along them (vehicles):
# it moves at least this far, and its chord points within this angle of the mean heading.
HEADING_MIN_CHORD_M = 0.5
HEADING_MAX_DEVIATION_RAD = 0.25
HEADING_MAX_TURN_RAD = 2.5


def _arc_over_chord(turn: np.ndarray) -> np.ndarray:
    """Arc length / chord of a circular arc turning `turn` radians (1 for a straight line)."""
    half = np.abs(turn) / 2
    return np.where(half < 1e-9, 1.0, half / np.sin(np.maximum(half, 1e-9)))


def _arm_over_arc(turn: np.ndarray) -> np.ndarray:
    """Hermite tangent length / arc length that traces a circular arc best (4 tan(t/4) / t)."""
    turn = np.abs(turn)
    return np.where(turn < 1e-9, 1.0, 4 * np.tan(turn / 4) / np.maximum(turn, 1e-9))


def _along_heading(times_s: np.ndarray, xy: np.ndarray, yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per segment (K-1,): does the object move along its heading, and forwards (+1) or
    backwards (-1); per key (K,): its speed along the path (m/s), by the same parabola
    rule as the Bessel tangents applied to arc-length speeds."""
    steps = np.diff(times_s)
    chord = np.diff(xy, axis=0)
    chord_length = np.linalg.norm(chord, axis=1)
    turn = np.diff(yaw)
    middle = yaw[:-1] + turn / 2
    chord_angle = np.arctan2(chord[:, 1], chord[:, 0])
    direction = np.where(np.cos(chord_angle - middle) >= 0, 1.0, -1.0)
    deviation = np.abs(wrap_angle(chord_angle - middle - np.where(direction > 0, 0.0, np.pi)))
    follows = (chord_length >= HEADING_MIN_CHORD_M) & (deviation <= HEADING_MAX_DEVIATION_RAD) & (np.abs(turn) <= HEADING_MAX_TURN_RAD)
    speeds = (chord_length * _arc_over_chord(turn) / steps)[:, None]
    key_speeds = np.maximum(_bessel_tangents(times_s, np.zeros((len(times_s), 1)), secants=speeds)[:, 0], 0.0)
    return follows, direction, key_speeds


def interpolate_path(key_times_us: np.ndarray, key_boxes: np.ndarray, times_us: np.ndarray) -> np.ndarray:
    """Boxes (T, 7) at `times_us` (T,) on the smooth path through keyframe boxes (K, 7).

    Where the object moves along its keyframe headings (a vehicle), a segment's tangents
    point along those headings with the object's speed, scaled so that a circular arc is
    traced closely, and the heading in between is the direction of travel. Elsewhere
    (pedestrians, parked objects) Bessel tangents shape x, y and yaw. z always follows
    Bessel tangents, size is linear. Times must lie within [first, last keyframe];
    keyframe times give back the keyframe boxes exactly. World frame; yaw in [-pi, pi).
    """
    key_times, key_boxes = _check_keys(key_times_us, key_boxes)
    times = np.asarray(times_us, dtype=np.int64)
    if times.size and (times.min() < key_times[0] or times.max() > key_times[-1]):
        raise ValueError("interpolate_path: every time must lie between the first and the last keyframe (no extrapolation)")
    seconds = (key_times - key_times[0]) / 1e6
    query = (times - key_times[0]) / 1e6
    yaw = np.unwrap(key_boxes[:, 6])
    pose = np.column_stack([key_boxes[:, :3], yaw])
    result = np.empty((len(times), 7))
    result[:, [0, 1, 2, 6]], _ = _hermite(seconds, pose, _bessel_tangents(seconds, pose), query)
    for column in (3, 4, 5):
        result[:, column] = np.interp(query, seconds, key_boxes[:, column])
    # vehicles: follow the headings
    follows, direction, speeds = _along_heading(seconds, key_boxes[:, :2], yaw)
    segment = np.clip(np.searchsorted(seconds, query, side="right") - 1, 0, len(seconds) - 2)
    for index in np.flatnonzero(follows):
        inside = segment == index
        if not inside.any():
            continue
        ends = slice(index, index + 2)
        arm = _arm_over_arc(yaw[index + 1] - yaw[index])
        tangents = direction[index] * speeds[ends, None] * arm * np.column_stack([np.cos(yaw[ends]), np.sin(yaw[ends])])
        xy, velocity = _hermite(seconds[ends], key_boxes[ends, :2], tangents, query[inside])
        result[inside, 0:2] = xy
        moving = np.linalg.norm(velocity, axis=1) > 1e-6
        travel = np.arctan2(velocity[:, 1], velocity[:, 0]) + (0.0 if direction[index] > 0 else np.pi)
        rows = np.flatnonzero(inside)
        result[rows[moving], 6] = travel[moving]
    result[:, 6] = wrap_angle(result[:, 6])
    exact = np.searchsorted(key_times, times)
    hits = (exact < len(key_times)) & (key_times[np.minimum(exact, len(key_times) - 1)] == times)
    result[hits] = key_boxes[exact[hits]]
    return result


def ground_pose(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x, y, bottom z, yaw of boxes (N, 7): what a size change leaves alone."""
    boxes = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
    return np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 5] / 2, boxes[:, 6]])


def interpolate_correction(
    key_times_us: np.ndarray, key_corrections: np.ndarray, times_us: np.ndarray, base_boxes: np.ndarray
) -> np.ndarray:
    """Boxes (T, 7): `base_boxes` (T, 7) moved by corrections blended linearly in time
    between keyframes and held before the first and after the last (one keyframe shifts
    the whole track).

    key_corrections (K >= 1, 4): ground-pose change (dx, dy, d bottom z, dyaw) made at each
    keyframe (corrected pose minus the machine's pose). Sizes stay those of `base_boxes`.
    """
    key_times, _ = _check_keys(key_times_us, np.zeros((len(np.asarray(key_times_us)), 7)), minimum=1)
    corrections = np.asarray(key_corrections, dtype=np.float64)
    if corrections.shape != (len(key_times), 4):
        raise ValueError(f"keyframe corrections: expected shape ({len(key_times)}, 4), got {corrections.shape}")
    base = np.atleast_2d(np.asarray(base_boxes, dtype=np.float64))
    times = np.asarray(times_us, dtype=np.int64)
    if base.shape != (len(times), 7):
        raise ValueError(f"base boxes: expected shape ({len(times)}, 7), got {base.shape}")
    corrections = corrections.copy()
    corrections[:, 3] = wrap_angle(corrections[:, 3])
    blended = np.column_stack([np.interp(times, key_times, corrections[:, column]) for column in range(4)])
    pose = ground_pose(base) + blended
    result = base.copy()
    result[:, 0:2] = pose[:, 0:2]
    result[:, 2] = pose[:, 2] + base[:, 5] / 2
    result[:, 6] = wrap_angle(pose[:, 3])
    return result


def box_errors(boxes: np.ndarray, truth_boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-box centre distance (metres) and heading error (radians, flips count) (N,), (N,)."""
    boxes, truth_boxes = np.atleast_2d(boxes), np.atleast_2d(truth_boxes)
    distance = np.linalg.norm(boxes[:, :3] - truth_boxes[:, :3], axis=1)
    heading = np.abs(wrap_angle(boxes[:, 6] - truth_boxes[:, 6]))
    return distance, np.atleast_1d(heading)


def plan_keyframes(
    times_us: np.ndarray,
    boxes: np.ndarray,
    truth_boxes: np.ndarray,
    *,
    mode: str = "path",
    position_tolerance: float = 0.2,
    yaw_tolerance: float = 0.05,
    max_keyframes: int | None = None,
) -> list[int]:
    """Indices of the keyframes a greedy annotator places to fix one track against truth.

    The annotator starts with keyframes at the first and last frame (set to truth), then
    keeps adding one at the worst frame of the interpolated track until every box is
    within `position_tolerance` metres and `yaw_tolerance` radians of truth; finally drops
    the keyframes the others made unnecessary. Gives up adding at `max_keyframes`.

    times_us (T,), boxes (T, 7) the machine's track, truth_boxes (T, 7): world frame.
    """
    times = np.asarray(times_us, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.float64)
    truth_boxes = np.asarray(truth_boxes, dtype=np.float64)
    if boxes.shape != (len(times), 7) or truth_boxes.shape != boxes.shape:
        raise ValueError(f"plan_keyframes: expected boxes and truth of shape ({len(times)}, 7), got {boxes.shape} and {truth_boxes.shape}")
    if len(times) < 2:
        return list(range(len(times)))
    limit = max_keyframes or len(times)

    def worst_frame(keyframes: list[int]) -> tuple[int, float]:
        fixed = interpolate_track_boxes(times, boxes, keyframes, truth_boxes[keyframes], mode=mode)
        distance, heading = box_errors(fixed, truth_boxes)
        badness = np.maximum(distance / position_tolerance, heading / yaw_tolerance)
        worst = int(np.argmax(badness))
        return worst, float(badness[worst])

    # add: a keyframe at the worst frame until every frame is within tolerance (a path
    # needs both ends; corrections start from the worst frame alone)
    if mode == "correction":
        distance, heading = box_errors(boxes, truth_boxes)
        keyframes = [int(np.argmax(np.maximum(distance / position_tolerance, heading / yaw_tolerance)))]
    else:
        keyframes = [0, len(times) - 1]
    while True:
        worst, badness = worst_frame(keyframes)
        if badness <= 1.0 or len(keyframes) >= limit:
            break
        keyframes = sorted(set(keyframes) | {worst})
    if badness > 1.0:
        return keyframes
    # prune: drop keyframes the others make unnecessary (an annotator would not place them)
    for keyframe in list(keyframes if mode == "correction" else keyframes[1:-1]):
        if len(keyframes) == 1:
            break
        trial = [index for index in keyframes if index != keyframe]
        if worst_frame(trial)[1] <= 1.0:
            keyframes = trial
    return keyframes


def interpolate_track_boxes(
    times_us: np.ndarray, boxes: np.ndarray, key_indices: list[int], key_boxes: np.ndarray, *, mode: str = "path"
) -> np.ndarray:
    """The track `boxes` (T, 7) at `times_us` after setting `key_boxes` at `key_indices` and
    interpolating with `mode`: "path" rebuilds the keyframe span (boxes outside it are
    returned unchanged), "correction" moves every box."""
    times = np.asarray(times_us, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.float64)
    order = np.argsort(key_indices)
    indices = np.asarray(key_indices)[order]
    key_boxes = np.asarray(key_boxes, dtype=np.float64)[order]
    result = boxes.copy()
    span = slice(indices[0], indices[-1] + 1)
    if mode == "path":
        result[span] = interpolate_path(times[indices], key_boxes, times[span])
    elif mode == "correction":
        corrections = ground_pose(key_boxes) - ground_pose(boxes[indices])
        result = interpolate_correction(times[indices], corrections, times, boxes)
    else:
        raise ValueError(f"mode: expected 'path' or 'correction', got {mode!r}")
    result[indices] = key_boxes
    return result
