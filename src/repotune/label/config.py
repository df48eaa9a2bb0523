"""Config of the label step. Every field carries a description: it becomes CLI help and commented YAML."""

from typing import Literal

from pydantic import ConfigDict, Field

from repotune.llm.config import LLMEndpointConfig


class LabelConfig(LLMEndpointConfig):
    """LLM interpretations and labels of every unit (the endpoint settings come from LLMEndpointConfig)."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["offline", "openai", "local"] = Field(
        "offline", description="'offline': render the static facts as text (no LLM); 'openai': any "
        "OpenAI-compatible endpoint (OpenAI, vLLM, KServe's OpenAI route, the repotune predictor); 'local': a "
        "model in this process (transformers) writes the descriptions and explanations, the facts the rest.")
    local_model: str = Field("smollm2", description="Base-model URI for backend=local: 'smollm2', 'tiny', a hub "
                             "id, a local folder, s3:// or store:.")
    local_batch_size: int = Field(4, ge=1, description="Units generated together by the local backend.")
    mode: Literal["single", "per-aspect"] = Field(
        "single", description="'single': one structured request per unit; 'per-aspect': the patent's multi-call "
        "flow (one call per aspect group, then collation, explanation and labels).")
    prompt_token_budget: int = Field(3000, ge=256, description="Prompt tokens per request (facts and code are truncated).")
    limit: int | None = Field(None, ge=1, description="Label only the first N units of each level (for trials).")
