"""Image references derived from the package version, so a component and its image never drift.

CI (or a private registry) overrides the registry and tag with REPOTUNE_IMAGE_REGISTRY / REPOTUNE_IMAGE_TAG.
"""

import os

from repotune._version import __version__

REGISTRY = os.environ.get("REPOTUNE_IMAGE_REGISTRY", "ghcr.io/repotune")
TAG = os.environ.get("REPOTUNE_IMAGE_TAG", __version__)


def image(runtime: str) -> str:
    """Full reference of one runtime image: 'pipeline', 'train' or 'serve' (or 'serve-vllm')."""
    return f"{REGISTRY}/repotune-{runtime}:{TAG}"


PIPELINE_IMAGE = image("pipeline")
TRAIN_IMAGE = image("train")
SERVE_IMAGE = image("serve")
