"""Config of the repotune predictor (local `repotune serve` and the KServe ServingRuntime)."""

from pydantic import BaseModel, ConfigDict, Field


class ServeConfig(BaseModel):
    """The repotune KServe predictor (base + LoRA adapters)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("repotune", description="Model name of the base model in the routes.")
    base_model: str | None = Field(None, description="Base-model URI; None: the train step's base model.")
    adapters: dict[str, str] = Field(default_factory=dict, description="Adapter name -> URI (folder, s3://, "
                                     "store:); a request picks one by its model name.")
    host: str = Field("127.0.0.1", description="Address to bind; 0.0.0.0 only inside a container.")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port (0: a free one).")
    max_prompt_tokens: int = Field(2048, ge=1, description="Longer prompts get HTTP 400.")
    max_new_tokens: int = Field(256, ge=1, description="Upper bound of max_tokens a request may ask for.")
    max_batch_size: int = Field(16, ge=1, description="Rows decoded together (continuous batching: a request "
                                "joins a running batch at its next token, a row leaves it when it ends).")
    max_wait_ms: float = Field(5.0, ge=0, le=1000, description="How long the first request an idle server "
                               "takes waits for others to start with it (a running batch takes newcomers every token).")
    mixed_adapters: bool = Field(True, description="Batch rows for different adapters (and the base) together through "
                                 "peft's mixed-adapter inference; false: one adapter per batch (others wait for it "
                                 "to drain).")
    max_adapters: int = Field(8, ge=1, description="Adapters held at once; loading one more unloads the least "
                              "recently used.")
    adapter_prefixes: list[str] = Field(["store:runs/"], description="Where /v1/load_lora_adapter may load from: "
                                        "URI prefixes (store:..., s3://bucket/prefix/); anything else is refused.")
    admin_token_env: str | None = Field(None, description="Environment variable holding a bearer token that "
                                        "/v1/load_lora_adapter and /v1/unload_lora_adapter require; None: no token.")
    store_url: str | None = Field(None, description="The run store (file://DIR or s3://bucket/prefix) that store: "
                                  "adapter URIs name; None: store: URIs are refused.")
    max_instances: int = Field(16, ge=1, description="Instances one v1/v2 request may carry; more get HTTP 400.")
    drain_s: float = Field(20.0, ge=0, description="On SIGTERM, how long requests in flight may finish before the "
                           "server exits.")
