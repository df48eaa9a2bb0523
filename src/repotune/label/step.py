"""The label step: every unit labelled bottom-up (callables, classes, files, directories, repository), each
level seeing the labels of the level below; answers cached so a rerun pays only for what is missing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
import time
from collections import Counter, defaultdict
from typing import Any

from repotune.core.errors import StepError
from repotune.core.progress import progress
from repotune.core.ray_setup import RayConfig
from repotune.core.step import StepContext, StepResult
from repotune.core.store import LocalStore, get_json, put_json, read_table, write_table
from repotune.label.config import LabelConfig
from repotune.label.levels import LEVELS, backend, child_summary, label_level
from repotune.label.prompts import PROMPT_VERSION
from repotune.llm.config import LLMEndpointConfig

# Measured on this project's 2-core VM with SmolLM2-135M (bench/label_local.py --ray-actors 1,2): 2.38 s a unit in
# this process (two torch threads), 2.8 s a unit in one actor (one thread), two actors 0.81 as fast as two alone;
# Ray's start-up (13 s, as analyze measured) plus the model load in each actor (4.3 s). Ray pays once
# units x (in-process s/unit - actor s/unit / (efficiency x actors)) > start-up.
IN_PROCESS_UNIT_S = 2.38
ACTOR_UNIT_S = 2.8
RAY_EFFICIENCY = 0.81
RAY_START_S = 13.0 + 4.3


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


def _identity(cfg: LabelConfig, llm: LLMEndpointConfig, level: list[dict[str, Any]], kids: list[list[str]]) -> str:
    """What a level's saved rows depend on: the units (ids and content), their children's labels, and how they
    are labelled."""
    what = [PROMPT_VERSION, cfg.backend, cfg.mode, cfg.local_model, cfg.local_max_tokens, cfg.prompt_token_budget,
            {"openai": llm.model, "vllm": cfg.vllm.model}.get(cfg.backend),
            sorted((u["unit_id"], u["content_hash"], k) for u, k in zip(level, kids, strict=True))]
    return hashlib.sha256(json.dumps(what, default=str).encode()).hexdigest()


def label_units(units: list[dict[str, Any]], cfg: LabelConfig, store: Any, llm: LLMEndpointConfig | None = None,
                *, use_ray: bool = False, ray_config: RayConfig | None = None, store_config: dict | None = None,
                actors: int = 1, checkpoints: str | None = None) -> list[dict[str, Any]]:
    """Label every unit bottom-up; returns one row per unit (failed ones carry their reason). `llm` is the
    endpoint of backend openai (the run's `llm` section). use_ray: each level goes in batches to a pool of
    `actors` Ray actors kept for every level (store_config: how they open the store, for the answer cache). checkpoints: a store prefix where each
    level's rows are saved as it ends; a rerun takes the levels saved there (same units, same settings) as they
    are and labels from the first level missing."""
    llm = llm or LLMEndpointConfig()
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for u in units:
        children[u["parent_id"]].append(u)
    in_process: tuple[Any, Any] | None = None  # (client, writer), built at the first level labelled here
    labeller = None
    rows: dict[str, dict[str, Any]] = {}

    def kid_lines(u: dict[str, Any]) -> list[str]:
        return [child_summary(c, rows[c["unit_id"]]) for c in children[u["unit_id"]]
                if c["unit_id"] in rows and rows[c["unit_id"]]["status"] == "ok"]

    levels = [level for kinds in LEVELS if (level := [u for u in units if u["kind"] in kinds][: cfg.limit or None])]
    with progress("label", sum(len(level) for level in levels), "units") as advance, \
            contextlib.ExitStack() as cleanup:
        cleanup.callback(lambda: labeller is not None and labeller.close())
        for index, level in enumerate(levels):
            kids = [kid_lines(u) for u in level]
            identity = _identity(cfg, llm, level, kids)
            saved = f"{checkpoints}level-{index}" if checkpoints else None
            if saved and store.exists(f"{saved}.json") and get_json(store, f"{saved}.json") == {"identity": identity}:
                level_rows = read_table(store, f"{saved}.parquet").to_pylist()
                advance(len(level_rows))
            elif cfg.backend == "vllm":
                from repotune.core.ray_setup import ensure_ray
                from repotune.label.vllm_batch import label_level_vllm

                ensure_ray(ray_config)
                level_rows = label_level_vllm(level, kids, cfg, llm, advance)
            elif use_ray:
                if labeller is None:
                    from repotune.label.ray_levels import RayLabeller

                    labeller = RayLabeller(cfg, llm, store_config, ray_config, actors)
                level_rows = list(labeller.level(level, kids, advance))
            else:
                in_process = in_process or backend(cfg, llm, store)
                level_rows = label_level(level, kids, cfg, llm, *in_process, advance)
            for row in level_rows:
                rows[row["unit_id"]] = row
            if saved:  # the rows first, then the marker that says they are whole
                write_table(store, f"{saved}.parquet", level_rows)
                put_json(store, f"{saved}.json", {"identity": identity})
    return [rows[u["unit_id"]] for u in units if u["unit_id"] in rows]


def summarise(rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    latencies = sorted(r["latency_s"] for r in rows if r["latency_s"])
    def pct(p: float) -> float:
        return round(latencies[min(int(p * len(latencies)), len(latencies) - 1)], 4) if latencies else 0.0
    return {
        "units": len(rows), "ok": sum(r["status"] == "ok" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "failures_by_reason": dict(Counter((r["error"] or "").split(":")[0] for r in rows if r["status"] == "failed")),
        "by_source": dict(Counter(r["source"] for r in rows)), "cached": sum(r["cached"] for r in rows),
        "offline_share": round(sum(r["source"] == "offline" for r in rows) / max(len(rows), 1), 3),
        "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
        "completion_tokens": sum(r["completion_tokens"] for r in rows),
        "cost_usd": round(sum(r["cost_usd"] for r in rows), 6),
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


def run_step(ctx: StepContext) -> StepResult:
    cfg = ctx.config.label
    if cfg.launcher == "rayjob":
        from repotune.label.rayjob import launch

        return launch(ctx)
    units = read_table(ctx.store, ctx.input_key("analyze", "units.parquet")).to_pylist()
    if not units:
        raise StepError("label: analyze produced no units")
    t0 = time.perf_counter()
    ray_cfg = ctx.config.ray
    workers = cfg.actors or ray_cfg.num_cpus or os.cpu_count() or 1
    use_ray, why = choose_ray(cfg.use_ray, cfg.backend, len(units), workers, ray_cfg.address)
    actors = cfg.actors or (4 if cfg.backend == "openai" else workers)
    rows = label_units(units, cfg, ctx.store, ctx.config.llm, use_ray=use_ray, ray_config=ray_cfg,
                       store_config=_store_for_actors(ctx), actors=actors, checkpoints=ctx.key("levels/"))
    stats = summarise(rows, time.perf_counter() - t0)
    stats["ray"] = {"used": use_ray, "why": why, **({"actors": actors} if use_ray else {})}
    write_table(ctx.store, ctx.key("labels.parquet"), rows)
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
