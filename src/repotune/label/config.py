"""Config of the label step. Every field carries a description: it becomes CLI help and commented YAML."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from repotune.core.ray_setup import RayConfig
from repotune.core.rayjob import RayJobConfig
from repotune.core.store import StoreConfig
from repotune.llm.config import LLMEndpointConfig

MOVED_TO_LLM = tuple(LLMEndpointConfig.model_fields)


class VLLMConfig(BaseModel):
    """label.backend=vllm: vLLM on the Ray cluster's GPUs through ray.data.llm (vllm installed in the image)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("Qwen/Qwen2.5-Coder-7B-Instruct", description="Model source: a hub id or a local folder "
                       "the GPU workers can read.")
    batch_size: int = Field(64, ge=1, description="Units per batch sent to a vLLM engine.")
    concurrency: int = Field(1, ge=1, description="vLLM engines (data parallel; each takes its GPUs).")
    accelerator_type: str | None = Field(None, description="GPU type the engines need, e.g. 'H100' (None: any).")
    max_model_len: int = Field(8192, ge=512, description="Context length the engine reserves KV cache for.")
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="More vLLM engine arguments, e.g. "
                                          "tensor_parallel_size, enable_prefix_caching.")


class LabelConfig(BaseModel):
    """LLM interpretations and labels of every unit (the endpoint itself is the `llm` section)."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["offline", "openai", "local", "vllm"] = Field(
        "offline", description="'offline': render the static facts as text (no LLM); 'openai': the "
        "OpenAI-compatible endpoint of the `llm` section; 'local': a "
        "model in this process (transformers) writes the descriptions and explanations, the facts the rest; "
        "'vllm': batch inference with vLLM on the Ray cluster's GPUs (label.vllm).")
    vllm: VLLMConfig = Field(default_factory=VLLMConfig, description="The vLLM engine of backend vllm.")
    local_model: str = Field("smollm2", description="Base-model URI for backend=local: 'smollm2', 'tiny', a hub "
                             "id, a local folder, s3:// or store:.")
    local_batch_size: int = Field(4, ge=1, description="Units generated together by the local backend.")
    local_max_tokens: int = Field(60, ge=1, description="Tokens the local model writes per description.")
    mode: Literal["single", "per-aspect"] = Field(
        "single", description="'single': one structured request per unit; 'per-aspect': the patent's multi-call "
        "flow (one call per aspect group, then collation, explanation and labels).")
    prompt_token_budget: int = Field(3000, ge=256, description="Prompt tokens per request (facts and code are truncated).")
    use_ray: bool | Literal["auto"] = Field(
        "auto", description="Label each level in batches on a pool of Ray actors kept for all levels (each holds "
        "the backend once). auto: on Ray when ray.address names a cluster, or for the local backend when there are enough "
        "units for its actors to repay Ray's start-up (label.choose_ray); the summary says which and why.")
    actors: int | None = Field(None, ge=1, description="Ray actors labelling at once (None: the CPUs Ray has, "
                               "for the local backend; 4 for openai, which waits on the network).")
    units_per_task: int | None = Field(None, ge=1, description="Units in one batch handed to a Ray actor (None: "
                                       "a third of an actor's share of the level, so the actors stay balanced, and "
                                       "at most 1024: the driver holds a few batches per actor).")
    launcher: Literal["inprocess", "rayjob"] = Field(
        "inprocess", description="'inprocess': label here (on the Ray cluster at ray.address where label.use_ray "
        "says so); 'rayjob': create a KubeRay RayJob with GPU workers that labels (label.rayjob) and take its result.")
    rayjob: RayJobConfig = Field(default_factory=RayJobConfig, description="The RayJob (launcher: rayjob); its "
                                 "image needs vllm for backend vllm.")
    rayjob_workers: int = Field(1, ge=1, description="Worker pods of the label RayJob.")
    limit: int | None = Field(None, ge=1, description="Label only the first N units of each level (for trials).")

    @model_validator(mode="before")
    @classmethod
    def _endpoint_keys_moved(cls, data: Any) -> Any:
        moved = sorted(k for k in data if k in MOVED_TO_LLM) if isinstance(data, dict) else []
        if moved:
            raise ValueError(f"{', '.join('label.' + k for k in moved)}: the endpoint settings are the llm "
                             f"section now ({', '.join('llm.' + k for k in moved)})")
        return data


class LabelJob(BaseModel):
    """What the label RayJob's entrypoint runs: one run's labelling (no secrets: the S3 keys come from a Secret
    mounted as environment, the endpoint's key from llm.api_key_env)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    store: StoreConfig
    ray: RayConfig
    label: LabelConfig
    llm: LLMEndpointConfig
