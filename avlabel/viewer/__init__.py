"""avlabel.viewer"""
