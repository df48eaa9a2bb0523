"""The label step: every unit labelled bottom-up (callables, classes, files, directories, repository), each
level seeing the labels of the level below; answers cached so a rerun pays only for what is missing."""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter
from typing import Any

from repotune.core.errors import StepError
from repotune.core.ray_setup import RayConfig
from repotune.core.step import StepContext, StepResult
from repotune.core.store import LocalStore, open_table, put_json, table_writer
from repotune.label.config import LabelConfig
from repotune.label.labelling import ParquetTable, label_table, label_units
from repotune.label.levels import LABEL_SCHEMA
from repotune.llm.config import LLMEndpointConfig

__all__ = ["choose_ray", "label_stored_units", "label_units", "run_step"]

# Measured on this project's 2-core VM with SmolLM2-135M (bench/label_local.py --units 24 --ray-actors 1,2): 2.24 to
# 2.38 s a unit in this process (two torch threads); on a started pool 2.49 s a unit in one actor (one thread), two
# actors 0.93 as fast as two alone (1.86x); Ray's start-up (13 s, as analyze measured) plus a new pool of two
# actors' start, model load and first batches (16.8 s more than the started pool took). Ray pays once
# units x (in-process s/unit - actor s/unit / (efficiency x actors)) > start-up.
IN_PROCESS_UNIT_S = 2.38
ACTOR_UNIT_S = 2.49
RAY_EFFICIENCY = 0.93
RAY_START_S = 13.0 + 16.8


def choose_ray(use_ray: bool | str, backend: str, units: int, workers: int, address: str | None) -> tuple[bool, str]:
    """Whether to label on Ray, and why (for the summary)."""
    if backend == "vllm":
        return True, "backend vllm runs on Ray (ray.data.llm)"
    if isinstance(use_ray, bool):
        return use_ray, f"label.use_ray={str(use_ray).lower()}"
    if address:
        return True, "auto: ray.address names a cluster"
    if backend != "local":
        return False, (f"auto: the {backend} backend is not bound by this machine's CPUs "
                       + ("(microseconds a unit)" if backend == "offline" else "(one client keeps llm.concurrency "
                          "requests in flight)"))
    if workers <= 1:
        return False, "auto: one CPU, nothing to parallelise"
    saved = IN_PROCESS_UNIT_S - ACTOR_UNIT_S / (RAY_EFFICIENCY * workers)  # seconds a unit, once Ray runs
    if saved <= 0:
        return False, f"auto: {workers} actors would label no faster than this process"
    crossover = RAY_START_S / saved
    if units > crossover:
        return True, f"auto: {units} units for the local model, over {crossover:.0f} on {workers} CPUs"
    return False, f"auto: {units} units for the local model, below {crossover:.0f}, where Ray pays on {workers} CPUs"


class Tally:
    """The label summary (label.json), counted as rows go by: the rows themselves are not kept."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.cost = 0.0

    def add(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            self.counts.update(units=1, ok=r["status"] == "ok", failed=r["status"] == "failed", cached=r["cached"],
                               prompt_tokens=r["prompt_tokens"], completion_tokens=r["completion_tokens"])
            if r["status"] == "failed":
                self.failures[(r["error"] or "").split(":")[0]] += 1
            self.sources[r["source"]] += 1
            self.cost += r["cost_usd"]
            if r["latency_s"]:
                self.latencies.append(r["latency_s"])

    def summary(self, seconds: float) -> dict[str, Any]:
        latencies = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(latencies[min(int(p * len(latencies)), len(latencies) - 1)], 4) if latencies else 0.0

        units = self.counts["units"]
        return {
            "units": units, "ok": self.counts["ok"], "failed": self.counts["failed"],
            "failures_by_reason": dict(self.failures), "by_source": dict(self.sources), "cached": self.counts["cached"],
            "offline_share": round(self.sources["offline"] / max(units, 1), 3),
            "prompt_tokens": self.counts["prompt_tokens"], "completion_tokens": self.counts["completion_tokens"],
            "cost_usd": round(self.cost, 6),
            "latency_s": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99),
                          "mean": round(statistics.fmean(latencies), 4) if latencies else 0.0},
            "seconds": round(seconds, 3),
        }


def _store_for_actors(ctx: StepContext) -> dict[str, Any]:
    """The run's store settings as Ray actors open it: a local folder by its absolute path (actors do not share
    the driver's working directory); credentials stay in the environment, never in the settings."""
    settings = ctx.config.store.model_dump()
    if isinstance(ctx.store, LocalStore):
        settings["url"] = ctx.store.url
    return settings


def label_stored_units(store: Any, units_key: str, prefix: str, cfg: LabelConfig, llm: LLMEndpointConfig,
                       ray_config: RayConfig, store_config: dict[str, Any] | None) -> dict[str, Any]:
    """Label the units table at units_key into prefix + labels.parquet, streaming: levels are read from the table
    a batch at a time and saved under prefix + levels/ as they are labelled, then joined into labels.parquet.
    Returns the summary (label.json's content), with where it ran and why."""
    t0 = time.perf_counter()
    tally = Tally()
    with open_table(store, units_key) as parquet:
        count = parquet.metadata.num_rows
        if not count:
            raise StepError("label: analyze produced no units")
        workers = cfg.actors or ray_config.num_cpus or os.cpu_count() or 1
        use_ray, why = choose_ray(cfg.use_ray, cfg.backend, count, workers, ray_config.address)
        actors = cfg.actors or (4 if cfg.backend == "openai" else workers)
        levels = label_table(ParquetTable(parquet), cfg, store, llm, on_rows=tally.add, use_ray=use_ray,
                             ray_config=ray_config, store_config=store_config, actors=actors,
                             checkpoints=f"{prefix}levels/")
    with table_writer(store, f"{prefix}labels.parquet", LABEL_SCHEMA) as write:
        for key in levels:
            with open_table(store, key) as level:
                for group in range(level.num_row_groups):
                    write(level.read_row_group(group))
    stats = tally.summary(time.perf_counter() - t0)
    stats["ray"] = {"used": use_ray, "why": why, **({"actors": actors} if use_ray else {})}
    return stats


def run_step(ctx: StepContext) -> StepResult:
    cfg = ctx.config.label
    if cfg.launcher == "rayjob":
        from repotune.label.rayjob import launch

        return launch(ctx)
    stats = label_stored_units(ctx.store, ctx.input_key("analyze", "units.parquet"), ctx.key(""), cfg,
                               ctx.config.llm, ctx.config.ray, _store_for_actors(ctx))
    use_ray, why = stats["ray"]["used"], stats["ray"]["why"]
    put_json(ctx.store, ctx.key("label.json"), stats)
    note = " (offline interpreter: no LLM endpoint configured)" if cfg.backend == "offline" else ""
    return StepResult(
        outputs={"labels": ctx.key("labels.parquet"), "stats": ctx.key("label.json")},
        counts={"units": stats["units"], "ok": stats["ok"], "failed": stats["failed"], "cached": stats["cached"],
                **{f"source.{k}": v for k, v in stats["by_source"].items()}},
        metrics={"prompt_tokens": stats["prompt_tokens"], "completion_tokens": stats["completion_tokens"],
                 "cost_usd": stats["cost_usd"], "latency_p95_s": stats["latency_s"]["p95"]},
        summary=f"  labelled {stats['ok']}/{stats['units']} units{note}; failed {stats['failed']}; "
                f"tokens {stats['prompt_tokens']}+{stats['completion_tokens']}; cost ${stats['cost_usd']}; "
                f"{'on Ray' if use_ray else 'in this process'} ({why})")
