"""A label level as a Ray Data pass: the level's units, each with its children's label lines, go through
`map_batches` to an actor pool; each actor holds its backend once (the OpenAI-compatible client with its share of
`llm.concurrency` and `llm.tokens_per_minute`, or the local model, loaded once per actor) and labels its batches
with the same `label_level` the step runs in process, so the rows are the same."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from repotune.core.errors import StepError
from repotune.core.ray_setup import RayConfig, ensure_ray
from repotune.label.config import LabelConfig
from repotune.label.levels import label_level
from repotune.llm.config import LLMEndpointConfig


def share(llm: LLMEndpointConfig, actors: int) -> LLMEndpointConfig:
    """One actor's part of the endpoint's limits: together the actors keep to llm.concurrency requests in flight
    and llm.tokens_per_minute."""
    budget = llm.tokens_per_minute
    return llm.model_copy(update={"concurrency": max(1, llm.concurrency // actors),
                                  "tokens_per_minute": max(1, budget // actors) if budget else None})


class LevelActor:
    """Ray Data callable class: one backend per actor, built once."""

    def __init__(self, cfg: dict[str, Any], llm: dict[str, Any], store: dict[str, Any] | None, actors: int):
        from repotune.core.store import StoreConfig, open_store

        self.cfg = LabelConfig(**cfg)
        self.llm = share(LLMEndpointConfig(**llm), actors)
        self.store = open_store(StoreConfig(**store)) if store else None
        self.client = self.writer = None
        if self.cfg.backend == "openai":
            from repotune.llm.client import make_client

            self.client = make_client(self.llm, self.store)
        elif self.cfg.backend == "local":
            from repotune.label.local import LocalModelWriter

            self.writer = LocalModelWriter(self.cfg, self.store)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        units = [json.loads(u) for u in batch["unit"]]
        kids = [json.loads(k) for k in batch["kids"]]
        rows = label_level(units, kids, self.cfg, self.llm, self.client, self.writer, advance=lambda n=1: None)
        return {"row": [json.dumps(r) for r in rows]}


def label_level_on_ray(level: list[dict[str, Any]], kids: list[list[str]], cfg: LabelConfig,
                       llm: LLMEndpointConfig, store_config: dict[str, Any] | None, ray_config: RayConfig | None,
                       actors: int, advance: Callable[[int], None]) -> Iterator[dict[str, Any]]:
    """The level's rows as the actors finish their batches."""
    import ray

    ensure_ray(ray_config)
    ray.data.DataContext.get_current().enable_progress_bars = False
    items = [{"unit": json.dumps(u, default=str), "kids": json.dumps(k)} for u, k in zip(level, kids, strict=True)]
    actors = max(1, min(actors, len(items)))
    batch_size = max(1, min(cfg.units_per_task, -(-len(items) // actors)))
    ds = ray.data.from_items(items, override_num_blocks=max(actors, -(-len(items) // batch_size)))
    ds = ds.map_batches(LevelActor, batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=actors),
                        fn_constructor_kwargs={"cfg": cfg.model_dump(), "llm": llm.model_dump(),
                                               "store": store_config, "actors": actors})
    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="pandas"):
            rows = [json.loads(r) for r in batch["row"]]
            advance(len(rows))
            yield from rows
    except Exception as error:  # noqa: BLE001 - an actor's own error (circuit breaker, a bad model): one line
        cause: BaseException = error
        while not isinstance(cause, StepError) and isinstance(getattr(cause, "cause", None), BaseException):
            cause = cause.cause
        message = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
        raise StepError(f"label on Ray: {message}") from None
