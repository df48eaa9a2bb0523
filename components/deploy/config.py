"""Config of the deploy step. Every field carries a description: it becomes CLI help and commented YAML."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DeployConfig(BaseModel):
    """Rollout to KServe (cluster) or a local server (local)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["local"] = Field("local", description="'local': start the predictor on this machine with the "
                                   "trained adapter, send a smoke request, report (the KServe rollout is not "
                                   "in this version yet).")
    adapter_name: str = Field("repotune-lora", description="Model name the adapter is served under.")
    keep_serving: bool = Field(False, description="Leave the local server running after the smoke request.")
    ready_timeout_s: float = Field(300.0, gt=0, description="How long to wait for the predictor to be ready.")
    smoke_prompt: str = Field("Write the docstring of: def add(a, b): return a + b",
                              description="The smoke request's user message.")
