"""The label step: every unit labelled bottom-up (callables, classes, files, directories, repository), each
level seeing the labels of the level below; answers cached so a rerun pays only for what is missing."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter, defaultdict
from typing import Any

from pydantic import ValidationError

from repotune.contracts import ASPECTS
from repotune.core.errors import StepError
from repotune.label.config import LabelConfig
from repotune.llm.client import LLMRequest, LLMResult, make_client
from repotune.llm.config import LLMEndpointConfig
from repotune.label.offline import interpret
from repotune.core.progress import progress
from repotune.label.prompts import PROMPT_VERSION, level_of, render_unit_prompt
from repotune.label.schema import LabelAnswer, json_schema
from repotune.core.step import StepContext, StepResult
from repotune.core.store import put_json, read_table, write_table

LEVELS = (("function", "method"), ("class",), ("file",), ("directory",), ("repository",))
SYSTEM = "You are a precise software documentation assistant. Answer with JSON only."


def child_summary(unit: dict[str, Any], row: dict[str, Any]) -> str:
    return f"{unit['kind']} {unit['qualified_name'].split('::')[-1]}: {row['title']} — {row['description']}"


def _row(unit: dict[str, Any], source: str, model: str | None, answer: LabelAnswer | None, result: LLMResult | None,
         error: str | None, llm: LLMEndpointConfig) -> dict[str, Any]:
    price = llm.prices.get(model or "")
    pt, ct = (result.prompt_tokens, result.completion_tokens) if result and not result.cached else (0, 0)
    return {
        "unit_id": unit["unit_id"], "kind": unit["kind"], "source": source, "model": model,
        "status": "ok" if answer else "failed", "error": error,
        "interpretations": json.dumps(answer.interpretations if answer else {}, sort_keys=True),
        "combined_interpretation": answer.combined_interpretation if answer else None,
        "explanation_level": level_of(unit["kind"]),
        "explanation_abstract": answer.explanation.abstract if answer else None,
        "explanation_paraphrase": answer.explanation.paraphrase if answer else None,
        "domain": answer.labels.domain if answer else None, "context": answer.labels.context if answer else None,
        "tags": answer.labels.tags if answer else [], "title": answer.labels.title if answer else None,
        "description": answer.labels.description if answer else None,
        "prompt_tokens": pt, "completion_tokens": ct,
        "cost_usd": round((pt * price.prompt + ct * price.completion) / 1e6, 6) if price else 0.0,
        "latency_s": result.latency_s if result and not result.cached else 0.0,
        "cached": bool(result and result.cached),
        "requests": result.attempts if result and not result.cached else 0,
    }


def _request(unit: dict[str, Any], children: list[str], cfg: LabelConfig, *, group: str | None = None,
             earlier: dict[str, str] | None = None) -> LLMRequest:
    part = f":{group}" if group else (":collate" if earlier else "")

    def messages() -> list[dict[str, str]]:  # rendered when sent: cached answers never render their prompt
        prompt = render_unit_prompt(unit, children, cfg.prompt_token_budget, group=group, earlier=earlier)
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]

    return LLMRequest(key=f"{PROMPT_VERSION}:{cfg.mode}:{unit['content_hash']}:{unit['unit_id']}{part}",
                      messages=messages, schema=json_schema(), check=None if group else schema_problem)


def schema_problem(parsed: Any) -> str | None:
    """Why an answer is not a LabelAnswer, or None."""
    try:
        LabelAnswer.model_validate(parsed)
    except ValidationError as e:
        return _schema_error(e)
    return None


def _schema_error(e: ValidationError) -> str:
    return f"answer does not match the schema: {e.errors()[0]['loc']} {e.errors()[0]['msg']}"


def label_units(units: list[dict[str, Any]], cfg: LabelConfig, store: Any,
                llm: LLMEndpointConfig | None = None) -> list[dict[str, Any]]:
    """Label every unit bottom-up; returns one row per unit (failed ones carry their reason). `llm` is the
    endpoint of backend openai (the run's `llm` section)."""
    llm = llm or LLMEndpointConfig()
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for u in units:
        children[u["parent_id"]].append(u)
    client = make_client(llm, store) if cfg.backend == "openai" else None
    writer = None
    if cfg.backend == "local":
        from repotune.label.local import LocalModelWriter

        writer = LocalModelWriter(cfg, store)
    rows: dict[str, dict[str, Any]] = {}
    levels = [level for kinds in LEVELS if (level := [u for u in units if u["kind"] in kinds][: cfg.limit or None])]
    with progress("label", sum(len(level) for level in levels), "units") as advance:
        for level in levels:
            _label_level(level, children, rows, cfg, llm, client, writer, advance)
    return [rows[u["unit_id"]] for u in units if u["unit_id"] in rows]


def _label_level(level: list[dict[str, Any]], children: dict[str | None, list[dict[str, Any]]],
                 rows: dict[str, dict[str, Any]], cfg: LabelConfig, llm: LLMEndpointConfig, client: Any, writer: Any,
                 advance: Any) -> None:
    """One level's rows (callables, classes, files, directories or the repository), its children's already in
    rows: offline, from the local model, or from the endpoint as each answer arrives."""

    def kid_lines(u: dict[str, Any]) -> list[str]:
        return [child_summary(c, rows[c["unit_id"]]) for c in children[u["unit_id"]]
                if c["unit_id"] in rows and rows[c["unit_id"]]["status"] == "ok"]

    if client is None and writer is not None:
        from repotune.label.local import echoes_code

        for u, sentence in zip(level, writer.describe(level), strict=True):
            answer = interpret(u, kid_lines(u))
            if sentence and echoes_code(sentence, u.get("code")):
                # the model copied the code: keep the facts' own wording, and say so (source offline)
                rows[u["unit_id"]] = _row(u, "offline", None, answer, None, None, llm)
                continue
            if sentence:
                answer.labels.description = sentence
                answer.explanation.abstract = sentence
                answer.combined_interpretation = f"{sentence} {answer.combined_interpretation}"
            rows[u["unit_id"]] = _row(u, "local", cfg.local_model, answer, None, None, llm)
        advance(len(level))
        return
    if client is None:
        for u in level:
            rows[u["unit_id"]] = _row(u, "offline", None, interpret(u, kid_lines(u)), None, None, llm)
        advance(len(level))
        return
    earlier: dict[str, dict[str, str]] = {}
    group_usage: dict[str, list[LLMResult]] = defaultdict(list)
    if cfg.mode == "per-aspect":  # the patent's flow: one call per aspect group, then one to collate
        group_requests = [(u, g, _request(u, kid_lines(u), cfg, group=g)) for u in level for g in ASPECTS]
        for (u, _g, _r), result in zip(group_requests, client.run([r for _, _, r in group_requests]), strict=True):
            group_usage[u["unit_id"]].append(result)
            if isinstance(result.parsed, dict) and isinstance(result.parsed.get("interpretations"), dict):
                earlier.setdefault(u["unit_id"], {}).update(
                    {k: str(v) for k, v in result.parsed["interpretations"].items()})
    requests = [_request(u, kid_lines(u), cfg, earlier=earlier.get(u["unit_id"])) for u in level]

    def finish(index: int, result: LLMResult, level: list[dict[str, Any]] = level) -> None:
        u = level[index]
        for part in group_usage[u["unit_id"]]:
            if not part.cached:
                result.prompt_tokens += part.prompt_tokens
                result.completion_tokens += part.completion_tokens
        result.attempts += sum(p.attempts for p in group_usage[u["unit_id"]])
        answer, error = None, result.error
        if result.parsed is not None:  # checked by the client already; a cached answer is checked here
            try:
                answer = LabelAnswer.model_validate(result.parsed)
            except ValidationError as e:
                error = _schema_error(e)
        rows[u["unit_id"]] = _row(u, "llm", llm.model, answer, result, error, llm)
        advance()

    client.run(requests, on_result=finish)  # each row is built as its answer arrives
    if client.consecutive_failures >= llm.circuit_breaker:
        raise StepError(f"label: the endpoint {llm.base_url} failed {client.consecutive_failures} times in a "
                        "row; answers so far are cached, rerun when it is back")


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


def run_step(ctx: StepContext) -> StepResult:
    cfg = ctx.config.label
    units = read_table(ctx.store, ctx.input_key("analyze", "units.parquet")).to_pylist()
    if not units:
        raise StepError("label: analyze produced no units")
    t0 = time.perf_counter()
    rows = label_units(units, cfg, ctx.store, ctx.config.llm)
    stats = summarise(rows, time.perf_counter() - t0)
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
                f"tokens {stats['prompt_tokens']}+{stats['completion_tokens']}; cost ${stats['cost_usd']}")
