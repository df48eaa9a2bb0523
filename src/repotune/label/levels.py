"""One level of the label step for any backend: the rows of its units, given their children's labels. Used by the
step in this process and by its Ray actors alike, so both give the same rows."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from repotune.contracts import ASPECTS
from repotune.core.errors import StepError
from repotune.label.config import LabelConfig
from repotune.label.offline import interpret
from repotune.label.prompts import PROMPT_VERSION, level_of, render_unit_prompt
from repotune.label.schema import LabelAnswer, json_schema
from repotune.llm.client import LLMRequest, LLMResult
from repotune.llm.config import LLMEndpointConfig

LEVELS = (("function", "method"), ("class",), ("file",), ("directory",), ("repository",))
# An endpoint's client keeps llm.concurrency requests in flight within one call of label_level, so a batch for
# it is at least this many waves long: the last wave's stragglers idle the other slots once a batch, not often.
WAVES_PER_BATCH = 32
_TEXT = pa.string()
# labels.parquet and each saved level: fixed types, so a level written in batches has one schema whatever a batch
# happens to hold (a batch without errors would otherwise infer the error column as null)
LABEL_SCHEMA = pa.schema([
    ("unit_id", _TEXT), ("kind", _TEXT), ("source", _TEXT), ("model", _TEXT), ("status", _TEXT), ("error", _TEXT),
    ("interpretations", _TEXT), ("combined_interpretation", _TEXT), ("explanation_level", _TEXT),
    ("explanation_abstract", _TEXT), ("explanation_paraphrase", _TEXT), ("domain", _TEXT), ("context", _TEXT),
    ("tags", pa.list_(_TEXT)), ("title", _TEXT), ("description", _TEXT), ("prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()), ("cost_usd", pa.float64()), ("latency_s", pa.float64()),
    ("cached", pa.bool_()), ("requests", pa.int64())])
SYSTEM = "You are a precise software documentation assistant. Answer with JSON only."


def backend(cfg: LabelConfig, llm: LLMEndpointConfig, store: Any) -> tuple[Any, Any]:
    """(client, writer) for label_level: the endpoint's client, or the local model's writer (both None: offline
    and vllm, which label_level does not run)."""
    if cfg.backend == "openai":
        from repotune.llm.client import make_client

        return make_client(llm, store), None
    if cfg.backend == "local":
        from repotune.label.local import LocalModelWriter

        return None, LocalModelWriter(cfg, store)
    return None, None


def child_summary(unit: dict[str, Any], row: dict[str, Any]) -> str:
    return f"{unit['kind']} {unit['qualified_name'].split('::')[-1]}: {row['title']} — {row['description']}"


def unit_row(unit: dict[str, Any], source: str, model: str | None, answer: LabelAnswer | None,
             result: LLMResult | None, error: str | None, llm: LLMEndpointConfig) -> dict[str, Any]:
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


def unit_request(unit: dict[str, Any], children: list[str], cfg: LabelConfig, *, group: str | None = None,
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
        return schema_error(e)
    return None


def schema_error(e: ValidationError) -> str:
    return f"answer does not match the schema: {e.errors()[0]['loc']} {e.errors()[0]['msg']}"


def label_level(level: list[dict[str, Any]], kids: list[list[str]], cfg: LabelConfig, llm: LLMEndpointConfig,
                client: Any, writer: Any, advance: Any) -> list[dict[str, Any]]:
    """Rows of units of one level (callables, classes, files, directories or the repository), given each unit's
    children's label lines: offline, from the local model, or from the endpoint as each answer arrives. The same
    in this process and in a Ray actor (label.use_ray)."""
    lines = {u["unit_id"]: k for u, k in zip(level, kids, strict=True)}
    rows: dict[str, dict[str, Any]] = {}

    def kid_lines(u: dict[str, Any]) -> list[str]:
        return lines[u["unit_id"]]

    if client is None and writer is not None:
        from repotune.label.local import echoes_code

        for u, sentence in zip(level, writer.describe(level), strict=True):
            answer = interpret(u, kid_lines(u))
            if sentence and echoes_code(sentence, u.get("code")):
                # the model copied the code: keep the facts' own wording, and say so (source offline)
                rows[u["unit_id"]] = unit_row(u, "offline", None, answer, None, None, llm)
                continue
            if sentence:
                answer.labels.description = sentence
                answer.explanation.abstract = sentence
                answer.combined_interpretation = f"{sentence} {answer.combined_interpretation}"
            rows[u["unit_id"]] = unit_row(u, "local", cfg.local_model, answer, None, None, llm)
        advance(len(level))
        return [rows[u["unit_id"]] for u in level]
    if client is None:
        for u in level:
            rows[u["unit_id"]] = unit_row(u, "offline", None, interpret(u, kid_lines(u)), None, None, llm)
        advance(len(level))
        return [rows[u["unit_id"]] for u in level]
    earlier: dict[str, dict[str, str]] = {}
    group_usage: dict[str, list[LLMResult]] = defaultdict(list)
    if cfg.mode == "per-aspect":  # the patent's flow: one call per aspect group, then one to collate
        group_requests = [(u, g, unit_request(u, kid_lines(u), cfg, group=g)) for u in level for g in ASPECTS]
        for (u, _g, _r), result in zip(group_requests, client.run([r for _, _, r in group_requests]), strict=True):
            group_usage[u["unit_id"]].append(result)
            if isinstance(result.parsed, dict) and isinstance(result.parsed.get("interpretations"), dict):
                earlier.setdefault(u["unit_id"], {}).update(
                    {k: str(v) for k, v in result.parsed["interpretations"].items()})
    requests = [unit_request(u, kid_lines(u), cfg, earlier=earlier.get(u["unit_id"])) for u in level]

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
                error = schema_error(e)
        rows[u["unit_id"]] = unit_row(u, "llm", llm.model, answer, result, error, llm)
        advance()

    client.run(requests, on_result=finish)  # each row is built as its answer arrives
    if client.consecutive_failures >= llm.circuit_breaker:
        raise StepError(f"label: the endpoint {llm.base_url} failed {client.consecutive_failures} times in a "
                        "row; answers so far are cached, rerun when it is back")
    return [rows[u["unit_id"]] for u in level if u["unit_id"] in rows]
