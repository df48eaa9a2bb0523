"""The `llm` section of the run config: the OpenAI-compatible endpoint that label (backend openai) and
synthesize (generation llm, judge) both call, with one client's limits, retries and prices."""

from pydantic import BaseModel, ConfigDict, Field


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: float = Field(0.0, ge=0, description="USD per million prompt tokens.")
    completion: float = Field(0.0, ge=0, description="USD per million completion tokens.")


class LLMEndpointConfig(BaseModel):
    """An OpenAI-compatible endpoint and how to call it (OpenAI, vLLM, KServe's OpenAI route, the repotune
    predictor)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, description="Endpoint base URL, e.g. http://vllm:8000/v1.")
    model: str = Field("gpt-4o-mini", description="Model name sent to the endpoint.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (never logged).")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(800, ge=16, description="Completion token limit per request.")
    timeout_s: float = Field(60.0, gt=0, description="Timeout of one request.")
    concurrency: int = Field(16, ge=1, description="Requests in flight at once.")
    tokens_per_minute: int | None = Field(None, ge=1, description="Token budget per minute (prompt + completion).")
    max_retries: int = Field(6, ge=0, description="Retries of a request on 429, 5xx, timeouts and invalid answers.")
    backoff_s: float = Field(0.5, gt=0, description="First backoff delay; doubles on each retry, with jitter.")
    circuit_breaker: int = Field(20, ge=1, description="Consecutive failed requests after which the step stops.")
    prices: dict[str, Price] = Field(default_factory=dict, description="Price per model, for cost accounting.")