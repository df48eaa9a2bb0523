"""Config of the synthesize step. Every field carries a description: it becomes CLI help and commented YAML."""

from pydantic import BaseModel, ConfigDict


class SynthesizeConfig(BaseModel):
    """Template-query generation of instruction/response pairs."""

    model_config = ConfigDict(extra="forbid")
