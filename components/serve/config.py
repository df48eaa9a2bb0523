"""Config of the serve step. Every field carries a description: it becomes CLI help and commented YAML."""

from pydantic import BaseModel, ConfigDict


class ServeConfig(BaseModel):
    """The repotune KServe predictor (base + LoRA adapters)."""

    model_config = ConfigDict(extra="forbid")
