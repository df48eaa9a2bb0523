"""What a step receives and returns: the contract between the runner and every step.

Each step package exposes `run_step(ctx: StepContext) -> StepResult`. Steps exchange files in the object store
under runs/<run_id>/<step>/, never in-memory objects, so any step can be re-run, resumed or inspected alone
(locally, in a KFP component, or in a RayJob).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from repotune.config import RunConfig
    from repotune.core.store import ObjectStore


def step_prefix(run_id: str, step: str) -> str:
    """Where a step of a run keeps its outputs in the store."""
    return f"runs/{run_id}/{step}"


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
        return step_prefix(self.run_id, step or self.step)

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
