"""avlabel.review"""
