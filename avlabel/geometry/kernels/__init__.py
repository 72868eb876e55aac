"""avlabel.geometry.kernels"""
