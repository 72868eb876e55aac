import math

import numpy as np
import pytest

from avlabel.structs import (
    Calibration,
    CameraImage,
    Cuboid,
    GnssSeries,
    ImuSeries,
    LabelFrame,
    Labels,
    LidarSweep,
    PoseSeries,
    RadarScan,
    box_corners,
    wrap_angle,
    yaw_difference,
)


def test_box_corners_follow_the_documented_order():
    corners = box_corners(np.array([1.0, 2.0, 3.0, 4.0, 2.0, 1.0, math.pi / 2]))
    # Heading +y: front face (corners 0-3) at y = 2 + 2, left side (+w/2) towards -x.
    np.testing.assert_allclose(corners[0], [0.0, 4.0, 3.5], atol=1e-12)
    np.testing.assert_allclose(corners[1], [2.0, 4.0, 3.5], atol=1e-12)
    np.testing.assert_allclose(corners[2], [2.0, 4.0, 2.5], atol=1e-12)
    np.testing.assert_allclose(corners[6], [2.0, 0.0, 2.5], atol=1e-12)
    np.testing.assert_allclose(corners.mean(axis=0), [1.0, 2.0, 3.0], atol=1e-12)


def test_box_corners_batch_matches_single():
    boxes = np.random.default_rng(0).normal(size=(5, 7))
    boxes[:, 3:6] = np.abs(boxes[:, 3:6]) + 0.1
    batch = box_corners(boxes)
    for box, corners in zip(boxes, batch):
        np.testing.assert_allclose(box_corners(box), corners)


@pytest.mark.parametrize("angle, expected", [(math.pi, -math.pi), (-math.pi, -math.pi), (3 * math.pi / 2, -math.pi / 2), (0.5, 0.5)])
def test_wrap_angle_into_half_open_interval(angle, expected):
    assert wrap_angle(angle) == pytest.approx(expected)


def test_yaw_difference_modulo_pi_ignores_heading_flips():
    assert yaw_difference(0.1, 0.1 + math.pi, period=math.pi) == pytest.approx(0.0, abs=1e-12)
    assert yaw_difference(3.1, -3.1) == pytest.approx(2 * math.pi - 6.2)


def test_cuboid_normalises_yaw_and_exposes_box():
    cuboid = Cuboid("a", "t", "car", [1, 2, 3], [4, 2, 1.5], 3 * math.pi / 2)
    assert cuboid.yaw == pytest.approx(-math.pi / 2)
    np.testing.assert_allclose(cuboid.box, [1, 2, 3, 4, 2, 1.5, -math.pi / 2])
    assert Cuboid.from_box(cuboid.box, id="a", track_id="t", label="car") == cuboid


@pytest.mark.parametrize(
    "change, message",
    [
        ({"size": [4, 0, 1]}, "size"),
        ({"size": [4, 2]}, "shape"),
        ({"center": [np.nan, 0, 0]}, "NaN"),
        ({"score": 1.5}, "score"),
        ({"source": "robot"}, "source"),
        ({"track_id": ""}, "track_id"),
        ({"num_points": -1}, "num_points"),
        ({"yaw": float("inf")}, "yaw"),
    ],
)
def test_cuboid_rejects_bad_fields_with_the_field_named(change, message):
    fields = dict(id="a", track_id="t", label="car", center=[0, 0, 0], size=[4, 2, 1.5], yaw=0.0)
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        Cuboid(**fields)


def test_calibration_validates_cameras_and_transforms():
    camera = dict(sensor="cam", kind="camera", ego_from_sensor=np.eye(4), intrinsics=np.diag([500.0, 500.0, 1.0]), image_size=(640, 480))
    assert Calibration(**camera).image_size == (640, 480)
    with pytest.raises(ValueError, match="needs intrinsics"):
        Calibration("cam", "camera", np.eye(4))
    with pytest.raises(ValueError, match="distortion"):
        Calibration(**camera, distortion_model="brown_conrady", distortion=np.zeros(4))
    skewed = np.eye(4)
    skewed[0, 1] = 0.5
    with pytest.raises(ValueError, match="not a rotation"):
        Calibration("lidar", "lidar", skewed)
    with pytest.raises(ValueError, match="kind"):
        Calibration("lidar", "sonar", np.eye(4))


def test_sweep_rejects_wrong_dtype_shape_and_nan():
    with pytest.raises(ValueError, match="float32"):
        LidarSweep("lidar", 0, np.zeros((10, 6), dtype=np.float64))
    with pytest.raises(ValueError, match="shape"):
        LidarSweep("lidar", 0, np.zeros((10, 4), dtype=np.float32))
    points = np.zeros((10, 6), dtype=np.float32)
    points[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LidarSweep("lidar", 0, points)


def test_sweep_point_times():
    points = np.zeros((3, 6), dtype=np.float32)
    points[:, 4] = [-50_000, 0, 49_999]
    np.testing.assert_array_equal(LidarSweep("l", 1_000_000, points).point_times_us(), [950_000, 1_000_000, 1_049_999])


def test_series_reject_non_monotonic_timestamps():
    with pytest.raises(ValueError, match="increase strictly"):
        PoseSeries(np.array([0, 10, 10]), np.tile(np.eye(4), (3, 1, 1)))
    with pytest.raises(ValueError, match="integer microseconds"):
        GnssSeries(np.array([0.0, 1.0]), np.zeros(2), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="unit norm"):
        ImuSeries(np.array([0]), np.array([[1.0, 1.0, 0, 0]]), np.zeros((1, 3)), np.zeros((1, 3)))


def test_labels_reject_duplicates_and_build_tracks():
    car = Cuboid("a", "1", "car", [0, 0, 0], [4, 2, 1.5], 0.0)
    with pytest.raises(ValueError, match="appears twice"):
        LabelFrame(0, (car, car))
    with pytest.raises(ValueError, match="increase strictly"):
        Labels((LabelFrame(10), LabelFrame(5)))
    moved = Cuboid("b", "1", "car", [1, 0, 0], [4, 2, 1.5], 0.0)
    tracks = Labels((LabelFrame(0, (car,)), LabelFrame(100_000, (moved,)))).tracks()
    assert list(tracks) == ["1"]
    np.testing.assert_allclose(tracks["1"].boxes[:, 0], [0, 1])
    assert tracks["1"].duration_s == pytest.approx(0.1)


def test_equality_compares_arrays_by_value():
    image = np.zeros((2, 3, 3), np.uint8)
    assert CameraImage("c", 1, image) == CameraImage("c", 1, image.copy())
    assert CameraImage("c", 1, image) != CameraImage("c", 2, image)
    assert RadarScan("r", 1, np.zeros((0, 5), np.float32)) == RadarScan("r", 1, np.zeros((0, 5), np.float32))
