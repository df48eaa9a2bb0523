"""Config of the analyze step. Every field carries a description: it becomes CLI help and commented YAML."""

from pydantic import BaseModel, ConfigDict, Field


class AnalyzeConfig(BaseModel):
    """Static analysis of the source repository (tree-sitter + Ray Data)."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        "sample:tinyshop",
        description="What to analyze: a local directory, a git URL (optionally '#<ref>'), a .tar.gz/.zip, "
        "an object-store prefix ('store:<prefix>'), or a bundled sample ('sample:<name>').",
    )
