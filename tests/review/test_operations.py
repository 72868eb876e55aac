"""Operations: validation with advice, and the journal round trip of every kind."""

from __future__ import annotations

import json

import pytest

from avlabel.review import (
    OPERATION_TYPES,
    AcceptProposal,
    CreateCuboid,
    DeleteCuboid,
    DeleteTrack,
    FitBoxToPoints,
    InterpolateTrack,
    MarkKeyframe,
    MergeTracks,
    MoveCuboid,
    RejectProposal,
    Relabel,
    ResizeCuboid,
    RotateCuboid,
    Select,
    SetBox,
    SetTrackSize,
    SplitTrack,
    TrimTrack,
    default_box_at,
    operation_from_document,
    operation_to_document,
)

EXAMPLES = [
    Select(1_000_000, "1"),
    Select(1_000_000),
    MoveCuboid(1_000_000, "1", (0.1, -0.2, 0.0)),
    RotateCuboid(1_000_000, "1", 0.05),
    ResizeCuboid(1_000_000, "1", (0.2, 0.0, -0.1)),
    SetBox(1_000_000, "1", (1, 2, 0.8, 4.5, 1.9, 1.6, 0.1)),
    FitBoxToPoints(1_000_000, "1"),
    FitBoxToPoints(1_000_000, "1", 0.2, (1, 2, 0.8, 4.5, 1.9, 1.6, 0.1), 57),
    CreateCuboid(1_000_000, (1, 2, 0.8, 4.5, 1.9, 1.6, 0.1), "car"),
    CreateCuboid(1_000_000, (1, 2, 0.8, 4.5, 1.9, 1.6, 0.1), "truck", "9", "9@1000000"),
    DeleteCuboid(1_000_000, "1"),
    DeleteTrack("1"),
    Relabel("1", "truck"),
    AcceptProposal("1"),
    AcceptProposal("1", 1_000_000),
    RejectProposal("3"),
    RejectProposal("3", 1_300_000),
    MergeTracks("1", "3", "keep"),
    SplitTrack("1", 1_500_000),
    SplitTrack("1", 1_500_000, "7"),
    TrimTrack("1", 1_200_000),
    TrimTrack("1", None, 1_700_000),
    SetTrackSize("1", (4.6, 1.9, 1.5)),
    MarkKeyframe(1_000_000, "1", False),
    InterpolateTrack("1", "correction"),
]


def test_every_kind_has_an_example() -> None:
    assert {type(example) for example in EXAMPLES} == set(OPERATION_TYPES.values())


@pytest.mark.parametrize("operation", EXAMPLES, ids=lambda operation: operation.kind)
def test_round_trip_through_json(operation) -> None:
    document = json.loads(json.dumps(operation_to_document(operation)))
    assert document["type"] == operation.kind
    assert operation_from_document(document) == operation


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MoveCuboid(1_000_000, "1", (0.1, 0.2)), "expected 3 numbers"),
        (lambda: MoveCuboid(1.5, "1", (0, 0, 0)), "integer microseconds"),
        (lambda: MoveCuboid(1_000_000, "", (0, 0, 0)), "non-empty"),
        (lambda: RotateCuboid(1_000_000, "1", float("nan")), "finite"),
        (lambda: SetBox(1_000_000, "1", (0, 0, 0, 0, 1, 1, 0)), "must be > 0"),
        (lambda: Relabel("1", "spaceship"), "expected one of car"),
        (lambda: MergeTracks("1", "1"), "cannot absorb itself"),
        (lambda: MergeTracks("1", "2", "average"), "overlap"),
        (lambda: InterpolateTrack("1", "spline"), "mode"),
        (lambda: SetTrackSize("1", (4, -1, 1)), "must be > 0"),
        (lambda: FitBoxToPoints(1_000_000, "1", -0.1), "margin"),
        (lambda: MarkKeyframe(1_000_000, "1", "yes"), "true or false"),
        (lambda: TrimTrack("1"), "give start_us"),
        (lambda: TrimTrack("1", 2_000_000, 1_000_000), "delete it"),
    ],
)
def test_bad_operations_raise_value_error_with_advice(build, message) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"type": "teleport"}, "unknown 'teleport'"),
        ({"type": "delete_track", "track_id": "1", "colour": "red"}, "unknown field"),
        ({"type": "delete_track"}, "delete_track"),
        ([1, 2], "expected an object"),
    ],
)
def test_bad_documents(document, message) -> None:
    with pytest.raises(ValueError, match=message):
        operation_from_document(document)


def test_default_box_stands_on_the_clicked_point() -> None:
    box = default_box_at((3.0, 4.0, 0.2), "pedestrian", yaw=0.5)
    assert box[:2] == (3.0, 4.0)
    assert box[2] - box[5] / 2 == pytest.approx(0.2)
    assert box[6] == 0.5
    with pytest.raises(ValueError, match="expected one of"):
        default_box_at((0, 0, 0), "unicorn")
