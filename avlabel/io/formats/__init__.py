"""Other datasets' file formats, read and written as plain data: no drive-log logic here.

The importers (`avlabel.io.importers`) and exporters (`avlabel.io.exporters`) build on these.
Every reader validates what it reads and raises `InputError` with one line naming the file,
the field and what was expected.
"""
