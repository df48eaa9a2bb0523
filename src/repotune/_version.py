"""The one version of repotune; images are tagged from it (see core/images.py)."""

__version__ = "0.1.0"
