"""Numba kernels of the simulator: arrays and scalars in, arrays out. Private."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _interp_uniform(values: np.ndarray, step: float, position: float) -> float:
    """values sampled every `step` from 0; linear interpolation, clamped at the ends."""
    index = position / step
    if index <= 0.0:
        return values[0]
    last = values.shape[0] - 1
    if index >= last:
        return values[last]
    low = int(index)
    fraction = index - low
    return values[low] * (1.0 - fraction) + values[low + 1] * fraction


@njit(cache=True)
def drive_longitudinal(
    count: int,
    dt: float,
    first_time: float,
    initial_position: float,
    initial_speed: float,
    path_length: float,
    allowed_speed: np.ndarray,
    allowed_step: float,
    obstacle_position: np.ndarray,
    obstacle_speed: np.ndarray,
    obstacle_reach: np.ndarray,
    coarse_ratio: int,
    stop_position: np.ndarray,
    stop_hold: np.ndarray,
    stop_release: np.ndarray,
    max_acceleration: float,
    comfortable_deceleration: float,
    headway: float,
    standstill_gap: float,
    front_extent: float,
    max_jerk: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Intelligent-driver-model speed control along a path, jerk limited.

    Obstacles are other agents projected on this path at coarse steps: obstacle_position
    (C, K) arc length of each (NaN = not in this path's corridor), obstacle_speed (C, K) their
    speed along the path, obstacle_reach (C, K) how far they extend back towards us. Stops are
    stop lines at stop_position (M,): each holds the agent until it has stood `stop_hold`
    seconds and the time is past `stop_release`. Returns arc length, speed and acceleration
    (count,) and the step at which the path end was reached (count if never).
    """
    position = np.empty(count)
    speed = np.empty(count)
    acceleration = np.empty(count)
    released = np.zeros(stop_position.shape[0], dtype=np.bool_)
    waited = np.zeros(stop_position.shape[0])
    current_position, current_speed, current_acceleration = initial_position, initial_speed, 0.0
    finished = count
    root = 2.0 * np.sqrt(max_acceleration * comfortable_deceleration)
    for step in range(count):
        time = first_time + step * dt
        position[step] = current_position
        speed[step] = current_speed
        if current_position >= path_length:
            if finished == count:
                finished = step
            acceleration[step] = 0.0
            continue
        desired = max(_interp_uniform(allowed_speed, allowed_step, current_position), 0.1)
        free = 1.0 - (current_speed / desired) ** 4
        # nearest thing ahead: an agent or an unreleased stop line
        gap, closing = 1e9, 0.0
        coarse = min(step // coarse_ratio, obstacle_position.shape[0] - 1)
        for other in range(obstacle_position.shape[1]):
            ahead = obstacle_position[coarse, other]
            if ahead != ahead or ahead <= current_position:
                continue
            candidate = ahead - obstacle_reach[coarse, other] - current_position - front_extent
            if candidate < gap:
                gap = candidate
                closing = current_speed - obstacle_speed[coarse, other]
        # stop lines: brake at exactly v^2 / 2d once that is a firm but comfortable stop
        stop_braking = 1e9
        for stop in range(stop_position.shape[0]):
            if released[stop]:
                continue
            distance = stop_position[stop] - current_position - front_extent
            if distance < -1.0:
                released[stop] = True
                continue
            if current_speed < 0.15 and distance < 3.0:
                waited[stop] += dt
                if waited[stop] >= stop_hold[stop] and time >= stop_release[stop]:
                    released[stop] = True
                    continue
            if distance <= 0.05:
                needed = 8.0 if current_speed > 0.0 else 0.0
            else:
                needed = current_speed * current_speed / (2.0 * distance)
            if needed > 0.5 * comfortable_deceleration or (distance <= 0.05 and needed > 0.0):
                stop_braking = min(stop_braking, -needed)
            elif distance < 0.5:
                stop_braking = min(stop_braking, 0.0)  # hold at the line
        interaction = 0.0
        if gap < 1e8:
            desired_gap = standstill_gap + max(0.0, current_speed * headway + current_speed * closing / root)
            interaction = (desired_gap / max(gap, 0.05)) ** 2
        wanted = max_acceleration * (free - interaction)
        wanted = min(max(min(wanted, stop_braking), -8.0), max_acceleration)
        jerk = max_jerk if wanted > -3.0 else 4.0 * max_jerk
        current_acceleration = min(max(wanted, current_acceleration - jerk * dt), current_acceleration + max_jerk * dt)
        next_speed = current_speed + current_acceleration * dt
        if next_speed < 0.0:
            next_speed = 0.0
            current_acceleration = -current_speed / dt if current_speed > 0.0 else 0.0
        acceleration[step] = current_acceleration
        current_position += 0.5 * (current_speed + next_speed) * dt
        current_speed = next_speed
        if current_speed == 0.0 and current_acceleration < 0.0:
            current_acceleration = 0.0
    return position, speed, acceleration, finished
