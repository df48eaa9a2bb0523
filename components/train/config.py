"""Config of the train step. Every field carries a description: it becomes CLI help and commented YAML."""

from pydantic import BaseModel, ConfigDict


class TrainConfig(BaseModel):
    """LoRA fine-tuning with Ray Train (or in-process)."""

    model_config = ConfigDict(extra="forbid")
