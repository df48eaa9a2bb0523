"""Config of the label step. Every field carries a description: it becomes CLI help and commented YAML."""

from pydantic import BaseModel, ConfigDict


class LabelConfig(BaseModel):
    """LLM interpretations and labels of every unit."""

    model_config = ConfigDict(extra="forbid")
