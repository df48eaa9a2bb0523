"""The steps of a run, in order: what each reads and which config sections decide whether it reruns.

The runner imports a step's package by name (`repotune.<step>`) only when it runs it; the contract a step
implements (StepContext -> StepResult) lives in repotune.core.step.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from repotune.core.step import StepContext, StepResult


@dataclass(frozen=True)
class StepSpec:
    name: str
    inputs: tuple[str, ...]
    """Steps whose outputs this step reads (their output hashes decide whether it must rerun)."""
    sections: tuple[str, ...]
    """Config sections whose values decide whether it must rerun."""
    fingerprint: Callable[[Any], str] | None = None
    """A hash of the files besides config and inputs that decide its outputs (synthesize: its templates)."""

    @property
    def module(self) -> str:
        return f"repotune.{self.name}"

    def function(self) -> Callable[[StepContext], StepResult]:
        return importlib.import_module(self.module).run_step

    def available(self) -> bool:
        """Whether this version of repotune implements the step (its package exports run_step)."""
        return hasattr(importlib.import_module(self.module), "run_step")


def _templates(config: Any) -> str:
    """synthesize's pairs follow its template files (packaged, and synthesize.templates_dir): an upgrade or an
    edited template makes them again."""
    from repotune.synthesize.templates import templates_fingerprint

    return templates_fingerprint(config.synthesize.templates_dir)


STEPS: tuple[StepSpec, ...] = (
    StepSpec("analyze", (), ("analyze",)),
    StepSpec("label", ("analyze",), ("label", "llm")),
    StepSpec("synthesize", ("analyze", "label"), ("synthesize", "llm"), _templates),
    StepSpec("dataset", ("analyze", "label", "synthesize"), ("dataset",)),
    StepSpec("train", ("dataset",), ("train",)),
    StepSpec("evaluate", ("train", "dataset"), ("evaluate", "train")),
    StepSpec("deploy", ("train", "evaluate"), ("deploy", "serve", "train")),
)
STEP_NAMES = tuple(s.name for s in STEPS)


def step_spec(name: str) -> StepSpec:
    for spec in STEPS:
        if spec.name == name:
            return spec
    raise KeyError(name)
