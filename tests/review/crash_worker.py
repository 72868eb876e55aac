"""A review session that applies random edits and saves every few, reporting each step
on stdout once it returns; the crash test kills it with SIGKILL at a random moment.

    python crash_worker.py LABELS_JSON SEED OPERATIONS
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path

from avlabel.review import ReviewSession
from review_scenes import FakeClock, random_operation

SAVE_EVERY = 3


def run(labels_path: Path, seed: int, operations: int, report: Callable[[str, ReviewSession], None]) -> None:
    """Open `labels_path`, apply `operations` random edits (seeded), save every SAVE_EVERY."""
    session = ReviewSession.open(labels_path, annotator="crash-test", clock=FakeClock())
    rng = random.Random(seed)
    report("ready 0", session)
    for count in range(1, operations + 1):
        session.apply(random_operation(rng, session.labels))
        report(f"applied {count}", session)
        if count % SAVE_EVERY == 0:
            session.save()
            report(f"saved {count}", session)
    report("done 0", session)


def main(argv: list[str]) -> int:
    labels_path, seed, operations = Path(argv[0]), int(argv[1]), int(argv[2])

    def report(event: str, session: ReviewSession) -> None:
        sys.stdout.write(event + "\n")
        sys.stdout.flush()

    run(labels_path, seed, operations, report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
