"""Feed avlabel Labels to the reference implementations (nuscenes-devkit, motmetrics,
TrackEval) through their own data classes, without a dataset on disk."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from avlabel.structs import Labels

# avlabel labels to nuScenes detection/tracking names (none of these is 'barrier' or
# 'traffic_cone', whose special cases the devkit applies outside accumulate()).
NUSCENES_NAMES = {"car": "car", "truck": "truck", "pedestrian": "pedestrian", "cyclist": "bicycle", "other": "bus"}


def _rotation(yaw: float) -> tuple[float, float, float, float]:
    return (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))


def detection_boxes(labels: Labels, *, truth: bool):
    """nuScenes EvalBoxes of DetectionBox, one sample per frame (token = timestamp)."""
    from nuscenes.eval.common.data_classes import EvalBoxes
    from nuscenes.eval.detection.data_classes import DetectionBox

    boxes = EvalBoxes()
    for frame in labels:
        token = str(frame.timestamp_us)
        items = []
        for cuboid in frame:
            if cuboid.label not in NUSCENES_NAMES:
                continue
            length, width, height = cuboid.size.tolist()
            velocity = tuple(cuboid.velocity.tolist()) if cuboid.velocity is not None else (np.nan, np.nan)
            items.append(
                DetectionBox(
                    sample_token=token,
                    translation=tuple(cuboid.center.tolist()),
                    size=(width, length, height),
                    rotation=_rotation(cuboid.yaw),
                    velocity=velocity,
                    detection_name=NUSCENES_NAMES[cuboid.label],
                    detection_score=-1.0 if truth else float(cuboid.score),
                    attribute_name=str(cuboid.attributes.get("attribute", "")),
                )
            )
        boxes.add_boxes(token, items)
    return boxes


def detection_config(classes: list[str]):
    """The devkit's CVPR 2019 detection config, its class list narrowed to `classes`."""
    import nuscenes.eval.detection as detection
    from nuscenes.eval.detection.data_classes import DetectionConfig

    path = Path(detection.__file__).parent / "configs" / "detection_cvpr_2019.json"
    config = DetectionConfig.deserialize(json.loads(path.read_text()))
    config.class_names = [NUSCENES_NAMES[label] for label in classes]
    return config


def tracking_tracks(labels: Labels, label: str, *, truth: bool, track_scores: dict[str, float] | None = None):
    """{scene: {timestamp: [TrackingBox]}} of one class, every frame present (as create_tracks
    builds it, scores replaced by the track's mean for predictions)."""
    from nuscenes.eval.tracking.data_classes import TrackingBox

    frames = {}
    for frame in labels:
        items = []
        for cuboid in frame:
            if cuboid.label != label:
                continue
            length, width, height = cuboid.size.tolist()
            items.append(
                TrackingBox(
                    sample_token=str(frame.timestamp_us),
                    translation=tuple(cuboid.center.tolist()),
                    size=(width, length, height),
                    rotation=_rotation(cuboid.yaw),
                    tracking_id=cuboid.track_id,
                    tracking_name=NUSCENES_NAMES[label],
                    tracking_score=-1.0 if truth else float(track_scores[cuboid.track_id]),
                )
            )
        frames[frame.timestamp_us] = items
    return {"scene": frames}


def tracking_config():
    import nuscenes.eval.tracking as tracking
    from nuscenes.eval.tracking.data_classes import TrackingConfig

    path = Path(tracking.__file__).parent / "configs" / "tracking_nips_2019.json"
    return TrackingConfig.deserialize(json.loads(path.read_text()))
