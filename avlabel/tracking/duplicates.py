"""Duplicate tracks: two tracks on one object (a cluster split in two, a stretch of boxes
fitted across the object that started a track of its own), offline only.

Two tracks are duplicates when, over the frames both have boxes (at least
`_FEWEST_COMMON_FRAMES`), their bird's-eye footprints overlap (BEV IoU at least
`duplicate_iou`) in at least `duplicate_share` of those frames. Parked cars in a row,
cars in neighbouring lanes and people walking side by side do not overlap; two boxes on
one car do. The weaker track (lower track score, then fewer observations) is merged into
the stronger: the stronger keeps its boxes, and gains the weaker's boxes at frames it has
none (at its own size), so that one object keeps one id.

A parked track is carried past its first and last detection (consolidation.py); where, on
the way out, its box overlaps a box another track observed at that sweep (BEV IoU at
least `duplicate_iou`), the place is taken and the carried boxes stop there: the parked
car drove off, or the track was never a parked car (`trim_carried_boxes`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from avlabel.geometry.iou import bev_iou
from avlabel.tracking.consolidation import ConsolidatedTrack

# Fewer frames in common than this say nothing about two tracks being one object.
_FEWEST_COMMON_FRAMES = 3


def _strength(track: ConsolidatedTrack) -> tuple[float, int]:
    return track.score, int((track.rows >= 0).sum())


def suppress_duplicates(tracks: list[ConsolidatedTrack], duplicate_iou: float, duplicate_share: float) -> list[ConsolidatedTrack]:
    """The tracks with every duplicate merged into the strongest of its group (order kept)."""
    order = sorted(range(len(tracks)), key=lambda index: _strength(tracks[index]), reverse=True)
    kept: dict[int, ConsolidatedTrack] = {}
    for index in order:
        candidate = tracks[index]
        owner = next((other for other, track in kept.items() if _duplicates(candidate, track, duplicate_iou, duplicate_share)), None)
        if owner is None:
            kept[index] = candidate
        else:
            kept[owner] = _merged(kept[owner], candidate)
    return [kept[index] for index in sorted(kept)]


def _duplicates(weaker: ConsolidatedTrack, stronger: ConsolidatedTrack, duplicate_iou: float, duplicate_share: float) -> bool:
    """Do the two tracks' boxes overlap in enough of the frames both have?"""
    if weaker.frames[-1] < stronger.frames[0] or stronger.frames[-1] < weaker.frames[0]:
        return False
    common, weaker_at, stronger_at = np.intersect1d(weaker.frames, stronger.frames, assume_unique=True, return_indices=True)
    if len(common) < _FEWEST_COMMON_FRAMES:
        return False
    # Cheap reject: centres further apart than both boxes' half diagonals never overlap.
    reach = 0.5 * (np.hypot(*weaker.boxes[0, 3:5]) + np.hypot(*stronger.boxes[0, 3:5]))
    near = np.linalg.norm(weaker.boxes[weaker_at, :2] - stronger.boxes[stronger_at, :2], axis=1) < reach
    if near.sum() < duplicate_share * len(common):
        return False
    overlap = bev_iou(weaker.boxes[weaker_at[near]], stronger.boxes[stronger_at[near]]) >= duplicate_iou
    return bool(overlap.sum() >= duplicate_share * len(common))


def _merged(stronger: ConsolidatedTrack, weaker: ConsolidatedTrack) -> ConsolidatedTrack:
    """The stronger track, plus the weaker's boxes at the frames it has none (resized to
    the stronger's one size)."""
    extra = ~np.isin(weaker.frames, stronger.frames)
    if not extra.any():
        return stronger
    boxes = weaker.boxes[extra].copy()
    boxes[:, 3:6] = stronger.boxes[0, 3:6]
    frames = np.concatenate([stronger.frames, weaker.frames[extra]])
    order = np.argsort(frames, kind="stable")
    states = np.array(stronger.states + tuple(np.array(weaker.states)[extra]), dtype=object)
    return dataclasses.replace(
        stronger,
        frames=frames[order],
        rows=np.concatenate([stronger.rows, weaker.rows[extra]])[order],
        boxes=np.vstack([stronger.boxes, boxes])[order],
        velocities=np.vstack([stronger.velocities, weaker.velocities[extra]])[order],
        states=tuple(states[order]),
        uncertainties=np.concatenate([stronger.uncertainties, weaker.uncertainties[extra]])[order],
    )


def trim_carried_boxes(tracks: list[ConsolidatedTrack], duplicate_iou: float) -> list[ConsolidatedTrack]:
    """The tracks with each parked track's boxes carried past its detections cut back where
    another track's observed box overlaps them (BEV IoU at least `duplicate_iou`): going
    outwards from its first (last) detection, the carried boxes stop at the first such
    sweep."""
    observed: dict[int, list[tuple[int, np.ndarray]]] = {}  # frame -> (track index, box) of detections
    for index, track in enumerate(tracks):
        for frame, box in zip(track.frames[track.rows >= 0], track.boxes[track.rows >= 0]):
            observed.setdefault(int(frame), []).append((index, box))
    result = []
    for index, track in enumerate(tracks):
        seen = np.flatnonzero(track.rows >= 0)
        if not track.stationary or not len(seen):
            result.append(track)
            continue
        keep = np.ones(len(track.frames), dtype=bool)
        for outwards in (np.arange(seen[0] - 1, -1, -1), np.arange(seen[-1] + 1, len(track.frames))):
            for position, step in enumerate(outwards):
                others = [box for other, box in observed.get(int(track.frames[step]), ()) if other != index]
                if others and (bev_iou(np.repeat(track.boxes[step][None], len(others), axis=0), np.array(others)) >= duplicate_iou).any():
                    keep[outwards[position:]] = False
                    break
        result.append(track if keep.all() else _subset(track, keep))
    return result


def _subset(track: ConsolidatedTrack, keep: np.ndarray) -> ConsolidatedTrack:
    return dataclasses.replace(
        track,
        frames=track.frames[keep],
        rows=track.rows[keep],
        boxes=track.boxes[keep],
        velocities=track.velocities[keep],
        states=tuple(np.array(track.states, dtype=object)[keep]),
        uncertainties=track.uncertainties[keep],
    )
