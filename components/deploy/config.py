"""Config of the deploy step. Every field carries a description: it becomes CLI help and commented YAML."""

from pydantic import BaseModel, ConfigDict


class DeployConfig(BaseModel):
    """Rollout to KServe (cluster) or a local server (local)."""

    model_config = ConfigDict(extra="forbid")
