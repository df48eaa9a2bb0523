"""Config of the deploy step. Every field carries a description: it becomes CLI help and commented YAML."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from repotune.core import cluster


class DeployConfig(BaseModel):
    """Rollout to KServe (cluster) or a local server (local)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["local", "kserve", "hot"] = Field(
        "local", description="'local': start the predictor on this machine with the trained adapter, send a smoke "
        "request, report. 'kserve': create or update the adapter's InferenceService through the Kubernetes API "
        "(an update goes out as a canary, is smoke-tested, then promoted; a failure rolls back). 'hot': add the "
        "adapter to a running repotune predictor (predictor_url, local or an InferenceService's URL) through "
        "/v1/load_lora_adapter, smoke-test it, and unload it again if the smoke request fails.")
    predictor_url: str | None = Field(None, description="hot: base URL of the running predictor (http://host:port).")
    admin_token_env: str | None = Field(None, description="hot: environment variable with the predictor's admin "
                                        "bearer token (its serve.admin_token_env).")
    adapter_name: str = Field("repotune-lora", description="Model name the adapter is served under.")
    keep_serving: bool = Field(False, description="Leave the local server running after the smoke request.")
    ready_timeout_s: float = Field(300.0, gt=0, description="How long to wait for the predictor to be ready.")
    smoke_prompt: str = Field("Write the docstring of: def add(a, b): return a + b",
                              description="The smoke request's user message.")
    namespace: str = Field(cluster.NAMESPACE, description="kserve: namespace of the InferenceService.")
    service_name: str | None = Field(None, description="kserve: InferenceService name; None derives it from "
                                     "adapter_name (the predictor serves the adapter as <name>-lora).")
    canary_percent: int = Field(10, ge=1, le=99, description="kserve: share of traffic the new revision gets "
                                "while it is smoke-tested, before promotion.")
    poll_interval_s: float = Field(5.0, gt=0, description="kserve: seconds between readiness polls.")
    storage_uri: str | None = Field(None, description="kserve: the adapter's storageUri; None uses the train "
                                    "step's adapter in the S3 store (s3://bucket/prefix/runs/<run>/train/adapter).")
    service_account: str = Field(cluster.S3_SERVICE_ACCOUNT, description="kserve: ServiceAccount whose annotated Secret gives "
                                 "KServe's storage initializer the S3 keys.")
    gpus: int = Field(0, ge=0, description="kserve: GPUs per predictor replica.")
    node_selector: dict[str, str] = Field(default_factory=dict, description="kserve: node selector of the "
                                          "predictor (e.g. the GPU node pool).")
    tolerations: list[dict[str, str]] = Field(default_factory=list, description="kserve: tolerations of the "
                                              "predictor.")
    runtime: Literal["repotune", "vllm"] = Field(
        "repotune", description="kserve: 'repotune': the repotune predictor (ServingRuntime repotune-predictor); "
        "'vllm': KServe's Hugging Face runtime on vLLM with --enable-lora (GPU fleets; needs base_model_uri).")
    base_model_uri: str | None = Field(None, description="kserve + vllm: the base model's storage URI "
                                       "(s3://... of a Hugging Face folder).")
