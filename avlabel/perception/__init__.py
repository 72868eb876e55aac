"""avlabel.perception"""
