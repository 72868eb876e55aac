"""Tiny KITTI-format folders written by the tests themselves (no downloaded data).

Boxes are given in the velodyne frame, [x, y, z (centre), length, width, height, yaw]; the
label files are derived from them with KITTI's published conventions, written out here
independently of avlabel's importer: location = bottom centre = camera-frame centre + h/2
along camera +y, rotation_y = atan2(-d_z, d_x) of the heading d in rectified camera 0.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# A calibration in the style of KITTI's 2011_09_26 recordings (values rounded as KITTI prints them).
P2 = np.array([[721.5377, 0.0, 609.5593, 44.85728], [0.0, 721.5377, 172.854, 0.2163791], [0.0, 0.0, 1.0, 0.002745884]])
P3 = np.array([[721.5377, 0.0, 609.5593, -339.5242], [0.0, 721.5377, 172.854, 2.199936], [0.0, 0.0, 1.0, 0.002729905]])
R0_RECT = np.array([
    [0.9999239, 0.00983776, -0.007445048],
    [-0.009869795, 0.9999421, -0.004278459],
    [0.007402527, 0.004351614, 0.9999631],
])
TR_VELO_TO_CAM = np.array([
    [7.533745e-03, -9.999714e-01, -6.166020e-04, -4.069766e-03],
    [1.480249e-02, 7.280733e-04, -9.998902e-01, -7.631618e-02],
    [9.998621e-01, 7.523790e-03, 1.480755e-02, -2.717806e-01],
])
TR_IMU_TO_VELO = np.array([
    [9.999976e-01, 7.553071e-04, -2.035826e-03, -8.086759e-01],
    [-7.854027e-04, 9.998898e-01, -1.482298e-02, 3.195559e-01],
    [2.024406e-03, 1.482454e-02, 9.998881e-01, -7.997231e-01],
])
IMAGE_SIZE = (1242, 375)

# Velodyne-frame boxes of the default scene: a car, a pedestrian, a cyclist.
SCENE_BOXES = (
    ("Car", np.array([14.0, 2.5, -0.93, 4.2, 1.8, 1.6, 0.3])),
    ("Pedestrian", np.array([9.0, -2.0, -0.85, 0.8, 0.6, 1.75, -1.2])),
    ("Cyclist", np.array([20.0, -4.0, -0.9, 1.8, 0.6, 1.7, 2.5])),
)
DONT_CARE_BOX_2D = (820.0, 160.0, 870.0, 190.0)


def rect0_from_velodyne() -> np.ndarray:
    rectification = np.eye(4)
    rectification[:3, :3] = R0_RECT
    velodyne_to_camera = np.eye(4)
    velodyne_to_camera[:3] = TR_VELO_TO_CAM
    return rectification @ velodyne_to_camera


def label_line(kind: str, box_velodyne: np.ndarray, transform: np.ndarray, *, truncated: float = 0.0, occluded: int = 0) -> str:
    """A KITTI label line for a velodyne-frame box, with rect0_from_velodyne `transform`."""
    center = transform[:3, :3] @ box_velodyne[:3] + transform[:3, 3]
    length, width, height, yaw = box_velodyne[3:]
    location = center + np.array([0.0, height / 2.0, 0.0])
    heading = transform[:3, :3] @ np.array([np.cos(yaw), np.sin(yaw), 0.0])
    rotation_y = np.arctan2(-heading[2], heading[0])
    alpha = rotation_y - np.arctan2(location[0], location[2])
    box_2d = (100.0, 120.0, 180.0, 200.0)
    numbers = [truncated, occluded, alpha, *box_2d, height, width, length, *location, rotation_y]
    return kind + " " + " ".join(f"{value:.9f}" for value in numbers)


def scene_points(boxes: list[np.ndarray], rng: np.random.Generator, *, ground_z: float = -1.73) -> np.ndarray:
    """(N, 4) float32 velodyne points: a ground grid and points on every box's surface."""
    grid_x, grid_y = np.meshgrid(np.arange(3.0, 40.0, 0.6), np.arange(-14.0, 14.0, 0.6))
    ground = np.column_stack([grid_x.ravel(), grid_y.ravel(), np.full(grid_x.size, ground_z)])
    parts = [ground]
    for box in boxes:
        local = rng.uniform(-0.5, 0.5, (400, 3)) * box[3:6]
        face = rng.integers(0, 3, 400)
        local[np.arange(400), face] = np.sign(local[np.arange(400), face]) * box[3 + face] * 0.49  # just inside
        cos, sin = np.cos(box[6]), np.sin(box[6])
        world = np.column_stack([cos * local[:, 0] - sin * local[:, 1], sin * local[:, 0] + cos * local[:, 1], local[:, 2]]) + box[:3]
        parts.append(world)
    xyz = np.concatenate(parts)
    return np.column_stack([xyz, rng.uniform(0, 1, len(xyz))]).astype(np.float32)


def render_image(points: np.ndarray, projection: np.ndarray, transform: np.ndarray, size: tuple[int, int] = IMAGE_SIZE) -> np.ndarray:
    """(H, W, 3) uint8 RGB: sky, road, and the points splatted by height (a crude rendering)."""
    width, height = size
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 2] = (150, 190, 235)
    image[height // 2 :] = (95, 95, 100)
    camera = points[:, :3] @ transform[:3, :3].T + transform[:3, 3]
    front = camera[:, 2] > 1.0
    pixels = np.column_stack([camera[front], np.ones(front.sum())]) @ projection.T
    u, v = (pixels[:, 0] / pixels[:, 2]).astype(int), (pixels[:, 1] / pixels[:, 2]).astype(int)
    heights = points[front, 2]
    for column, row, value in zip(u, v, heights):
        if 0 <= column < width and 0 <= row < height:
            shade = int(np.clip((value + 1.8) * 120, 0, 255))
            cv2.circle(image, (int(column), int(row)), 2, (shade, 80, 255 - shade), -1)
    return image


def write_kitti_object_folder(
    root: Path, *, frames: int = 2, labels: bool = True, dont_care: bool = True, second_calibration: bool = False, image_3: bool = False, seed: int = 0,
) -> Path:
    """A KITTI object folder with `frames` frames of SCENE_BOXES (shifted a little per frame).

    second_calibration: the last frame gets another P2 (as frames from another recording day do).
    """
    rng = np.random.default_rng(seed)
    transform = rect0_from_velodyne()
    for folder in ("velodyne", "calib", "image_2") + (("label_2",) if labels else ()) + (("image_3",) if image_3 else ()):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for index in range(frames):
        name = f"{index:06d}"
        boxes = [(kind, box + np.array([0.5 * index, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])) for kind, box in SCENE_BOXES]
        points = scene_points([box for _, box in boxes], rng)
        points.astype("<f4").tofile(root / "velodyne" / f"{name}.bin")
        projection = P2.copy()
        if second_calibration and index == frames - 1:
            projection[0, 0] = projection[1, 1] = 707.0493
        calib = {
            "P0": np.column_stack([projection[:, :3], np.zeros(3)]), "P1": P3, "P2": projection, "P3": P3,
            "R0_rect": R0_RECT, "Tr_velo_to_cam": TR_VELO_TO_CAM, "Tr_imu_to_velo": TR_IMU_TO_VELO,
        }
        (root / "calib" / f"{name}.txt").write_text("".join(f"{key}: {' '.join(f'{v:.12e}' for v in value.ravel())}\n" for key, value in calib.items()))
        image = render_image(points, projection, transform)
        cv2.imwrite(str(root / "image_2" / f"{name}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if image_3:
            cv2.imwrite(str(root / "image_3" / f"{name}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if labels:
            lines = [label_line(kind, box, transform) for kind, box in boxes]
            if dont_care:
                lines.append("DontCare -1 -1 -10 " + " ".join(f"{v:.2f}" for v in DONT_CARE_BOX_2D) + " -1 -1 -1 -1000 -1000 -1000 -10")
            (root / "label_2" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return root
