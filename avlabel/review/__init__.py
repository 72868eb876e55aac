"""GUI-free review model: operations on labels, undo/redo, a crash-safe journal, the
review queue and per-annotator audit. The Open3D viewer (avlabel.viewer) sits on top.

    from avlabel.review import ReviewSession, SetTrackSize
    with ReviewSession.open("labels.json", annotator="alice") as session:
        session.apply(SetTrackSize("12", (4.6, 1.9, 1.5)))
        session.save()
"""

from avlabel.review.audit import AnnotatorSummary, annotator_summaries
from avlabel.review.edits import AUDIT_ATTRIBUTES, REVIEW_STATES, EditContext, EditResult, ReviewError, apply_operation
from avlabel.review.interpolation import interpolate_path, plan_keyframes
from avlabel.review.journal import JournalError, default_journal_path, read_journal
from avlabel.review.operations import (
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
    Operation,
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
from avlabel.review.queue import QueueItem, QueueSettings, ReviewProgress, review_progress, review_queue
from avlabel.review.fitting import fit_box_to_points, points_in_box
from avlabel.review.session import ReviewSession, empty_labels, fresh_track_id

__all__ = [
    "AUDIT_ATTRIBUTES", "OPERATION_TYPES", "REVIEW_STATES", "AcceptProposal", "AnnotatorSummary", "CreateCuboid",
    "DeleteCuboid", "DeleteTrack", "EditContext", "EditResult", "FitBoxToPoints", "InterpolateTrack", "JournalError",
    "MarkKeyframe", "MergeTracks", "MoveCuboid", "Operation", "QueueItem", "QueueSettings", "RejectProposal",
    "Relabel", "ResizeCuboid", "ReviewError", "ReviewProgress", "ReviewSession", "RotateCuboid", "Select", "SetBox",
    "SetTrackSize", "SplitTrack", "TrimTrack", "annotator_summaries", "apply_operation", "default_box_at", "default_journal_path",
    "empty_labels", "fit_box_to_points", "fresh_track_id", "interpolate_path", "operation_from_document", "operation_to_document",
    "plan_keyframes", "points_in_box", "read_journal", "review_progress", "review_queue",
]
