"""What the viewer prepares of a sweep without a window (avlabel.viewer.frames)."""

from __future__ import annotations

import numpy as np

from avlabel.sync.frames import RadarMatch, SyncedFrame
from avlabel.viewer.frames import _radar


def _yaw(angle: float, translation: tuple[float, float, float]) -> np.ndarray:
    pose = np.eye(4)
    pose[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    pose[:3, 3] = translation
    return pose


def test_radar_velocity_arrows_run_along_the_line_of_sight_from_the_radar() -> None:
    """A corner radar (3.5 m ahead, 0.9 m left of the ego origin) sees two reflections close
    by, so its lines of sight differ clearly from those out of the ego origin. The ego drives
    8 m/s along its heading (yawed 30 degrees in the world): a standing post reads minus the
    radar's own speed along its line of sight and must get no arrow; a car crossing at 5 m/s
    must get the part of its velocity along the radar's line of sight."""
    world_from_ego = _yaw(np.radians(30.0), (100.0, -20.0, 0.5))
    ego_velocity_ego = np.array([8.0, 0.0, 0.0])
    ego_from_radar = _yaw(np.radians(45.0), (3.5, 0.9, 0.6))
    post, car = np.array([5.0, 4.0, 0.6]), np.array([4.5, -1.0, 0.6])
    car_velocity_ego = np.array([0.0, 5.0, 0.0])
    line_of_sight = np.array([point - ego_from_radar[:3, 3] for point in (post, car)])
    line_of_sight /= np.linalg.norm(line_of_sight, axis=1, keepdims=True)
    measured = [
        -(ego_velocity_ego @ line_of_sight[0]),  # relative to the moving radar
        (car_velocity_ego - ego_velocity_ego) @ line_of_sight[1],
    ]
    detections = np.column_stack([np.vstack([post, car]), measured, [10.0, 12.0]]).astype(np.float32)
    scan = RadarMatch(index=0, timestamp_us=1_000, offset_us=0, detections_ego=detections, ego_from_radar=ego_from_radar)
    synced = SyncedFrame(
        index=0, timestamp_us=1_000, points=np.zeros((0, 6), np.float32), world_from_ego=world_from_ego,
        ego_velocity=world_from_ego[:3, :3] @ ego_velocity_ego, cameras={}, radar={"radar_front_left": [scan]}, missing=(),
    )

    positions, velocities = _radar(synced)

    np.testing.assert_allclose(positions, (np.vstack([post, car]) @ world_from_ego[:3, :3].T + world_from_ego[:3, 3]), atol=1e-4)
    np.testing.assert_allclose(velocities[0], 0.0, atol=1e-4)  # the post stands still
    expected_car = world_from_ego[:3, :3] @ (line_of_sight[1] * (car_velocity_ego @ line_of_sight[1]))
    np.testing.assert_allclose(velocities[1], expected_car, atol=1e-4)
