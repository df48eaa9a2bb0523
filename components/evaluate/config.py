"""Config of the evaluate step. Every field carries a description: it becomes CLI help and commented YAML."""

from pydantic import BaseModel, ConfigDict, Field


class EvaluateConfig(BaseModel):
    """Generation on the test split, smoothed BLEU-4, and the gate."""

    model_config = ConfigDict(extra="forbid")

    max_examples: int = Field(48, ge=1, description="Test examples generated (base and adapter each).")
    max_new_tokens: int = Field(48, ge=1, description="Tokens generated per answer (greedy).")
    min_improvement: float | None = Field(
        None, description="Gate: adapter BLEU-4 minus base BLEU-4 must reach this (in BLEU points) or the "
        "pipeline stops before deploy; None reports without gating (the embedded tiny model cannot learn much).")
    num_workers: int = Field(1, ge=1, description="Ray tasks that generate answers in parallel, each on a "
                             "share of the examples with its own copy of the model; 1 generates in this process.")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs Ray reserves per evaluation task.")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs Ray reserves per evaluation task (generation "
                                   "runs on the GPU when one is given).")
