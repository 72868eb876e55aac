"""The session: undo/redo chains, the journal, replay after a crash, saving and history."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from avlabel.io.labels_file import labels_to_document, read_labels
from avlabel.review import (
    AcceptProposal,
    JournalError,
    MergeTracks,
    MoveCuboid,
    RejectProposal,
    Relabel,
    ReviewError,
    ReviewSession,
    RotateCuboid,
    Select,
    SetTrackSize,
    SplitTrack,
    annotator_summaries,
    read_journal,
)
from review_scenes import FakeClock, make_labels, random_operation, stamps

T = [int(stamp) for stamp in stamps(10)]


def _document(labels) -> dict:
    return labels_to_document(labels)["frames"]


def test_undo_redo_chains_match_a_reference_history(tmp_path: Path) -> None:
    rng = random.Random(11)
    session = ReviewSession.create(tmp_path / "labels.json", make_labels(), annotator="alice", clock=FakeClock())
    history = [_document(session.labels)]  # states the edits produced, the current one at `position`
    position = 0
    for _ in range(150):
        action = rng.random()
        if action < 0.25:
            result = session.undo()
            if position == 0:
                assert result is None
            else:
                position -= 1
        elif action < 0.4:
            result = session.redo()
            if position == len(history) - 1:
                assert result is None
            else:
                position += 1
        else:
            session.apply(random_operation(rng, session.labels))
            del history[position + 1 :]
            history.append(_document(session.labels))
            position += 1
        assert _document(session.labels) == history[position]
        assert session.can_undo == (position > 0)
        assert session.can_redo == (position < len(history) - 1)
    final = _document(session.labels)
    session.close()
    # a reopen replays the whole journal (nothing was saved) to the same state
    reopened = ReviewSession.open(tmp_path / "labels.json", annotator="alice")
    assert _document(reopened.labels) == final
    assert reopened.replayed > 100
    reopened.close()


def test_undo_of_nothing_and_redo_cleared_by_a_new_edit(tmp_path: Path) -> None:
    with ReviewSession.create(tmp_path / "labels.json", make_labels(), annotator="alice") as session:
        assert session.undo() is None and session.redo() is None
        session.apply(MoveCuboid(T[0], "1", (1, 0, 0)))
        session.apply(MoveCuboid(T[0], "1", (1, 0, 0)))
        session.undo()
        assert session.cuboid(T[0], "1").center[0] == pytest.approx(1.0)
        session.apply(RotateCuboid(T[0], "1", 0.1))
        assert not session.can_redo
        session.undo()
        session.undo()
        assert session.cuboid(T[0], "1").center[0] == pytest.approx(0.0)
        assert session.cuboid(T[0], "1").source == "auto"


def test_failed_operations_leave_no_trace(tmp_path: Path) -> None:
    with ReviewSession.create(tmp_path / "labels.json", make_labels(), annotator="alice") as session:
        lines = session.journal_path.read_text().count("\n")
        with pytest.raises(ReviewError):
            session.apply(MoveCuboid(T[0], "3", (1, 0, 0)))
        assert session.journal_path.read_text().count("\n") == lines
        assert not session.can_undo


def test_journal_lines_are_complete_and_say_who_and_when(tmp_path: Path) -> None:
    with ReviewSession.create(tmp_path / "labels.json", make_labels(), annotator="alice", clock=FakeClock()) as session:
        session.apply(MoveCuboid(T[0], "1", (1, 0, 0)))
        session.undo()
        session.redo()
        contents = read_journal(session.journal_path)
    assert [entry["kind"] for entry in contents.entries] == ["open", "operation", "undo", "redo"]
    operation = contents.entries[1]
    assert operation["annotator"] == "alice" and operation["time"].startswith("2024-05-01T09:00")
    assert operation["operation"] == {"type": "move_cuboid", "timestamp_us": T[0], "track_id": "1", "offset": [1.0, 0.0, 0.0]}
    assert contents.entries[2]["patch"]["frames"][0]["timestamp_us"] == T[0]
    assert not contents.torn_tail


def test_replay_after_a_crash_and_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    session = ReviewSession.create(path, make_labels(), annotator="alice", clock=FakeClock())
    session.apply(SetTrackSize("1", (4, 2, 1.5)))
    session.save()
    session.apply(Relabel("2", "cyclist"))
    session.apply(SplitTrack("1", T[5]))
    expected = _document(session.labels)
    session.apply(MoveCuboid(T[0], "2", (3, 0, 0)))
    journal = session.journal_path
    del session  # crash: nothing saved after SetTrackSize, journal not closed
    text = journal.read_bytes()
    journal.write_bytes(text[: text.rindex(b"\n", 0, len(text) - 1) + 1] + b'{"sequence": 9, "kind": "oper')  # the last write was torn
    reopened = ReviewSession.open(path, annotator="bob", clock=FakeClock("2024-05-01T10:00:00+00:00"))
    assert reopened.replayed == 2
    assert _document(reopened.labels) == expected
    assert reopened.labels.tracks()["2"].label == "cyclist"
    assert reopened.cuboid(T[0], "2").attributes["edited_by"] == "alice"  # the replay keeps who did it
    reopened.apply(MoveCuboid(T[0], "1", (1, 0, 0)))  # appending after the cut-off torn line
    reopened.save()
    reopened.close()
    contents = read_journal(journal)
    assert not contents.torn_tail
    assert [entry["sequence"] for entry in contents.entries] == list(range(1, len(contents.entries) + 1))
    again = ReviewSession.open(path, annotator="bob")
    assert again.replayed == 0
    assert _document(again.labels) == _document(read_labels(path))
    again.close()


def test_undo_replayed_across_a_save(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    session = ReviewSession.create(path, make_labels(), annotator="alice")
    session.apply(MoveCuboid(T[0], "1", (1, 0, 0)))
    session.save()
    session.undo()  # undoes an edit the file already holds
    expected = _document(session.labels)
    del session
    reopened = ReviewSession.open(path, annotator="alice")
    assert _document(reopened.labels) == expected
    assert reopened.cuboid(T[0], "1").center[0] == pytest.approx(0.0)
    reopened.close()


def test_a_journal_of_other_labels_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    session = ReviewSession.create(path, make_labels(), annotator="alice")
    session.apply(MoveCuboid(T[0], "1", (1, 0, 0)))
    session.close()
    from avlabel.io.labels_file import write_labels

    write_labels(path, make_labels(12))  # the pipeline relabelled the log meanwhile
    reopened = ReviewSession.open(path, annotator="alice")
    assert reopened.replayed == 0
    assert reopened.cuboid(T[0], "1").center[0] == 0.0
    assert len(list(tmp_path.glob("labels.journal.jsonl.stale-*"))) == 1
    reopened.close()


def test_a_damaged_journal_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    with ReviewSession.create(path, make_labels(), annotator="alice") as session:
        session.apply(MoveCuboid(T[0], "1", (1, 0, 0)))
        session.apply(MoveCuboid(T[0], "1", (1, 0, 0)))
        journal = session.journal_path
    lines = journal.read_text().splitlines()
    lines[2] = lines[2][:20]
    journal.write_text("\n".join(lines) + "\n")
    with pytest.raises(JournalError, match="line 3: not a journal entry.*move the journal aside"):
        ReviewSession.open(path, annotator="alice")


def test_save_writes_valid_labels_with_history(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    clock = FakeClock(step_s=5.0)
    with ReviewSession.create(path, make_labels(), annotator="alice", clock=clock) as session:
        session.apply(Select(T[0], "1"))
        session.apply(MoveCuboid(T[0], "1", (0.5, 0, 0)))
        session.apply(AcceptProposal("1"))
        session.apply(RejectProposal("3"))
        assert session.dirty
        session.save()
        assert not session.dirty
    labels = read_labels(path)
    assert labels.metadata["producer"] == "tests"  # what was there stays
    record, = labels.metadata["history"]
    assert record["saved_by"] == "alice"
    assert [edit["operation"] for edit in record["edits"]] == ["move_cuboid", "accept", "reject"]
    assert record["edits"][0] == {"at": record["edits"][0]["at"], "by": "alice", "operation": "move_cuboid", "timestamp_us": T[0], "tracks": ["1"], "cuboids": 1}
    assert record["edits"][2]["cuboids"] == 3
    assert record["active_seconds"]["alice"] == pytest.approx(25.0)  # 6 steps 5 s apart (open, 4 edits, save)
    assert labels.metadata["review"]["journal_sequence"] == 5
    document = json.loads(path.read_text())
    moved = document["frames"][0]["cuboids"][0]
    assert moved["source"] == "human" and moved["edited_by"] == "alice" and moved["review"] == "corrected"
    # a second annotator's session adds its own record
    with ReviewSession.open(path, annotator="bob", clock=FakeClock("2024-05-02T09:00:00+00:00")) as session:
        session.apply(Relabel("2", "cyclist"))
        session.save()
    history = read_labels(path).metadata["history"]
    assert [record["saved_by"] for record in history] == ["alice", "bob"]


def test_annotator_summaries(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    with ReviewSession.create(path, make_labels(), annotator="alice", clock=FakeClock(step_s=10.0)) as session:
        session.apply(MoveCuboid(T[0], "1", (0.5, 0, 0)))
        session.apply(MoveCuboid(T[1], "1", (0.5, 0, 0)))
        session.undo()
        session.apply(AcceptProposal("1"))
        session.apply(RejectProposal("3"))
        session.save()
    with ReviewSession.open(path, annotator="bob", clock=FakeClock("2024-05-02T09:00:00+00:00", step_s=30.0)) as session:
        session.apply(AcceptProposal("2"))
        session.apply(SetTrackSize("2", (0.7, 0.7, 1.8)))
        session.save()
    summaries = annotator_summaries(read_labels(path))
    alice, bob = summaries["alice"], summaries["bob"]
    assert alice.edits == 4 and alice.undos == 1
    assert alice.accepted == 9 and alice.corrected == 1 and alice.rejected == 3
    assert alice.acceptance_rate == pytest.approx(0.9)
    assert alice.active_seconds == pytest.approx(60.0)  # open, 5 steps and the save, 10 s apart
    assert alice.sessions == 1 and alice.tracks_touched == 2
    assert bob.accepted == 0 and bob.corrected == 10  # bob resized what he had accepted
    assert bob.active_seconds == pytest.approx(90.0)
    assert bob.operations == {"accept": 1, "set_track_size": 1}
    assert set(bob.as_dict()) >= {"annotator", "edits", "active_seconds", "accepted", "corrected", "acceptance_rate"}


def test_listeners_hear_every_change(tmp_path: Path) -> None:
    heard = []
    with ReviewSession.create(tmp_path / "labels.json", make_labels(), annotator="alice") as session:
        session.add_listener(lambda result: heard.append(result.cuboids))
        session.apply(MoveCuboid(T[0], "1", (1, 0, 0)))
        session.undo()
        session.redo()
    assert heard == [((T[0], "1"),)] * 3


def test_open_needs_an_annotator_and_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    ReviewSession.create(path, make_labels(), annotator="alice").close()
    with pytest.raises(ValueError, match="annotator"):
        ReviewSession.open(path, annotator=" ")
    with pytest.raises(ValueError, match="already exists"):
        ReviewSession.create(path, make_labels(), annotator="alice")


def test_merge_then_undo_restores_both_tracks(tmp_path: Path) -> None:
    with ReviewSession.create(tmp_path / "labels.json", make_labels(), annotator="alice") as session:
        before = _document(session.labels)
        session.apply(MergeTracks("1", "3", "keep"))
        assert "3" not in session.labels.tracks()
        session.undo()
        assert _document(session.labels) == before
        np.testing.assert_equal(session.labels.tracks()["3"].timestamps_us, T[3:6])
