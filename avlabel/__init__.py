"""avlabel: turn autonomous-vehicle drive logs into reviewed 3D cuboid labels."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("avlabel")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
