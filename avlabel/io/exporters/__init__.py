"""Exporters: avlabel labels (world frame) over a drive log, written in other formats.

    export_kitti(labels, log, out_dir)               KITTI object folder (imports back)
    export_nuscenes(labels, log, out_dir)            nuScenes dataroot + detection results JSON
    export_scale(labels, log, out_dir)               Scale sensor-fusion frames + cuboids
    export_openlabel(labels, log, out_path)          ASAM OpenLABEL 1.0.0 JSON (read_openlabel reads it back)

Each returns an ExportResult (where, frames, cuboids written, cuboids skipped).
"""

from avlabel.io.exporters._common import ExportResult
from avlabel.io.exporters.kitti import export_kitti
from avlabel.io.exporters.nuscenes import export_nuscenes
from avlabel.io.exporters.openlabel import export_openlabel, read_openlabel
from avlabel.io.exporters.scale import export_scale

__all__ = ["ExportResult", "export_kitti", "export_nuscenes", "export_openlabel", "export_scale", "read_openlabel"]
