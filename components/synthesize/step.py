"""The synthesize step: template queries over sampled domain tokens → instruction/response pairs with quality
labels; template weights move toward their pass rates for the next run."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from typing import Any

from repotune.errors import StepError
from repotune.steps import StepContext, StepResult
from repotune.store import get_json, put_json, read_table, write_table
from repotune.synthesize.quality import NearDuplicates, label_quality
from repotune.synthesize.templates import TemplateQuery, load_templates
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


def synthesize(units: list[dict[str, Any]], labels: dict[str, dict[str, Any]], edges: list[dict[str, Any]],
               templates: list[TemplateQuery], weights: dict[str, float], *, seed: int, pairs_per_unit: int,
               max_code_chars: int, near_duplicate_threshold: float) -> tuple[list[dict[str, Any]], Counter]:
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
    for unit in sorted(units, key=lambda u: u["unit_id"]):
        if unit["duplicate_of"]:
            skipped["duplicate_unit"] += 1
            continue
        if len(unit["code"] or "") > max_code_chars:
            skipped["code_too_long"] += 1
            continue
        label = labels.get(unit["unit_id"])
        if label is None or label["status"] != "ok":
            skipped["no_label"] += 1
            continue
        applicable = [t for t in templates if unit["kind"] in t.applies_to and weights.get(t.id, t.weight) > 0]
        rng = random.Random(f"{seed}:{unit['unit_id']}")
        chosen: list[TemplateQuery] = []
        while applicable and len(chosen) < pairs_per_unit:
            pick = rng.choices(applicable, weights=[weights.get(t.id, t.weight) for t in applicable], k=1)[0]
            chosen.append(pick)
            applicable.remove(pick)
        for template in chosen:
            values: dict[str, Any] = {"unit": unit, "label": label}
            if template.task == "code2doc" and not unit["docstring"]:
                skipped["no_docstring"] += 1
                continue
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
            response = template.render(template.response, **values)
            pair = {"task": template.task, "template_id": template.id, "unit_id": unit["unit_id"],
                    "instruction": instruction, "response": response,
                    "sampled_tokens": json.dumps({k: values[k] for k in ("datum", "token", "token_kind") if k in values}),
                    "condition": condition, "target": target, "source": label["source"] if label["source"] != "offline" else "offline"}
            quality = label_quality(pair, unit["language"], known, dups)
            pair["pair_id"] = hashlib.sha256(f"{template.id}:{unit['unit_id']}".encode()).hexdigest()[:20]
            pair["quality"] = json.dumps(quality["checks"], sort_keys=True)
            pair["quality_ok"] = quality["ok"]
            pairs.append(pair)
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


def run_step(ctx: StepContext) -> StepResult:
    cfg = ctx.config.synthesize
    units = read_table(ctx.store, ctx.input_key("analyze", "units.parquet")).to_pylist()
    edges = read_table(ctx.store, ctx.input_key("analyze", "graph.parquet")).to_pylist()
    labels = {r["unit_id"]: r for r in read_table(ctx.store, ctx.input_key("label", "labels.parquet")).to_pylist()}
    if not any(u["kind"] in ("function", "method", "class") for u in units):
        raise StepError("synthesize: the repository has no functions, methods or classes to build pairs from")
    templates = load_templates(cfg.templates_dir)
    weights = get_json(ctx.store, WEIGHTS_KEY) if ctx.store.exists(WEIGHTS_KEY) else {}
    pairs, skipped = synthesize(units, labels, edges, templates, weights, seed=cfg.seed,
                                pairs_per_unit=cfg.pairs_per_unit, max_code_chars=cfg.max_code_chars,
                                near_duplicate_threshold=cfg.near_duplicate_threshold)
    if not pairs:
        raise StepError(f"synthesize produced no pairs (skipped: {dict(skipped)})")
    new_weights = updated_weights(templates, weights, pairs, cfg.learning_rate)
    write_table(ctx.store, ctx.key("synthetic.parquet"), pairs)
    put_json(ctx.store, ctx.key("template_weights.json"), new_weights)
    put_json(ctx.store, WEIGHTS_KEY, new_weights)
    by_task = Counter(p["task"] for p in pairs)
    quality = {t.id: round(sum(p["quality_ok"] for p in pairs if p["template_id"] == t.id) /
                           max(sum(p["template_id"] == t.id for p in pairs), 1), 3) for t in templates}
    stats = {"pairs": len(pairs), "by_task": dict(by_task), "quality_ok": sum(p["quality_ok"] for p in pairs),
             "skipped": dict(skipped), "pass_rate_by_template": quality, "weights_before": weights,
             "weights_after": new_weights}
    put_json(ctx.store, ctx.key("synthesize.json"), stats)
    return StepResult(
        outputs={"synthetic": ctx.key("synthetic.parquet"), "weights": ctx.key("template_weights.json"),
                 "stats": ctx.key("synthesize.json")},
        counts={"pairs": len(pairs), "quality_ok": stats["quality_ok"], **{f"task.{k}": v for k, v in by_task.items()},
                **{f"skipped.{k}": v for k, v in skipped.items()}},
        summary=f"  {len(pairs)} pairs ({', '.join(f'{k} {v}' for k, v in by_task.items())}); "
                f"{stats['quality_ok']} pass quality; skipped {dict(skipped) or 'none'}")
