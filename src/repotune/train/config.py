"""Config of the train step. Every field carries a description: it becomes CLI help and commented YAML."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from repotune.core.ray_setup import RayConfig
from repotune.core.rayjob import RayJobConfig
from repotune.core.store import StoreConfig


class TrainConfig(BaseModel):
    """LoRA fine-tuning with Ray Train (or in-process)."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field("tiny", description="Base-model URI: 'tiny', 'smollm2', a hub id, a local folder, "
                            "s3:// or store:.")
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha (scale = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA path.")
    lora_layers: int | None = Field(None, ge=1, description="LoRA on the top N transformer layers only; the "
                                    "backward pass stops below them (about a third less work per token on CPU "
                                    "with half the layers). None: every layer.")
    target_modules: list[str] | Literal["all-linear"] = Field("all-linear", description="Modules that get LoRA.")
    learning_rate: float = Field(1e-3, gt=0, description="AdamW learning rate (linear warm-up, then `schedule`).")
    warmup_steps: int = Field(5, ge=0, description="Warm-up steps.")
    schedule: Literal["constant", "cosine"] = Field("constant", description="Learning rate after the warm-up: "
                                                    "'constant', or 'cosine' decay to a tenth of it at max_steps.")
    max_steps: int = Field(40, ge=1, description="Optimizer steps.")
    max_epochs: float | None = Field(None, gt=0, description="Fewer steps when this many passes over the train "
                                     "rows come first (the schedule then decays to that step): a small "
                                     "repository is not trained for many epochs; None: max_steps only.")
    token_budget: int = Field(1024, ge=64, description="Tokens per packed row (documents keep their own "
                              "attention: position_ids restart per document).")
    rows_per_step: int = Field(2, ge=1, description="Packed rows per optimizer step and worker.")
    packing: bool = Field(True, description="Pack documents into fixed token budgets; false pads each document.")
    max_length: int = Field(1024, ge=16, description="Longer examples are cut to this many tokens.")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="bf16 on GPU, fp32 on CPU when auto.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for activation memory.")
    attention: Literal["sdpa", "flex_attention", "eager"] = Field(
        "sdpa", description="Attention kernel. Packed rows keep per-document attention with each (transformers "
        "reads the documents from position_ids); flex_attention needs a GPU (torch has no CPU backward for it).")
    liger_kernels: bool = Field(False, description="Liger's Triton kernels (RMSNorm, SwiGLU, RoPE, fused linear "
                                "cross-entropy): less memory, more tokens/s; GPU only, needs the `gpu` extra.")
    quantization: Literal["none", "4bit"] = Field("none", description="'4bit': QLoRA, the frozen base in NF4 "
                                                  "through bitsandbytes (GPU only, the `gpu` extra).")
    strategy: Literal["ddp", "fsdp"] = Field("ddp", description="Data parallelism over Ray Train workers: 'ddp' "
                                             "replicates the model; 'fsdp' shards it (models that do not fit one "
                                             "GPU).")
    sweep: list[dict[str, Any]] = Field(default_factory=list, description="Trials: each a mapping of train "
                                        "fields to change (e.g. [{lora_r: 8}, {lora_r: 32, learning_rate: 5e-4}]); "
                                        "run in parallel as Ray Tune trials (use_ray) or one after another, the "
                                        "adapter with the lowest validation loss is kept.")
    seed: int = Field(0, description="Seed of initialisation and data order.")
    eval_every: int | None = Field(None, ge=1, description="Validation loss every this many steps (and at the "
                                   "last); None: at the last step only.")
    val_max_examples: int | None = Field(256, ge=1, description="Validation loss is measured on a seeded sample "
                                         "of at most this many val examples, so its cost (every eval_every "
                                         "steps) stays bounded; None: all of them.")
    keep_best: bool = Field(False, description="Keep the adapter of the step with the lowest validation loss "
                            "instead of the last (in-process training; the steps are chosen on the val split).")
    checkpoint_every: int = Field(20, ge=1, description="Steps between checkpoints (adapter, optimizer, step).")
    use_ray: bool = Field(False, description="Train with Ray Train's TorchTrainer (DDP over num_workers); false "
                          "runs the same loop in this process.")
    num_workers: int = Field(1, ge=1, description="Ray Train workers (one GPU each when use_gpu).")
    use_gpu: bool = Field(False, description="Ask Ray Train for one GPU per worker.")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs Ray reserves per training worker.")
    max_failures: int = Field(2, ge=0, description="Ray Train restarts from the last checkpoint after a failure.")
    launcher: Literal["inprocess", "rayjob"] = Field(
        "inprocess", description="'inprocess': train where the step runs (this machine, a KFP pod); 'rayjob': "
        "create a KubeRay RayJob on the GPU node pool, wait for it, take its results from the store.")
    rayjob: RayJobConfig = Field(default_factory=RayJobConfig, description="The RayJob (launcher: rayjob).")


class TrainJob(BaseModel):
    """One training run as one serialised document: the RayJob carries it as YAML, the in-process path builds
    it from the run config; `train_adapter(job, store)` runs it either way."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(description="The run whose dataset is trained on; outputs go under runs/<run_id>/train/.")
    store: StoreConfig = Field(description="The object store (credentials come from the environment).")
    ray: RayConfig = Field(description="Where Ray Train runs (use_ray).")
    train: TrainConfig = Field(description="The train section.")
