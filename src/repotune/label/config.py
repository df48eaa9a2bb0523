"""Config of the label step. Every field carries a description: it becomes CLI help and commented YAML."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from repotune.llm.config import LLMEndpointConfig

MOVED_TO_LLM = tuple(LLMEndpointConfig.model_fields)


class LabelConfig(BaseModel):
    """LLM interpretations and labels of every unit (the endpoint itself is the `llm` section)."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["offline", "openai", "local"] = Field(
        "offline", description="'offline': render the static facts as text (no LLM); 'openai': the "
        "OpenAI-compatible endpoint of the `llm` section; 'local': a "
        "model in this process (transformers) writes the descriptions and explanations, the facts the rest.")
    local_model: str = Field("smollm2", description="Base-model URI for backend=local: 'smollm2', 'tiny', a hub "
                             "id, a local folder, s3:// or store:.")
    local_batch_size: int = Field(4, ge=1, description="Units generated together by the local backend.")
    local_max_tokens: int = Field(60, ge=1, description="Tokens the local model writes per description.")
    mode: Literal["single", "per-aspect"] = Field(
        "single", description="'single': one structured request per unit; 'per-aspect': the patent's multi-call "
        "flow (one call per aspect group, then collation, explanation and labels).")
    prompt_token_budget: int = Field(3000, ge=256, description="Prompt tokens per request (facts and code are truncated).")
    limit: int | None = Field(None, ge=1, description="Label only the first N units of each level (for trials).")

    @model_validator(mode="before")
    @classmethod
    def _endpoint_keys_moved(cls, data: Any) -> Any:
        moved = sorted(k for k in data if k in MOVED_TO_LLM) if isinstance(data, dict) else []
        if moved:
            raise ValueError(f"{', '.join('label.' + k for k in moved)}: the endpoint settings are the llm "
                             f"section now ({', '.join('llm.' + k for k in moved)})")
        return data
