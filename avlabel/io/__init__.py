"""Reading and writing: the drive-log store, the labels file, importers and exporters."""

from avlabel.io.errors import InputError, LabelsError, LogError
from avlabel.io.labels_file import read_labels, write_labels
from avlabel.io.logstore import GROUND_CLASSES, SEMANTIC_CLASSES, DriveLog, DriveLogWriter, PointTruth, open_log

__all__ = [
    "GROUND_CLASSES", "SEMANTIC_CLASSES", "DriveLog", "DriveLogWriter", "InputError", "LabelsError", "LogError",
    "PointTruth", "open_log", "read_labels", "write_labels",
]
