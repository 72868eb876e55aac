"""The review journal: every step of every review session, one JSON object per line.

    {"format": "avlabel.review-journal/1", "journal_id": ..., "labels": "labels.json",
     "created_at": ..., "base_sha256": ...}                       header (first line)
    {"sequence": 1, "kind": "open", "session": ..., "annotator": ..., "time": ...}
    {"sequence": 2, "kind": "operation", ..., "operation": {"type": "move_cuboid", ...}}
    {"sequence": 3, "kind": "undo", ..., "patch": {"frames": [...]}}
    {"sequence": 4, "kind": "save", ...}

Each line is written, flushed and fsync'ed before the edit it records is shown as done,
so a crash (power, SIGKILL) loses at most the line being written. Reading tolerates a torn
last line (it is dropped, and cut off before anything new is appended); a damaged line in
the middle is an error, because replaying past it would silently lose edits.

`base_sha256` is the hash of the labels file the journal started from, and saved labels
record the journal's id and the last sequence they include (metadata["review"]): together
they tell which entries a reopened session must replay (see ReviewSession.open).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avlabel.io.atomic import write_text
from avlabel.io.errors import InputError

FORMAT = "avlabel.review-journal/1"
ENTRY_KINDS = ("open", "operation", "undo", "redo", "save")

logger = logging.getLogger(__name__)


class JournalError(InputError):
    """A journal that cannot be trusted for replay; the message says what to do."""


@dataclass(frozen=True, slots=True)
class JournalContents:
    """What a journal file holds: its header and its complete entries, in order."""

    header: dict[str, Any]
    entries: tuple[dict[str, Any], ...]
    torn_tail: bool  # the last line was half written (crash) and is ignored
    good_bytes: int  # length of the file up to the end of the last complete line


def file_sha256(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def default_journal_path(labels_path: str | os.PathLike[str]) -> Path:
    """The journal beside a labels file: labels.json -> labels.journal.jsonl."""
    labels_path = Path(labels_path)
    return labels_path.with_name(f"{labels_path.stem}.journal.jsonl")


def read_journal(path: str | os.PathLike[str]) -> JournalContents | None:
    """Parse a journal; None when the file is missing or holds no complete header."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # `tail` is b"" when the file ends in a newline
    torn = bool(tail)
    parsed: list[dict[str, Any]] = []
    good_bytes = 0
    for number, line in enumerate(complete, start=1):
        try:
            value = json.loads(line)
            if not isinstance(value, dict):
                raise ValueError("not an object")
        except ValueError:
            if number == len(complete) and not torn:
                torn = True  # a final line without its closing bytes but with a newline: still a torn write
                break
            raise JournalError(
                f"{path}: line {number}: not a journal entry (damaged file?); move the journal aside to open the labels without it"
            ) from None
        parsed.append(value)
        good_bytes += len(line) + 1
    if not parsed:
        return None
    header, entries = parsed[0], parsed[1:]
    if header.get("format") != FORMAT or not isinstance(header.get("journal_id"), str):
        raise JournalError(f"{path}: line 1: expected a {FORMAT} header; this is not an avlabel review journal")
    for position, entry in enumerate(entries):
        expected = position + 1
        if entry.get("sequence") != expected or entry.get("kind") not in ENTRY_KINDS:
            raise JournalError(
                f"{path}: line {position + 2}: expected entry {expected} of kind {'/'.join(ENTRY_KINDS)}, "
                f"got sequence {entry.get('sequence')!r} kind {entry.get('kind')!r}; move the journal aside to continue"
            )
    return JournalContents(header, tuple(entries), torn, good_bytes)


class JournalWriter:
    """Appends entries to a journal file, each one durable (fsync) before `append` returns."""

    def __init__(self, path: Path, header: dict[str, Any], last_sequence: int) -> None:
        self.path = path
        self.header = header
        self.last_sequence = last_sequence
        self._handle = open(path, "ab")

    @property
    def journal_id(self) -> str:
        return self.header["journal_id"]

    @classmethod
    def create(cls, path: str | os.PathLike[str], *, labels_path: str | os.PathLike[str], time: str) -> "JournalWriter":
        """Start a new journal for the labels file as it is now (atomically written header)."""
        path = Path(path)
        header = {
            "format": FORMAT,
            "journal_id": uuid.uuid4().hex,
            "labels": Path(labels_path).name,
            "created_at": time,
            "base_sha256": file_sha256(labels_path),
        }
        write_text(path, json.dumps(header, separators=(",", ":")) + "\n")
        return cls(path, header, 0)

    @classmethod
    def resume(cls, path: str | os.PathLike[str], contents: JournalContents) -> "JournalWriter":
        """Continue an existing journal, cutting off a torn last line first."""
        path = Path(path)
        if contents.torn_tail:
            logger.warning("%s: dropping a half-written last line (the previous session ended abruptly)", path)
            with open(path, "r+b") as handle:
                handle.truncate(contents.good_bytes)
                handle.flush()
                os.fsync(handle.fileno())
        return cls(path, contents.header, len(contents.entries))

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Write `entry` with the next sequence number; returns the entry as written."""
        if entry.get("kind") not in ENTRY_KINDS:
            raise ValueError(f"journal entry kind: expected one of {', '.join(ENTRY_KINDS)}, got {entry.get('kind')!r}")
        written = {"sequence": self.last_sequence + 1, **entry}
        line = json.dumps(written, separators=(",", ":"), default=_json_default).encode("utf-8") + b"\n"
        self._handle.write(line)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.last_sequence += 1
        return written

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()


def move_aside(path: Path, reason: str) -> Path:
    """Rename a journal that does not belong to the labels file, keeping it for inspection."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    target = path.with_name(f"{path.name}.stale-{stamp}")
    os.replace(path, target)
    logger.warning("%s: %s; moved it to %s and started a new journal", path, reason, target.name)
    return target


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a review journal")
