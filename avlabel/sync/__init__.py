"""avlabel.sync"""
