"""Ground-truth cuboids: every object near the ego at every LiDAR sweep stamp.

An object's cuboid is the tight box of its mesh in its own (heading) frame, carried by its
pose at the sweep stamp (log clock): centre and yaw in the world frame, velocity (vx, vy)
of the box centre in the world frame. Objects within TRUTH_RADIUS of the ego are labelled
whether or not the LiDAR saw them (num_points 0 when hidden), and so is every object
farther away that has LiDAR points in the sweep.
"""

from __future__ import annotations

import numpy as np

from avlabel.sim.scenario import Scenario
from avlabel.structs import Cuboid, LabelFrame, wrap_angle

TRUTH_RADIUS = 80.0
MOVING_SPEED = 0.2  # m/s; slower counts as not moving


def truth_frame(scenario: Scenario, time: float, timestamp_us: int, index: int, points_per_instance: dict[int, int]) -> LabelFrame:
    """The truth of the sweep stamped at log time `time` (seconds) = `timestamp_us`."""
    ego = scenario.ego.sample(time)
    table = scenario.table
    poses, present = table.sample(np.array([time - 0.01, time, time + 0.01]))
    seen = np.isin(table.instance, list(points_per_instance))
    near = present[:, 1] & ((np.hypot(poses["cx"][:, 1] - ego["x"], poses["cy"][:, 1] - ego["y"]) <= TRUTH_RADIUS) | seen)
    cuboids = []
    for row in np.flatnonzero(near):
        agent = scenario.agents[row]
        # centre velocity by central difference (one-sided at the ends of presence)
        before, after = (0 if present[row, 0] else 1), (2 if present[row, 2] else 1)
        span = 0.01 * (after - before)
        velocity = np.array([poses["cx"][row, after] - poses["cx"][row, before], poses["cy"][row, after] - poses["cy"][row, before]]) / span if span else np.zeros(2)
        cuboids.append(Cuboid(
            id=f"truth-{agent.instance}-{index}",
            track_id=str(agent.instance),
            label=agent.label,
            center=np.array([poses["cx"][row, 1], poses["cy"][row, 1], poses["cz"][row, 1]]),
            size=agent.model.size,
            yaw=wrap_angle(float(poses["yaw"][row, 1])),
            score=1.0,
            num_points=points_per_instance.get(agent.instance, 0),
            source="truth",
            velocity=velocity,
            attributes={"moving": bool(poses["speed"][row, 1] > MOVING_SPEED), "parked": agent.parked},
        ))
    return LabelFrame(timestamp_us, tuple(cuboids), {"sweep": index})
