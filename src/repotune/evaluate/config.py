"""Config of the evaluate step. Every field carries a description: it becomes CLI help and commented YAML."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class EvaluateConfig(BaseModel):
    """Generation on the test split, smoothed BLEU-4 per task with bootstrap intervals, and the gate."""

    model_config = ConfigDict(extra="forbid")

    max_examples: int | None = Field(None, ge=1, description="Cap on the test examples generated (base and "
                                     "adapter each); None evaluates the whole test split.")
    tasks: list[str] | None = Field(None, description="Tasks evaluated (e.g. [code2doc]); None evaluates every "
                                    "task of the test split.")
    max_new_tokens: int = Field(48, ge=1, description="Tokens generated per answer.")
    num_beams: int = Field(1, ge=1, le=16, description="Beam search width for both models (1: greedy; "
                           "CodeXGLUE's code-to-text baselines use 10). Costs about num_beams x the generation.")
    batch_size: int = Field(8, ge=1, description="Prompts generated together (left-padded; the answers equal "
                            "one-at-a-time generation).")
    min_improvement: float | None = Field(
        None, description="Gate on the headline task (code2doc): the lower end of the 95% interval of the paired "
        "difference adapter − base BLEU-4 (or adapter − retrieval: evaluate.gate_against) must exceed this (in "
        "BLEU points) or the pipeline stops before deploy; None reports without gating.")
    gate_against: Literal["base", "retrieval"] = Field(
        "base", description="What the gate's difference subtracts from the adapter: `base` (the base model, same "
        "prompt) or `retrieval` (each answer copied from the most similar train or val example: what a search of "
        "the repository's own documented code gives with no model).")
    bootstrap_resamples: int = Field(2000, ge=1000, description="Bootstrap resamples behind every interval.")
    seed: int = Field(0, description="Seed of the bootstrap resampling (same seed, same intervals).")
    num_workers: int = Field(1, ge=1, description="Ray tasks that generate answers in parallel, each on a "
                             "share of the examples with its own copy of the model; 1 generates in this process.")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs Ray reserves per evaluation task.")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs Ray reserves per evaluation task (generation "
                                   "runs on the GPU when one is given).")

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str] | None) -> list[str] | None:
        known = {"code2doc", "doc2code", "code2tags", "repo_qa"}
        if tasks is not None and (not tasks or set(tasks) - known):
            raise ValueError(f"evaluate.tasks must name some of {', '.join(sorted(known))}")
        return tasks
