"""The step contract. Each step package exposes `run_step(ctx: StepContext) -> StepResult`.

Steps exchange files in the object store under runs/<run_id>/<step>/, never in-memory objects, so any step can
be re-run, resumed or inspected alone (locally, in a KFP component, or in a RayJob).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from repotune.config import RunConfig
    from repotune.store import ObjectStore


@dataclass(frozen=True)
class StepSpec:
    name: str
    inputs: tuple[str, ...]
    """Steps whose outputs this step reads (their output hashes decide whether it must rerun)."""
    sections: tuple[str, ...]
    """Config sections whose values decide whether it must rerun."""

    @property
    def module(self) -> str:
        return f"repotune.{self.name}"

    def function(self) -> Callable[[StepContext], StepResult]:
        return importlib.import_module(self.module).run_step

    def available(self) -> bool:
        """Whether this version of repotune implements the step (its package exports run_step)."""
        return hasattr(importlib.import_module(self.module), "run_step")


STEPS: tuple[StepSpec, ...] = (
    StepSpec("analyze", (), ("analyze",)),
    StepSpec("label", ("analyze",), ("label",)),
    StepSpec("synthesize", ("analyze", "label"), ("synthesize", "label")),
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


@dataclass
class StepContext:
    """What a step gets: the whole config, the store, and where its inputs and outputs live."""

    config: RunConfig
    store: ObjectStore
    step: str
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("repotune"))

    @property
    def run_id(self) -> str:
        return self.config.run_id

    def prefix(self, step: str | None = None) -> str:
        return f"runs/{self.run_id}/{step or self.step}"

    def key(self, name: str) -> str:
        """Key of one of this step's outputs: runs/<run_id>/<step>/<name>."""
        return f"{self.prefix()}/{name}"

    def input_key(self, step: str, name: str) -> str:
        """Key of an output of an earlier step."""
        return f"{self.prefix(step)}/{name}"


@dataclass
class StepResult:
    """What a step reports. `outputs` maps a name to a store key (a file, or a prefix ending in '/')."""

    outputs: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
