"""Config of the label step. Every field carries a description: it becomes CLI help and commented YAML."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: float = Field(0.0, ge=0, description="USD per million prompt tokens.")
    completion: float = Field(0.0, ge=0, description="USD per million completion tokens.")


class LabelConfig(BaseModel):
    """LLM interpretations and labels of every unit."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["offline", "openai", "local"] = Field(
        "offline", description="'offline': render the static facts as text (no LLM); 'openai': any "
        "OpenAI-compatible endpoint (OpenAI, vLLM, KServe's OpenAI route, the repotune predictor); 'local': a "
        "model in this process (transformers) writes the descriptions and explanations, the facts the rest.")
    local_model: str = Field("smollm2", description="Base-model URI for backend=local: 'smollm2', 'tiny', a hub "
                             "id, a local folder, s3:// or store:.")
    local_batch_size: int = Field(4, ge=1, description="Units generated together by the local backend.")
    base_url: str | None = Field(None, description="Endpoint base URL, e.g. http://vllm:8000/v1.")
    model: str = Field("gpt-4o-mini", description="Model name sent to the endpoint.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (never logged).")
    mode: Literal["single", "per-aspect"] = Field(
        "single", description="'single': one structured request per unit; 'per-aspect': the patent's multi-call "
        "flow (one call per aspect group, then collation, explanation and labels).")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(800, ge=16, description="Completion token limit per request.")
    timeout_s: float = Field(60.0, gt=0, description="Timeout of one request.")
    concurrency: int = Field(16, ge=1, description="Requests in flight at once.")
    tokens_per_minute: int | None = Field(None, ge=1, description="Token budget per minute (prompt + completion).")
    max_retries: int = Field(6, ge=0, description="Retries of a request on 429, 5xx, timeouts and invalid answers.")
    backoff_s: float = Field(0.5, gt=0, description="First backoff delay; doubles on each retry, with jitter.")
    circuit_breaker: int = Field(20, ge=1, description="Consecutive failed requests after which the step stops.")
    prompt_token_budget: int = Field(3000, ge=256, description="Prompt tokens per request (facts and code are truncated).")
    prices: dict[str, Price] = Field(default_factory=dict, description="Price per model, for cost accounting.")
    limit: int | None = Field(None, ge=1, description="Label only the first N units of each level (for trials).")
