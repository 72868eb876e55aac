"""avlabel.tracking"""
