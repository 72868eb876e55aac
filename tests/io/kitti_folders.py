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


# --------------------------------------------------------------------------- KITTI raw

RAW_ORIGIN = (49.011, 8.422, 112.0)  # lat, lon, alt of the first OXTS fix
RAW_HEADING = 0.3  # rad from east, counter-clockwise
RAW_SPEED = 10.0  # m/s
RAW_START = "2011-09-26 13:02:25"
RAW_START_US = 1317042145 * 1_000_000  # RAW_START as UTC microseconds
RAW_OXTS_LEAD_US = 4_000  # OXTS packets come 4 ms before each scan
RAW_CAR_WORLD = np.array([25.0, 15.0, -0.2, 4.0, 1.7, 1.5, 1.0])  # a parked car, ENU at the first fix


def raw_world_from_imu(time_us: float) -> np.ndarray:
    """The test drive: straight at RAW_SPEED along RAW_HEADING, level, from the first fix."""
    travelled = RAW_SPEED * (time_us - (RAW_START_US - RAW_OXTS_LEAD_US)) * 1e-6
    transform = np.eye(4)
    cos, sin = np.cos(RAW_HEADING), np.sin(RAW_HEADING)
    transform[:3, :3] = [[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]]
    transform[:3, 3] = [travelled * cos, travelled * sin, 0.0]
    return transform


def _stamp_text(time_us: int) -> str:
    seconds, micro = divmod(time_us - RAW_START_US, 1_000_000)
    return f"2011-09-26 13:02:{25 + seconds:02d}.{micro:06d}000"


def write_kitti_raw_drive(root: Path, *, scans: int = 3, seed: int = 0, bounds: bool = True) -> Path:
    """A KITTI raw date folder with calibration and one synced drive of `scans` frames:
    velodyne (with timestamps_start/end), image_02, image_03, oxts and a tracklet of RAW_CAR_WORLD.
    Returns the drive folder."""
    import pymap3d

    rng = np.random.default_rng(seed)
    date = root / "2011_09_26"
    drive = date / "2011_09_26_drive_0001_sync"
    for folder in ("velodyne_points/data", "image_02/data", "image_03/data", "oxts/data"):
        (drive / folder).mkdir(parents=True, exist_ok=True)
    numbers = lambda values: " ".join(f"{v:.12e}" for v in np.asarray(values).ravel())  # noqa: E731
    (date / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n"
        f"S_rect_00: 1.242000e+03 3.750000e+02\nR_rect_00: {numbers(R0_RECT)}\nP_rect_00: {numbers(np.column_stack([P2[:, :3], np.zeros(3)]))}\n"
        f"S_rect_02: 1.242000e+03 3.750000e+02\nP_rect_02: {numbers(P2)}\nS_rect_03: 1.242000e+03 3.750000e+02\nP_rect_03: {numbers(P3)}\n"
    )
    (date / "calib_velo_to_cam.txt").write_text(
        f"calib_time: 15-Mar-2012 11:37:16\nR: {numbers(TR_VELO_TO_CAM[:, :3])}\nT: {numbers(TR_VELO_TO_CAM[:, 3])}\n"
        "delta_f: 0.000000e+00 0.000000e+00\ndelta_c: 0.000000e+00 0.000000e+00\n"
    )
    (date / "calib_imu_to_velo.txt").write_text(f"calib_time: 25-May-2012 16:47:16\nR: {numbers(TR_IMU_TO_VELO[:, :3])}\nT: {numbers(TR_IMU_TO_VELO[:, 3])}\n")
    velodyne_from_imu = np.eye(4)
    velodyne_from_imu[:3] = TR_IMU_TO_VELO
    scan_stamps = [RAW_START_US + 100_000 * index for index in range(scans)]
    tracklet_poses = []
    for index, stamp in enumerate(scan_stamps):
        name = f"{index:010d}"
        velodyne_from_world = velodyne_from_imu @ np.linalg.inv(raw_world_from_imu(stamp))
        car = RAW_CAR_WORLD.copy()
        car[:3] = velodyne_from_world[:3, :3] @ car[:3] + velodyne_from_world[:3, 3]
        heading = velodyne_from_world[:3, :3] @ np.array([np.cos(RAW_CAR_WORLD[6]), np.sin(RAW_CAR_WORLD[6]), 0.0])
        car[6] = np.arctan2(heading[1], heading[0])
        tracklet_poses.append((car[0], car[1], car[2] - car[5] / 2, car[6]))
        points = scene_points([car], rng)
        # Four markers at azimuth 0, +90, -90 and 180 degrees for the per-point time test.
        markers = np.array([[10, 0, 0, 1], [0, 10, 0, 1], [0, -10, 0, 1], [-10, 0.001, 0, 1]], np.float32)
        np.concatenate([points, markers]).astype("<f4").tofile(drive / "velodyne_points" / "data" / f"{name}.bin")
        image = render_image(points, P2, rect0_from_velodyne())
        for camera in ("image_02", "image_03"):
            cv2.imwrite(str(drive / camera / "data" / f"{name}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        oxts_time = stamp - RAW_OXTS_LEAD_US
        imu = raw_world_from_imu(oxts_time)
        lat, lon, alt = pymap3d.enu2geodetic(imu[0, 3], imu[1, 3], imu[2, 3], *RAW_ORIGIN)
        velocity = RAW_SPEED * np.array([np.sin(RAW_HEADING), np.cos(RAW_HEADING)])  # north, east
        packet = [lat, lon, alt, 0.0, 0.0, RAW_HEADING, velocity[0], velocity[1], RAW_SPEED, 0, 0, 0.1, 0.0, 9.81, 0.1, 0, 9.81,
                  0.01, 0.02, 0.03, 0.01, 0.02, 0.03, 0.05, 0.02, 4, 10, 5, 5, 6]
        (drive / "oxts" / "data" / f"{name}.txt").write_text(" ".join(repr(float(v)) if i < 25 else str(int(v)) for i, v in enumerate(packet)) + "\n")
    (drive / "velodyne_points" / "timestamps.txt").write_text("".join(_stamp_text(s) + "\n" for s in scan_stamps))
    if bounds:
        (drive / "velodyne_points" / "timestamps_start.txt").write_text("".join(_stamp_text(s - 50_000) + "\n" for s in scan_stamps))
        (drive / "velodyne_points" / "timestamps_end.txt").write_text("".join(_stamp_text(s + 50_000) + "\n" for s in scan_stamps))
    for camera in ("image_02", "image_03"):
        (drive / camera / "timestamps.txt").write_text("".join(_stamp_text(s + 1_000) + "\n" for s in scan_stamps))
    (drive / "oxts" / "timestamps.txt").write_text("".join(_stamp_text(s - RAW_OXTS_LEAD_US) + "\n" for s in scan_stamps))
    poses_xml = "".join(
        "<item class_id=\"3\" tracking_level=\"0\" version=\"2\">"
        f"<tx>{tx!r}</tx><ty>{ty!r}</ty><tz>{tz!r}</tz><rx>0</rx><ry>0</ry><rz>{rz!r}</rz>"
        "<state>2</state><occlusion>0</occlusion><occlusion_kf>0</occlusion_kf><truncation>0</truncation>"
        "<amt_occlusion>-1</amt_occlusion><amt_occlusion_kf>-1</amt_occlusion_kf><amt_border_l>-1</amt_border_l>"
        "<amt_border_r>-1</amt_border_r><amt_border_kf>-1</amt_border_kf></item>\n"
        for tx, ty, tz, rz in tracklet_poses
    )
    length, width, height = RAW_CAR_WORLD[3:6]
    (drive / "tracklet_labels.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>\n<!DOCTYPE boost_serialization>\n'
        '<boost_serialization signature="serialization::archive" version="9">\n'
        '<tracklets class_id="0" tracking_level="0" version="0">\n<count>1</count>\n<item_version>1</item_version>\n'
        '<item class_id="1" tracking_level="0" version="1">\n<objectType>Car</objectType>\n'
        f"<h>{height!r}</h>\n<w>{width!r}</w>\n<l>{length!r}</l>\n<first_frame>0</first_frame>\n"
        f'<poses class_id="2" tracking_level="0" version="0">\n<count>{len(tracklet_poses)}</count>\n<item_version>2</item_version>\n'
        f"{poses_xml}</poses>\n<finished>1</finished>\n</item>\n</tracklets>\n</boost_serialization>\n"
    )
    return drive
