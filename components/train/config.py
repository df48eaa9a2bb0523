"""Config of the train step. Every field carries a description: it becomes CLI help and commented YAML."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    """LoRA fine-tuning with Ray Train (or in-process)."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field("tiny", description="Base-model URI: 'tiny', 'smollm2', a hub id, a local folder, "
                            "s3:// or store:.")
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha (scale = alpha / r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA path.")
    target_modules: list[str] | Literal["all-linear"] = Field("all-linear", description="Modules that get LoRA.")
    learning_rate: float = Field(1e-3, gt=0, description="AdamW learning rate (linear warm-up, then constant).")
    warmup_steps: int = Field(5, ge=0, description="Warm-up steps.")
    max_steps: int = Field(40, ge=1, description="Optimizer steps.")
    token_budget: int = Field(1024, ge=64, description="Tokens per packed row (documents keep their own "
                              "attention: position_ids restart per document).")
    rows_per_step: int = Field(2, ge=1, description="Packed rows per optimizer step and worker.")
    packing: bool = Field(True, description="Pack documents into fixed token budgets; false pads each document.")
    max_length: int = Field(1024, ge=16, description="Longer examples are cut to this many tokens.")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="bf16 on GPU, fp32 on CPU when auto.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for activation memory.")
    seed: int = Field(0, description="Seed of initialisation and data order.")
    checkpoint_every: int = Field(20, ge=1, description="Steps between checkpoints (adapter, optimizer, step).")
    use_ray: bool = Field(False, description="Train with Ray Train's TorchTrainer (DDP over num_workers); false "
                          "runs the same loop in this process.")
    num_workers: int = Field(1, ge=1, description="Ray Train workers (one GPU each when use_gpu).")
    use_gpu: bool = Field(False, description="Ask Ray Train for one GPU per worker.")
    max_failures: int = Field(2, ge=0, description="Ray Train restarts from the last checkpoint after a failure.")
