"""repotune.serve: the KServe predictor for a base model and LoRA adapters (v1, v2 and OpenAI routes)."""

from repotune.serve.config import ServeConfig

__all__ = ["ServeConfig"]
