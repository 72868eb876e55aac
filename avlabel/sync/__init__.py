"""avlabel.sync: every sensor sample tied to each LiDAR sweep, on one clock.

    settings   the [sync] config section (tolerances, clock-offset overrides, extrapolation)
    poses      PoseInterpolator: world_from_ego at any log time (linear position, SLERP)
    world      ego poses from GNSS (ENU via pymap3d) and IMU orientation, for logs without poses
    deskew     per-point de-skew of a sweep into the ego frame at its time (numba kernel in kernels)
    frames     LogSync / synced_frames / sync_report: association, missing streams, SyncedFrame
    clock      clock offsets recovered from the data (IMU gyro, radar Doppler, camera edges)
    overlay    render_overlay: a sweep's points and cuboids drawn on a camera image
"""
