"""Duplicate tracks: two tracks on one object (a cluster split in two, say), offline only.

Two tracks are duplicates when, over the frames both have boxes, their bird's-eye
footprints overlap (BEV IoU at least `duplicate_iou`) in at least `duplicate_share` of the
weaker track's frames. Parked cars in a row, cars in neighbouring lanes and people walking
side by side do not overlap; two boxes on the two halves of one car do. Of a duplicate
pair the weaker track (lower track score, then fewer observations) is dropped.
"""

from __future__ import annotations

import numpy as np

from avlabel.geometry.iou import bev_iou
from avlabel.tracking.consolidation import ConsolidatedTrack


def _strength(track: ConsolidatedTrack) -> tuple[float, int]:
    return track.score, int((track.rows >= 0).sum())


def suppress_duplicates(tracks: list[ConsolidatedTrack], duplicate_iou: float, duplicate_share: float) -> list[ConsolidatedTrack]:
    """The tracks without the weaker member of every duplicate pair (order kept)."""
    order = sorted(range(len(tracks)), key=lambda index: _strength(tracks[index]), reverse=True)
    kept: list[int] = []
    for index in order:
        candidate = tracks[index]
        if not any(_duplicates(candidate, tracks[other], duplicate_iou, duplicate_share) for other in kept):
            kept.append(index)
    return [tracks[index] for index in sorted(kept)]


def _duplicates(weaker: ConsolidatedTrack, stronger: ConsolidatedTrack, duplicate_iou: float, duplicate_share: float) -> bool:
    """Does `weaker` overlap `stronger` in enough of its own frames?"""
    if weaker.frames[-1] < stronger.frames[0] or stronger.frames[-1] < weaker.frames[0]:
        return False
    common, weaker_at, stronger_at = np.intersect1d(weaker.frames, stronger.frames, assume_unique=True, return_indices=True)
    if not len(common):
        return False
    # Cheap reject: centres further apart than both boxes' half diagonals never overlap.
    reach = 0.5 * (np.hypot(*weaker.boxes[0, 3:5]) + np.hypot(*stronger.boxes[0, 3:5]))
    near = np.linalg.norm(weaker.boxes[weaker_at, :2] - stronger.boxes[stronger_at, :2], axis=1) < reach
    if near.sum() < duplicate_share * len(weaker.frames):
        return False
    overlap = bev_iou(weaker.boxes[weaker_at[near]], stronger.boxes[stronger_at[near]]) >= duplicate_iou
    return bool(overlap.sum() >= duplicate_share * len(weaker.frames))
