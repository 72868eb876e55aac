"""Pure data types of avlabel. Frame, time and array conventions are stated in
`sensors` (frames, time, points) and `cuboid` (box form, yaw, corner order)."""

from avlabel.structs.cuboid import BOX_FIELDS, CLASSES, SOURCES, STATES, Cuboid, Track, box_corners, wrap_angle, yaw_difference
from avlabel.structs.labels import SCHEMA as LABELS_SCHEMA
from avlabel.structs.labels import LabelFrame, Labels
from avlabel.structs.sensors import (
    DISTORTION_MODELS,
    POINT_FIELDS,
    RADAR_FIELDS,
    SENSOR_KINDS,
    Calibration,
    CameraImage,
    GnssSeries,
    ImuSeries,
    LidarSweep,
    PoseSeries,
    RadarScan,
)

__all__ = [
    "BOX_FIELDS", "CLASSES", "DISTORTION_MODELS", "LABELS_SCHEMA", "POINT_FIELDS", "RADAR_FIELDS", "SENSOR_KINDS",
    "SOURCES", "STATES", "Calibration", "CameraImage", "Cuboid", "GnssSeries", "ImuSeries", "LabelFrame", "Labels",
    "LidarSweep", "PoseSeries", "RadarScan", "Track", "box_corners", "wrap_angle", "yaw_difference",
]
