"""Importers: other datasets' recordings into avlabel drive logs, truth in the world frame.

    import_kitti_object(directory, out_h5)           KITTI object detection folders
    import_kitti_raw(drive_dir, out_h5)              KITTI raw recordings (synced + rectified)
    import_nuscenes(dataroot, out_h5, scene=...)     one nuScenes scene, through nuscenes-devkit
"""

from avlabel.io.importers.kitti_object import import_kitti_object
from avlabel.io.importers.kitti_raw import import_kitti_raw
from avlabel.io.importers.nuscenes import import_nuscenes

__all__ = ["import_kitti_object", "import_kitti_raw", "import_nuscenes"]
