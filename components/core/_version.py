"""The one version of repotune; images are tagged from it (see _image.py)."""

__version__ = "0.1.0"
