"""repotune.dataset: leakage-free chat-format splits and a dataset card."""

from repotune.dataset.build import build, assign_splits
from repotune.dataset.step import run_step

__all__ = ["build", "run_step", "assign_splits"]
