"""Crash safety: a process applying edits and saving is killed with SIGKILL at random
moments, many times. After every kill the labels file is a complete old or new version
(never half written), and reopening replays the journal to every acknowledged edit
(at most the edit in flight when the process died is lost)."""

from __future__ import annotations

import logging
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import crash_worker
from avlabel.io.labels_file import labels_to_document, read_labels, write_labels
from avlabel.review import ReviewSession, read_journal
from review_scenes import make_labels

logger = logging.getLogger(__name__)

OPERATIONS = 40
FORKED_ITERATIONS = 120  # children forked from this process: fast, so the kill points are many
FRESH_ITERATIONS = 5  # children in a fresh interpreter: the real thing, start to finish
HERE = Path(__file__).resolve().parent


def _frames(labels) -> list:
    return labels_to_document(labels)["frames"]


def _reference(directory: Path, seed: int) -> tuple[dict[int, list], dict[int, list]]:
    """Frames after each applied edit, and the file's frames after each save, run to the end."""
    directory.mkdir()
    write_labels(directory / "labels.json", make_labels())
    applied: dict[int, list] = {0: _frames(make_labels())}
    saved: dict[int, list] = {0: _frames(make_labels())}

    def report(event: str, session: ReviewSession) -> None:
        kind, count = event.split()
        if kind == "applied":
            applied[int(count)] = _frames(session.labels)
        elif kind == "saved":
            saved[int(count)] = _frames(read_labels(session.labels_path))

    crash_worker.run(directory / "labels.json", seed, OPERATIONS, report)
    return applied, saved


def _fork_child(labels_path: Path, seed: int) -> tuple[int, int]:
    """Fork a child running the worker; returns (pid, read end of its report pipe)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: work until killed, never return into pytest
        os.close(read_end)
        try:
            crash_worker.run(labels_path, seed, OPERATIONS, lambda event, session: os.write(write_end, (event + "\n").encode()))
        finally:
            os._exit(0)
    os.close(write_end)
    return pid, read_end


def _spawn_child(labels_path: Path, seed: int) -> tuple[subprocess.Popen, int]:
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent.parent), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen(
        [sys.executable, str(HERE / "crash_worker.py"), str(labels_path), str(seed), str(OPERATIONS)],
        stdout=subprocess.PIPE, env=environment,
    )
    return process, process.stdout.fileno()


def _read_until(descriptor: int, event: str, timeout_s: float = 30.0) -> bytes:
    """Read the worker's reports until the line `event` has arrived (or the pipe closes)."""
    data = b""
    marker = f"{event}\n".encode()
    deadline = time.monotonic() + timeout_s
    while marker not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the crash worker did not report {event!r}")
        if select.select([descriptor], [], [], remaining)[0]:
            chunk = os.read(descriptor, 65536)
            if not chunk:
                break
            data += chunk
    return data


def _read_rest(descriptor: int) -> bytes:
    data = b""
    while chunk := os.read(descriptor, 65536):
        data += chunk
    return data


def _last(events: list[str], kind: str) -> int:
    counts = [int(event.split()[1]) for event in events if event.startswith(kind)]
    return max(counts, default=0)


@pytest.mark.slow
def test_killed_sessions_lose_at_most_the_edit_in_flight(tmp_path: Path) -> None:
    rng = random.Random(2024)
    seeds = list(range(4))
    started = time.monotonic()
    references = {seed: _reference(tmp_path / f"reference-{seed}", seed) for seed in seeds}
    session_seconds = (time.monotonic() - started) / len(seeds)  # one worker's edits, start to end
    outcomes: Counter[str] = Counter()
    iterations = FORKED_ITERATIONS + FRESH_ITERATIONS
    for iteration in range(iterations):
        seed = seeds[iteration % len(seeds)]
        applied_states, saved_states = references[seed]
        directory = tmp_path / f"run-{iteration}"
        directory.mkdir()
        labels_path = directory / "labels.json"
        write_labels(labels_path, make_labels())
        fresh = iteration >= FORKED_ITERATIONS
        if fresh:
            process, descriptor = _spawn_child(labels_path, seed)
        else:
            pid, descriptor = _fork_child(labels_path, seed)
        # The kill lands at a random moment within a random edit (or the save after it): wait
        # for the worker to report the edit before it, then up to one edit's time more. Pacing
        # by the worker's own reports, not by wall time, keeps the kills spread over the
        # session however loaded the machine is; after the last edit the worker may finish.
        before = rng.randrange(OPERATIONS + 1)
        output = _read_until(descriptor, "ready 0" if before == 0 else f"applied {before}")
        time.sleep(rng.uniform(0.0, session_seconds / OPERATIONS))
        if fresh:
            process.send_signal(signal.SIGKILL)
            process.wait()
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        output += _read_rest(descriptor)
        if not fresh:
            os.close(descriptor)
        events = output.decode().split("\n")
        acknowledged, saved = _last(events, "applied"), _last(events, "saved")
        finished = "done 0" in events

        # the labels file: a whole version, the last one reported saved or the one being saved
        on_disk = _frames(read_labels(labels_path))
        candidates = [count for count in (saved, saved + crash_worker.SAVE_EVERY) if count in saved_states]
        matches = [count for count in candidates if saved_states[count] == on_disk]
        assert matches, f"iteration {iteration}: the labels file matches no saved version ({candidates})"
        if matches[0] != saved:
            outcomes["killed after the rename, before reporting the save"] += 1

        # reopening replays the journal: every acknowledged edit is back, at most one more
        journal = read_journal(directory / "labels.journal.jsonl")
        if journal is not None and journal.torn_tail:
            outcomes["journal had a torn last line"] += 1
        with ReviewSession.open(labels_path, annotator="checker") as session:
            replayed = _frames(session.labels)
        recovered = [count for count in (acknowledged, acknowledged + 1) if count in applied_states and applied_states[count] == replayed]
        assert recovered, f"iteration {iteration}: replay after a kill at edit {acknowledged} gives no expected state"
        outcomes["finished before the kill" if finished else "killed mid-session"] += 1
        if recovered[0] == acknowledged + 1:
            outcomes["the edit in flight was already durable"] += 1
        outcomes[f"edits acknowledged: {10 * (acknowledged // 10)}-{10 * (acknowledged // 10) + 9}"] += 1
    summary = ", ".join(f"{name}: {count}" for name, count in sorted(outcomes.items()))
    logger.info("%d kill iterations (%d fresh interpreters): %s", iterations, FRESH_ITERATIONS, summary)
    print(f"\none worker session: {session_seconds * 1000:.0f} ms for {OPERATIONS} edits and {OPERATIONS // crash_worker.SAVE_EVERY} saves")
    print(f"{iterations} SIGKILL iterations ({FRESH_ITERATIONS} in fresh interpreters), every labels file whole, every replay complete; {summary}")
    assert outcomes["killed mid-session"] >= iterations // 2
