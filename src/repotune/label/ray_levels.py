"""Label levels on Ray: a pool of actors, started once per labelling run and kept for every level, each holding
its backend once (the OpenAI-compatible client with its share of `llm.concurrency` and `llm.tokens_per_minute`,
or its own copy of the local model, loaded once). A level's units go out in batches of `label.units_per_task`
with their children's label lines; every actor labels its batch with the same `label_level` the step runs in
process, so the rows are the same; they come back in the level's order, read from the table only as actors
are free to take them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from repotune.core.errors import StepError
from repotune.core.ray_setup import RayConfig, ensure_ray
from repotune.label.config import LabelConfig
from repotune.label.levels import WAVES_PER_BATCH, backend, label_level
from repotune.llm.config import LLMEndpointConfig

MAX_BATCH = 1024


def share(llm: LLMEndpointConfig, actors: int) -> LLMEndpointConfig:
    """One actor's part of the endpoint's limits: together the actors keep to llm.concurrency requests in flight
    and llm.tokens_per_minute."""
    budget = llm.tokens_per_minute
    return llm.model_copy(update={"concurrency": max(1, llm.concurrency // actors),
                                  "tokens_per_minute": max(1, budget // actors) if budget else None})


class LevelActor:
    """One backend, built once; labels batches of any level."""

    def __init__(self, cfg: dict[str, Any], llm: dict[str, Any], store: dict[str, Any] | None, actors: int):
        from repotune.core.store import StoreConfig, open_store

        self.cfg = LabelConfig(**cfg)
        self.llm = share(LLMEndpointConfig(**llm), actors)
        self.store = open_store(StoreConfig(**store)) if store else None
        self.client, self.writer = backend(self.cfg, self.llm, self.store)

    def label(self, units: list[dict[str, Any]], kids: list[list[str]]) -> list[dict[str, Any]]:
        return label_level(units, kids, self.cfg, self.llm, self.client, self.writer, advance=lambda n=1: None)


class RayLabeller:
    """The actor pool of one labelling run."""

    def __init__(self, cfg: LabelConfig, llm: LLMEndpointConfig, store_config: dict[str, Any] | None,
                 ray_config: RayConfig | None, actors: int):
        import ray

        ensure_ray(ray_config)
        # the local model computes: a CPU each (and one torch thread); the others wait on the network or do little
        cpus = 1 if cfg.backend == "local" else 0.25
        remote = ray.remote(num_cpus=cpus, max_restarts=0)(LevelActor)
        self.actors = [remote.remote(cfg.model_dump(), llm.model_dump(), store_config, actors) for _ in range(actors)]
        self.units_per_task = cfg.units_per_task
        # an actor's endpoint client keeps its share in flight within a batch: 32 waves a batch at least, so the
        # last wave's stragglers idle its other slots rarely (at most one batch per actor where units are few)
        self.fewest = WAVES_PER_BATCH * share(llm, actors).concurrency if cfg.backend == "openai" else 1

    def batch_size(self, level_units: int) -> int:
        """Units per actor call: label.units_per_task, or at most MAX_BATCH (the driver holds a few batches per
        actor, so their size bounds its memory) and three batches per actor where there are units enough, so an
        actor that finishes early takes the next batch instead of idling while another works through a long one;
        for an endpoint, 32 waves of the actor's requests."""
        if self.units_per_task:
            return self.units_per_task
        balanced = -(-level_units // (3 * len(self.actors)))
        return max(1, min(MAX_BATCH, max(balanced, min(self.fewest, -(-level_units // len(self.actors))))))

    def level(self, batches: Iterator[tuple[list[dict[str, Any]], list[list[str]]]],
              advance: Callable[[int], None]) -> Iterator[list[dict[str, Any]]]:
        """The level's rows, batch by batch in the order the batches came: each idle actor takes the next batch,
        read from `batches` only then, and rows wait only for the batches before them (a few per actor), so the
        driver holds a handful of batches, never the level."""
        import ray

        idle = list(self.actors)
        running: dict[Any, tuple[int, Any]] = {}  # result ref -> (batch number, actor)
        done: dict[int, list[dict[str, Any]]] = {}
        sent = written = 0
        ahead = 4 * len(self.actors)  # batches sent beyond the oldest one unwritten
        try:
            while True:
                while idle and sent - written < ahead and (batch := next(batches, None)) is not None:
                    actor = idle.pop()
                    running[actor.label.remote(*batch)] = (sent, actor)
                    sent += 1
                if not running:
                    return
                [ready], _ = ray.wait(list(running), num_returns=1)
                number, actor = running.pop(ready)
                idle.append(actor)
                done[number] = ray.get(ready)
                advance(len(done[number]))
                while written in done:
                    yield done.pop(written)
                    written += 1
        except (ray.exceptions.RayError, StepError) as error:
            raise StepError(f"label on Ray: {_one_line(error)}") from None

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)


def _one_line(error: BaseException) -> str:
    """An actor's own error (circuit breaker, a model that does not load) without Ray's traceback."""
    cause: BaseException = error
    while isinstance(getattr(cause, "cause", None), BaseException):
        cause = cause.cause
    text = str(cause).strip()
    return text.splitlines()[-1] if text else type(cause).__name__
