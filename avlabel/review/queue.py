"""The review queue: which tracks need a human, worst first.

One item per track (annotators fix tracks, not frames), pointing at the frame to look at
first. A track is flagged for any of these reasons (thresholds in `QueueSettings`):

    low_score      mean cuboid score, or the tracker's "track_score", below `low_score`
    few_points     some cuboid has fewer LiDAR points than `few_points`
    short_track    fewer cuboids than `short_track` (often a false positive)
    size_jump      a dimension changes by more than `size_jump` (relative) between frames
    heading_jump   the heading turns more than `heading_jump` radians between frames (flips count)
    jerky_path     the centre accelerates more than `jerky_acceleration` m/s^2 (smoothing residual)
    uncertain      the tracker's "uncertainty" attribute exceeds `high_uncertainty`
    interpolated   the tracker filled frames without a measurement ("state": "interpolated")
    needs_review   the tracker itself asks for a look ("needs_review": its track score is
                   under the class's review threshold)

Each reason's severity is how far past its threshold the track is (1 = just past), capped
at `severity_cap`; the priority is the weighted sum. Tracks whose every cuboid has been
reviewed (a "review" attribute: accepted, corrected, created, interpolated) leave the queue.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from avlabel.structs import Cuboid, Labels, yaw_difference

REASON_WEIGHTS = {
    "low_score": 1.0,
    "few_points": 0.6,
    "short_track": 0.5,
    "size_jump": 0.8,
    "heading_jump": 1.0,
    "jerky_path": 0.7,
    "uncertain": 0.9,
    "interpolated": 0.5,
    "needs_review": 0.8,
}


@dataclass(frozen=True, slots=True)
class QueueSettings:
    low_score: float = 0.5
    few_points: int = 10
    short_track: int = 3
    size_jump: float = 0.15
    heading_jump: float = 0.35
    jerky_acceleration: float = 6.0
    high_uncertainty: float = 0.5
    severity_cap: float = 3.0
    weights: dict[str, float] = field(default_factory=lambda: dict(REASON_WEIGHTS))

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(REASON_WEIGHTS)
        if unknown:
            raise ValueError(f"queue weights: unknown reason(s) {sorted(unknown)}; known: {', '.join(REASON_WEIGHTS)}")
        for name in ("low_score", "few_points", "short_track", "size_jump", "heading_jump", "jerky_acceleration", "high_uncertainty", "severity_cap"):
            if getattr(self, name) <= 0:
                raise ValueError(f"queue settings: {name} must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class Issue:
    """One reason a track needs a look: how bad (severity >= 1 past the threshold), where."""

    reason: str
    severity: float
    timestamp_us: int
    detail: str


@dataclass(frozen=True, slots=True)
class QueueItem:
    """A track to review: its priority, the frame to start at, and why."""

    track_id: str
    label: str
    priority: float
    timestamp_us: int
    issues: tuple[Issue, ...]
    cuboids: int

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(issue.reason for issue in self.issues)


@dataclass(frozen=True, slots=True)
class ReviewProgress:
    reviewed_tracks: int
    total_tracks: int
    reviewed_cuboids: int
    total_cuboids: int

    @property
    def fraction(self) -> float:
        return self.reviewed_tracks / self.total_tracks if self.total_tracks else 1.0


def _group(labels: Labels) -> dict[str, list[tuple[int, Cuboid]]]:
    tracks: dict[str, list[tuple[int, Cuboid]]] = defaultdict(list)
    for frame in labels.frames:
        for cuboid in frame.cuboids:
            tracks[cuboid.track_id].append((frame.timestamp_us, cuboid))
    return tracks


def is_reviewed(cuboid: Cuboid) -> bool:
    return "review" in cuboid.attributes


def review_progress(labels: Labels) -> ReviewProgress:
    """How much has been reviewed: tracks whose every cuboid is reviewed, and cuboids."""
    tracks = _group(labels)
    reviewed_tracks = sum(all(is_reviewed(cuboid) for _, cuboid in cuboids) for cuboids in tracks.values())
    reviewed_cuboids = sum(is_reviewed(cuboid) for cuboids in tracks.values() for _, cuboid in cuboids)
    return ReviewProgress(reviewed_tracks, len(tracks), reviewed_cuboids, sum(len(cuboids) for cuboids in tracks.values()))


def track_issues(entries: list[tuple[int, Cuboid]], settings: QueueSettings) -> list[Issue]:
    """Everything suspicious about one track (entries: (timestamp_us, cuboid) in time order)."""
    stamps = np.array([stamp for stamp, _ in entries], dtype=np.int64)
    boxes = np.stack([cuboid.box for _, cuboid in entries])
    scores = np.array([cuboid.score for _, cuboid in entries])
    points = np.array([cuboid.num_points for _, cuboid in entries])
    issues: list[Issue] = []

    def flag(reason: str, value: float, threshold: float, index: int, detail: str, *, below: bool = False) -> None:
        severity = (threshold - value) / threshold + 1.0 if below else value / threshold
        if (below and value < threshold) or (not below and value > threshold):
            issues.append(Issue(reason, float(min(severity, settings.severity_cap)), int(stamps[index]), detail))

    # confidence: the cuboids' own scores and the tracker's score for the track
    track_scores = [float(cuboid.attributes["track_score"]) for _, cuboid in entries if isinstance(cuboid.attributes.get("track_score"), (int, float))]
    confidence = min([float(scores.mean())] + track_scores)
    flag("low_score", confidence, settings.low_score, int(np.argmin(scores)), f"score {confidence:.2f}", below=True)
    # evidence: LiDAR points inside, and track length
    flag("few_points", float(points.min()), settings.few_points, int(np.argmin(points)), f"{int(points.min())} points", below=True)
    flag("short_track", float(len(entries)), settings.short_track, 0, f"{len(entries)} cuboid(s)", below=True)
    if len(entries) >= 2:
        # consistency between consecutive cuboids
        relative = np.abs(np.diff(boxes[:, 3:6], axis=0)) / boxes[:-1, 3:6]
        worst = int(np.argmax(relative.max(axis=1)))
        flag("size_jump", float(relative[worst].max()), settings.size_jump, worst + 1, f"size changes {relative[worst].max():.0%}")
        turns = np.asarray(yaw_difference(boxes[1:, 6], boxes[:-1, 6]))
        worst = int(np.argmax(turns))
        flag("heading_jump", float(turns[worst]), settings.heading_jump, worst + 1, f"heading turns {np.degrees(turns[worst]):.0f} deg")
    if len(entries) >= 3:
        # smoothing residual: acceleration of the centre, from second differences in time
        seconds = stamps / 1e6
        velocity = np.diff(boxes[:, :2], axis=0) / np.diff(seconds)[:, None]
        acceleration = np.linalg.norm(np.diff(velocity, axis=0), axis=1) / ((seconds[2:] - seconds[:-2]) / 2)
        worst = int(np.argmax(acceleration))
        flag("jerky_path", float(acceleration[worst]), settings.jerky_acceleration, worst + 1, f"{acceleration[worst]:.1f} m/s^2")
    uncertainty = np.array([float(cuboid.attributes.get("uncertainty", 0.0) or 0.0) for _, cuboid in entries])
    worst = int(np.argmax(uncertainty))
    flag("uncertain", float(uncertainty[worst]), settings.high_uncertainty, worst, f"uncertainty {uncertainty[worst]:.2f}")
    interpolated = np.array([cuboid.attributes.get("state") == "interpolated" and not is_reviewed(cuboid) for _, cuboid in entries])
    if interpolated.any():
        first = int(np.argmax(interpolated))
        issues.append(Issue("interpolated", float(min(1.0 + interpolated.mean(), settings.severity_cap)), int(stamps[first]), f"{int(interpolated.sum())} frame(s) filled in"))
    flagged = [index for index, (_, cuboid) in enumerate(entries) if cuboid.attributes.get("needs_review") is True and not is_reviewed(cuboid)]
    if flagged:
        issues.append(Issue("needs_review", 1.0, int(stamps[flagged[0]]), "the tracker asks for review"))
    return issues


def review_queue(
    labels: Labels, settings: QueueSettings | None = None, *, include_reviewed: bool = False, flagged_only: bool = False
) -> list[QueueItem]:
    """Tracks that need a human, highest priority first (ties by track id).

    Unreviewed tracks with no issue come last with priority 0 (they still want a glance
    and an accept) unless `flagged_only`; reviewed tracks only with `include_reviewed`.
    """
    settings = settings or QueueSettings()
    items = []
    for track_id, entries in _group(labels).items():
        if not include_reviewed and all(is_reviewed(cuboid) for _, cuboid in entries):
            continue
        issues = track_issues(entries, settings)
        if not issues and flagged_only:
            continue
        issues.sort(key=lambda issue: -settings.weights.get(issue.reason, 0.0) * issue.severity)
        priority = sum(settings.weights.get(issue.reason, 0.0) * issue.severity for issue in issues)
        labels_seen = [cuboid.label for _, cuboid in entries]
        label = max(dict.fromkeys(labels_seen), key=labels_seen.count)
        start = issues[0].timestamp_us if issues else entries[0][0]
        items.append(QueueItem(track_id, label, round(float(priority), 6), start, tuple(issues), len(entries)))
    items.sort(key=lambda item: (-item.priority, item.track_id))
    return items
