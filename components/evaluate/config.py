"""Config of the evaluate step. Every field carries a description: it becomes CLI help and commented YAML."""

from pydantic import BaseModel, ConfigDict


class EvaluateConfig(BaseModel):
    """Generation on the test split, smoothed BLEU-4, and the gate."""

    model_config = ConfigDict(extra="forbid")
