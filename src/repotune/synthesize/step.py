"""The synthesize step: template queries over sampled domain tokens → instruction/response pairs with quality
labels; template weights move toward their pass rates for the next run."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from repotune.core.docstrings import docstring_summary
from repotune.core.errors import ConfigError, StepError
from repotune.core.step import StepContext, StepResult
from repotune.core.store import get_json, put_json, read_table, write_table
from repotune.synthesize.quality import NearDuplicates, label_quality
from repotune.synthesize.llm import Accounting
from repotune.synthesize.templates import TemplateQuery, code_without_docstring, load_templates, shorten_code
from repotune.synthesize.tokens import DomainTokens

WEIGHTS_KEY = "state/synthesize/template_weights.json"  # shared across runs: the tuning loop's memory


def _instruction(template: TemplateQuery, values: dict[str, Any]) -> tuple[str, str | None, str | None]:
    shots = "".join(f"Example input:\n{s['input']}\nExample output:\n{s['output']}\n\n" for s in template.static)
    text = shots + template.render(template.dynamic, **values)
    condition = None
    if template.condition:
        condition = template.render(template.condition, **values)
        text = f"{text}\n{condition}"
    return text, condition, values.get("datum")


Respond = Callable[[list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]], list[str | None]]


def synthesize(units: list[dict[str, Any]], labels: dict[str, dict[str, Any]], edges: list[dict[str, Any]],
               templates: list[TemplateQuery], weights: dict[str, float], *, seed: int, pairs_per_unit: int,
               max_code_chars: int, near_duplicate_threshold: float, prompt_code_chars: int = 2000,
               respond: Respond | None = None) -> tuple[list[dict[str, Any]], Counter]:
    """Pairs from template queries. With `respond` (the LLM), templates marked `generate` and docstrings a unit
    lacks get the model's answer as response; without it, responses come from the code, docstrings and labels."""
    tokens = DomainTokens.build(units, labels, edges)
    known = set(tokens.weights.get("identifier", {})) | set(tokens.weights.get("api", {}))
    known |= {part for m in tokens.weights.get("module", {}) for part in re.split(r"[./:]+", m) if part}
    by_id = {u["unit_id"]: u for u in units}
    callees: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if e["kind"] == "call" and e["internal"] and e["dst"] in by_id:
            callees[e["src"]].append(by_id[e["dst"]]["name"])
    dups = NearDuplicates(near_duplicate_threshold)

    def inside(unit: dict[str, Any], kind: str) -> list[str]:
        """Tokens of a kind found within a file or directory, so a question about it stays answerable."""
        prefix = unit["path"]
        members = [u for u in units if u["path"] == prefix or u["path"].startswith(prefix + "/")]
        if kind == "module":
            return [m for u in members if u["kind"] == "file"
                    for m in json.loads(u["facts"]).get("dependencies", {}).get("module", {}).get("imports", [])]
        return [u["name"] for u in members if u["kind"] in ("function", "method", "class")]

    skipped: Counter = Counter()
    pairs = []
    to_generate: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    for unit in sorted(units, key=lambda u: u["unit_id"]):
        if unit["duplicate_of"]:
            skipped["duplicate_unit"] += 1
            continue
        label = labels.get(unit["unit_id"])
        if label is None or label["status"] != "ok":
            skipped["no_label"] += 1
            continue
        applicable = [t for t in templates if unit["kind"] in t.applies_to and weights.get(t.id, t.weight) > 0]
        if len(unit["code"] or "") > max_code_chars and any(not t.shortened_code for t in applicable):
            skipped["code_too_long"] += 1  # units that lost the templates showing their whole code
            applicable = [t for t in applicable if t.shortened_code]
        if label["source"] == "offline" and any(t.needs_model_labels for t in applicable):
            skipped["offline_labels"] += sum(t.needs_model_labels for t in applicable)
            applicable = [t for t in applicable if not t.needs_model_labels]
        rng = random.Random(f"{seed}:{unit['unit_id']}")
        chosen: list[TemplateQuery] = [t for t in applicable if t.always]
        applicable = [t for t in applicable if not t.always]
        while applicable and len(chosen) < pairs_per_unit:
            pick = rng.choices(applicable, weights=[weights.get(t.id, t.weight) for t in applicable], k=1)[0]
            chosen.append(pick)
            applicable.remove(pick)
        for template in chosen:
            shown = shorten_code(code_without_docstring(unit["code"], unit["docstring"]), prompt_code_chars)
            values: dict[str, Any] = {"unit": {**unit, "code_without_docstring": shown,
                                               "docstring_summary": docstring_summary(unit["docstring"])},
                                      "label": label}
            generated = respond is not None and template.generate
            if template.task == "code2doc" and not values["unit"]["docstring_summary"]:
                if respond is None:
                    skipped["no_docstring"] += 1
                    continue
                generated = True  # the model writes the docstring the unit lacks
            if template.condition_tokens:
                datum = tokens.sample(template.condition_tokens, rng, among=callees.get(unit["unit_id"], []))
                if datum is None:
                    skipped["condition_unsatisfiable"] += 1
                    continue
                values["datum"] = datum
            if template.sample_tokens:
                kind = rng.choice(template.sample_tokens)
                token = tokens.sample(kind, rng, among=inside(unit, kind))
                if token is None:
                    skipped["no_tokens"] += 1
                    continue
                values.update(token=token, token_kind=kind)
            instruction, condition, target = _instruction(template, values)
            response = "" if generated else template.render(template.response, **values)
            source = "llm" if generated else (label["source"] if label["source"] != "offline" else "offline")
            pair = {"task": template.task, "template_id": template.id, "unit_id": unit["unit_id"],
                    "instruction": instruction, "response": response,
                    "sampled_tokens": json.dumps({k: values[k] for k in ("datum", "token", "token_kind") if k in values}),
                    "condition": condition, "target": target, "source": source, "generated": generated,
                    "pair_id": hashlib.sha256(f"{template.id}:{unit['unit_id']}".encode()).hexdigest()[:20]}
            pairs.append(pair)
            if generated:
                to_generate.append((pair, unit, label))
    if to_generate:
        failed = set()
        for (pair, _, _), answer in zip(to_generate, respond(to_generate), strict=True):
            if answer is None:
                failed.add(pair["pair_id"])
                skipped["llm_failed"] += 1
            else:
                pair["response"] = answer
        pairs = [p for p in pairs if p["pair_id"] not in failed]
    for pair in pairs:  # in order: the near-duplicate check keeps the first of similar pairs
        quality = label_quality(pair, by_id[pair["unit_id"]]["language"], known, dups)
        pair["quality"] = json.dumps(quality["checks"], sort_keys=True)
        pair["quality_ok"] = quality["ok"]
    return pairs, skipped


def updated_weights(templates: list[TemplateQuery], weights: dict[str, float], pairs: list[dict[str, Any]],
                    learning_rate: float) -> dict[str, float]:
    """Each template's weight moves toward weight × pass rate (the patent's tuning of templates by quality)."""
    passed, total = Counter(), Counter()
    for p in pairs:
        total[p["template_id"]] += 1
        passed[p["template_id"]] += p["quality_ok"]
    out = {}
    for t in templates:
        w = weights.get(t.id, t.weight)
        rate = passed[t.id] / total[t.id] if total[t.id] else 1.0
        out[t.id] = round(w * (1 - learning_rate * (1 - rate)), 6)
    return out


def _llm_client(ctx: StepContext):
    """The client of the run's `llm` endpoint when synthesize needs it (generation or judge), else None."""
    cfg = ctx.config.synthesize
    if cfg.generation == "offline" and not cfg.judge:
        return None
    if not ctx.config.llm.base_url:
        raise ConfigError("synthesize.generation=llm and synthesize.judge call the llm endpoint: set llm.base_url "
                          "(and llm.model)")
    from repotune.llm.client import make_client

    return make_client(ctx.config.llm, ctx.store)


def apply_judge(client, pairs: list[dict[str, Any]], min_score: int, accounting: Accounting) -> Counter:
    """The LLM judge's score joins each pair's quality checks; unscored or low pairs fail quality (counted)."""
    from repotune.synthesize.llm import judge

    outcome: Counter = Counter()
    for pair, verdict in zip(pairs, judge(client, pairs, accounting), strict=True):
        checks = json.loads(pair["quality"])
        checks["judge_score"] = verdict["score"] if verdict else None
        checks["judge_reason"] = verdict["reason"] if verdict else "the judge could not score this pair"
        pair["quality"] = json.dumps(checks, sort_keys=True)
        if verdict is None:
            outcome["failed"] += 1
        elif verdict["score"] < min_score:
            outcome["below_min"] += 1
        else:
            outcome["passed"] += 1
        pair["quality_ok"] = bool(pair["quality_ok"] and verdict and verdict["score"] >= min_score)
    return outcome


def run_step(ctx: StepContext) -> StepResult:
    cfg = ctx.config.synthesize
    units = read_table(ctx.store, ctx.input_key("analyze", "units.parquet")).to_pylist()
    edges = read_table(ctx.store, ctx.input_key("analyze", "graph.parquet")).to_pylist()
    labels = {r["unit_id"]: r for r in read_table(ctx.store, ctx.input_key("label", "labels.parquet")).to_pylist()}
    if not any(u["kind"] in ("function", "method", "class") for u in units):
        raise StepError("synthesize: the repository has no functions, methods or classes to build pairs from")
    templates = load_templates(cfg.templates_dir)
    weights = get_json(ctx.store, WEIGHTS_KEY) if ctx.store.exists(WEIGHTS_KEY) else {}
    client, accounting = _llm_client(ctx), Accounting()
    respond = None
    if cfg.generation == "llm":
        from repotune.synthesize.llm import generate

        def respond(needed):
            return generate(client, needed, accounting)
    pairs, skipped = synthesize(units, labels, edges, templates, weights, seed=cfg.seed,
                                pairs_per_unit=cfg.pairs_per_unit, max_code_chars=cfg.max_code_chars,
                                near_duplicate_threshold=cfg.near_duplicate_threshold,
                                prompt_code_chars=cfg.prompt_code_chars, respond=respond)
    if not pairs:
        raise StepError(f"synthesize produced no pairs (skipped: {dict(skipped)})")
    judged = apply_judge(client, pairs, cfg.judge_min_score, accounting) if cfg.judge else Counter()
    if client is not None and client.consecutive_failures >= ctx.config.llm.circuit_breaker:
        raise StepError(f"synthesize: the endpoint {ctx.config.llm.base_url} failed "
                        f"{client.consecutive_failures} times in a row; answers so far are cached, rerun when it "
                        "is back")
    new_weights = updated_weights(templates, weights, pairs, cfg.learning_rate)
    write_table(ctx.store, ctx.key("synthetic.parquet"), pairs)
    put_json(ctx.store, ctx.key("template_weights.json"), new_weights)
    put_json(ctx.store, WEIGHTS_KEY, new_weights)
    by_task = Counter(p["task"] for p in pairs)
    made = Counter(p["template_id"] for p in pairs)
    quality = {t.id: round(sum(p["quality_ok"] for p in pairs if p["template_id"] == t.id) / made[t.id], 3)
               if made[t.id] else None for t in templates}  # None: the template made no pair this run
    stats = {"pairs": len(pairs), "by_task": dict(by_task), "quality_ok": sum(p["quality_ok"] for p in pairs),
             "skipped": dict(skipped), "pass_rate_by_template": quality, "weights_before": weights,
             "weights_after": new_weights, "generation": cfg.generation, "judge": cfg.judge,
             "judge_outcome": dict(judged),
             "llm": accounting.summary(), "by_source": dict(Counter(p["source"] for p in pairs)),
             "generated": sum(p["generated"] for p in pairs)}
    put_json(ctx.store, ctx.key("synthesize.json"), stats)
    return StepResult(
        outputs={"synthetic": ctx.key("synthetic.parquet"), "weights": ctx.key("template_weights.json"),
                 "stats": ctx.key("synthesize.json")},
        counts={"pairs": len(pairs), "quality_ok": stats["quality_ok"], **{f"task.{k}": v for k, v in by_task.items()},
                **{f"skipped.{k}": v for k, v in skipped.items()},
                **{f"llm.{k}": v for k, v in accounting.counts.items()},
                **{f"judge.{k}": v for k, v in judged.items()}},
        summary=f"  {len(pairs)} pairs ({', '.join(f'{k} {v}' for k, v in by_task.items())}); "
                f"{stats['quality_ok']} pass quality; skipped {dict(skipped) or 'none'}")
