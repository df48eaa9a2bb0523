"""Config of the dataset step. Every field carries a description: it becomes CLI help and commented YAML."""

from pydantic import BaseModel, ConfigDict


class DatasetConfig(BaseModel):
    """Splits, dedup, decontamination and the dataset card."""

    model_config = ConfigDict(extra="forbid")
