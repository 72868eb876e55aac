"""avlabel.tracking: offline multi-object tracking over a whole drive log.

    track.py          the stage: track(proposals, config, poses=..., sequential=...) -> Labels
    online.py         the forward pass (predict, associate, update, birth, retire)
    association.py    gated BEV GIoU + centre-distance costs, optimal assignment
    motion.py         the Kalman state, motion and measurement models
    smoothing.py      Kalman forward + Rauch-Tung-Striebel backward over one track
    stitching.py      joining tracklets of one object across gaps
    shape.py          one size per object; partial views re-centred at that size
    consolidation.py  class, score, size, heading, parked objects, gaps, uncertainty
    duplicates.py     two tracks on one object: the weaker goes
    measurements.py   proposals as measurements with a range-dependent noise model
    kernels.py        numba kernels (filter, smoother, batched predict/update)
    settings.py       the [tracking] config section, one table per class
"""
