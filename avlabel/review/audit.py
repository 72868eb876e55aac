"""Who changed what and when: the labels file's review history, and per-annotator summaries.

Every save appends one record to `metadata["history"]` of the labels file:

    {"session": "3f2c...",            the session that saved
     "saved_by": "alice", "saved_at": "2024-05-01T09:12:44.120+00:00",
     "journal": "labels.journal.jsonl", "journal_id": "...", "sequences": [first, last],
     "active_seconds": {"alice": 812.4},     time spent per annotator (gaps over IDLE_GAP_S
                                             between journal entries count as idle)
     "edits": [{"at": ..., "by": "alice", "operation": "move_cuboid",
                "tracks": ["12"], "timestamp_us": 1500000, "cuboids": 1}, ...]}

and `metadata["review"]` says which journal entries the file already includes:

    {"journal": "labels.journal.jsonl", "journal_id": "...", "journal_sequence": 57,
     "saved_by": "alice", "saved_at": ...}

The cuboids themselves carry `review`, `edited_by`, `edited_at` (see avlabel.review.edits).
`annotator_summaries` turns both into numbers evaluation can report: edits, time, and how
many machine cuboids each annotator accepted as they were versus corrected.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from avlabel.structs import Labels

IDLE_GAP_S = 60.0  # a pause longer than this between two steps is not counted as work


def parse_time(text: str) -> datetime.datetime:
    """An ISO 8601 time as written by the review session (timezone aware)."""
    return datetime.datetime.fromisoformat(text)


def format_time(moment: datetime.datetime) -> str:
    """ISO 8601 UTC with milliseconds, the form written into journals and labels."""
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds")


def active_seconds(times: Iterable[str], *, idle_gap_s: float = IDLE_GAP_S) -> float:
    """Seconds of work in a sequence of step times: the sum of gaps, each capped at `idle_gap_s`."""
    moments = sorted(parse_time(time) for time in times)
    return float(sum(min((later - earlier).total_seconds(), idle_gap_s) for earlier, later in zip(moments, moments[1:])))


def history_edit(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The history line of one journal entry (None for entries that change nothing: open, save, select)."""
    kind = entry["kind"]
    if kind in ("open", "save"):
        return None
    record: dict[str, Any] = {"at": entry["time"], "by": entry["annotator"]}
    if kind == "operation":
        operation = entry["operation"]
        if operation["type"] == "select":
            return None
        record["operation"] = operation["type"]
        if operation.get("timestamp_us") is not None:
            record["timestamp_us"] = operation["timestamp_us"]
    else:
        record["operation"] = kind
        record["of"] = entry.get("of")
    record["tracks"] = entry.get("tracks", [])
    record["cuboids"] = entry.get("cuboids", 0)
    return record


def history_record(
    entries: list[dict[str, Any]], *, session: str, saved_by: str, saved_at: str, journal: str, journal_id: str
) -> dict[str, Any]:
    """One `metadata["history"]` record for the journal entries a save includes."""
    by_annotator: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        by_annotator[entry["annotator"]].append(entry["time"])
    by_annotator[saved_by].append(saved_at)
    edits = [edit for edit in (history_edit(entry) for entry in entries) if edit is not None]
    return {
        "session": session,
        "saved_by": saved_by,
        "saved_at": saved_at,
        "journal": journal,
        "journal_id": journal_id,
        "sequences": [entries[0]["sequence"], entries[-1]["sequence"]] if entries else [],
        "active_seconds": {name: round(active_seconds(times), 3) for name, times in by_annotator.items()},
        "edits": edits,
    }


@dataclass(frozen=True, slots=True)
class AnnotatorSummary:
    """One annotator's review work on one labels file.

    edits: operations that changed the labels (undo and redo counted apart);
    accepted: cuboids in the labels this annotator confirmed unchanged;
    corrected: cuboids in the labels this annotator changed, created or interpolated;
    rejected: machine cuboids this annotator rejected (they are no longer in the labels).
    """

    annotator: str
    sessions: int = 0
    edits: int = 0
    undos: int = 0
    redos: int = 0
    active_seconds: float = 0.0
    operations: dict[str, int] = field(default_factory=dict)
    tracks_touched: int = 0
    accepted: int = 0
    corrected: int = 0
    created: int = 0
    interpolated: int = 0
    rejected: int = 0

    @property
    def acceptance_rate(self) -> float:
        """accepted / (accepted + corrected), NaN when the annotator reviewed nothing."""
        reviewed = self.accepted + self.corrected
        return self.accepted / reviewed if reviewed else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {"acceptance_rate": self.acceptance_rate}


def annotator_summaries(labels: Labels) -> dict[str, AnnotatorSummary]:
    """Per-annotator summary of the review recorded in a labels file (history + cuboids)."""
    sessions: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    operations: dict[str, Counter[str]] = defaultdict(Counter)
    tracks: dict[str, set[str]] = defaultdict(set)
    rejected: Counter[str] = Counter()
    for record in labels.metadata.get("history", []):
        if not isinstance(record, dict):
            continue
        annotators_here = set()
        for edit in record.get("edits", []):
            name = edit.get("by", "unknown")
            annotators_here.add(name)
            operations[name][edit.get("operation", "unknown")] += 1
            tracks[name].update(edit.get("tracks", []))
            if edit.get("operation") == "reject":
                rejected[name] += int(edit.get("cuboids", 0))
        for name, value in record.get("active_seconds", {}).items():
            seconds[name] += float(value)
            annotators_here.add(name)
        for name in annotators_here:
            sessions[name] += 1
    states: dict[str, Counter[str]] = defaultdict(Counter)
    for frame in labels.frames:
        for cuboid in frame.cuboids:
            name = cuboid.attributes.get("edited_by")
            if name is not None:
                states[name][cuboid.attributes.get("review", "corrected")] += 1
    names = set(sessions) | set(states) | set(operations)
    summaries = {}
    for name in sorted(names):
        counts = operations[name]
        state = states[name]
        summaries[name] = AnnotatorSummary(
            annotator=name,
            sessions=sessions[name],
            edits=sum(count for kind, count in counts.items() if kind not in ("undo", "redo")),
            undos=counts["undo"],
            redos=counts["redo"],
            active_seconds=round(seconds[name], 3),
            operations=dict(counts),
            tracks_touched=len(tracks[name]),
            accepted=state["accepted"],
            corrected=state["corrected"] + state["created"] + state["interpolated"],
            created=state["created"],
            interpolated=state["interpolated"],
            rejected=rejected[name],
        )
    return summaries
