"""repotune.train: LoRA fine-tuning (transformers + peft) in-process or on Ray Train, and base-model loading."""

from repotune.models import load_base_model, resolve_base_model
from repotune.train.loop import train_loop
from repotune.train.step import run_step

__all__ = ["load_base_model", "resolve_base_model", "run_step", "train_loop"]
