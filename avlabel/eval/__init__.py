"""avlabel.eval"""
