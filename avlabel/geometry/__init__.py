"""avlabel.geometry"""
