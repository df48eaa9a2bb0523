"""The evaluate step: base vs adapter on the whole test split — the same prompt for both, batched greedy
generation — scored per task with n and bootstrap intervals. code2doc (smoothed BLEU-4 against the docstring's
first paragraph, as CodeXGLUE) is the headline; the gate applies to its paired difference. Beside both models,
a retrieval baseline with no model: each answer copied from the most similar train or val example."""

from __future__ import annotations

import json
import tempfile
from typing import Any

from repotune.core.errors import GateFailed, StepError
from repotune.evaluate.generation import generate_answers
from repotune.evaluate.report import METRIC, report_markdown
from repotune.evaluate.retrieval import RETRIEVAL_METHOD, retrieval_answers
from repotune.evaluate.scoring import (HEADLINE_TASK, gate, reference, score_by_kind, score_subset, score_tasks,
                                       weakest_answers)
from repotune.core.ray_setup import RayConfig, ensure_ray
from repotune.core.step import StepContext, StepResult
from repotune.core.store import get_dir, put_json
from repotune.contracts import read_jsonl



def answer_both(examples: list[dict[str, Any]], base_model: str, store_config: Any, adapter_key: str,
                max_new_tokens: int, batch_size: int = 8, num_beams: int = 1,
                show_progress: bool = False) -> tuple[list[str], list[str]]:
    """(base answers, adapter answers): one model load, the adapter switched off for the base's answers."""
    import torch
    from peft import PeftModel

    from repotune.core.progress import progress
    from repotune.core.store import open_store
    from repotune.models import load_base_model

    store = open_store(store_config)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base, tokenizer = load_base_model(base_model, store, device=device)
    with tempfile.TemporaryDirectory() as adapter_dir:
        get_dir(store, adapter_key, adapter_dir)
        model = PeftModel.from_pretrained(base, adapter_dir).eval()
        if not show_progress:
            tuned = generate_answers(model, tokenizer, examples, max_new_tokens, batch_size, num_beams=num_beams)
            with model.disable_adapter():
                plain = generate_answers(model, tokenizer, examples, max_new_tokens, batch_size, num_beams=num_beams)
            return plain, tuned
        with progress("evaluate", 2 * len(examples), "answers") as advance:
            tuned = generate_answers(model, tokenizer, examples, max_new_tokens, batch_size, on_batch=advance,
                                     num_beams=num_beams)
            with model.disable_adapter():
                plain = generate_answers(model, tokenizer, examples, max_new_tokens, batch_size, on_batch=advance,
                                     num_beams=num_beams)
    return plain, tuned


def answer_on_ray(examples: list[dict[str, Any]], args: tuple, cfg: Any,
                  ray_config: RayConfig) -> tuple[list[str], list[str]]:
    """The examples dealt round-robin to num_workers Ray tasks; answers put back in the examples' order."""
    import ray

    ensure_ray(ray_config)
    task = ray.remote(answer_both).options(num_cpus=cfg.cpus_per_worker, num_gpus=cfg.gpus_per_worker)
    n = min(cfg.num_workers, len(examples))
    shards = ray.get([task.remote(examples[i::n], *args) for i in range(n)])
    plain, tuned = [""] * len(examples), [""] * len(examples)
    for i, (shard_plain, shard_tuned) in enumerate(shards):
        plain[i::n], tuned[i::n] = shard_plain, shard_tuned
    return plain, tuned


def seen_references(examples: list[dict[str, Any]], training: list[list[dict[str, Any]]]) -> list[bool]:
    """Per test example, whether its reference is also the answer of a train or val example of the same task
    (whitespace and case aside). Split by file, a repository still repeats itself: the same docstring on a sync
    and an async method, on an override. A model can score those by recall, so they are reported apart."""
    def key(ex: dict[str, Any]) -> tuple[str, str]:
        return ex["task"], " ".join(reference(ex).lower().split())

    known = {key(ex) for split in training for ex in split}
    return [key(ex) in known for ex in examples]


def run_step(ctx: StepContext) -> StepResult:
    cfg = ctx.config.evaluate
    split = read_jsonl(ctx.store.get_bytes(ctx.input_key("dataset", "test.jsonl")))
    if cfg.tasks:
        split = [ex for ex in split if ex["task"] in cfg.tasks]
    examples = split[: cfg.max_examples] if cfg.max_examples else split
    if not examples:
        raise StepError("evaluate: the test split is empty" + (f" for tasks {cfg.tasks}" if cfg.tasks else ""))
    args = (ctx.config.train.base_model, ctx.config.store, ctx.input_key("train", "adapter"), cfg.max_new_tokens,
            cfg.batch_size, cfg.num_beams)
    if cfg.num_workers > 1:
        plain, tuned = answer_on_ray(examples, args, cfg, ctx.config.ray)
    else:
        plain, tuned = answer_both(examples, *args, show_progress=True)
    training = [read_jsonl(ctx.store.get_bytes(ctx.input_key("dataset", f"{s}.jsonl"))) for s in ("train", "val")]
    copied, copied_from = retrieval_answers(examples, [ex for rows in training for ex in rows])
    answers = {"base": plain, "adapter": tuned, "retrieval": copied}
    tasks = score_tasks(examples, answers, resamples=cfg.bootstrap_resamples, seed=cfg.seed)
    seen = seen_references(examples, training)
    fresh = [i for i, was_seen in enumerate(seen) if not was_seen]
    unseen = score_subset(examples, answers, fresh, resamples=cfg.bootstrap_resamples,
                          seed=cfg.seed) if fresh else {}
    by_kind = score_by_kind(examples, answers, resamples=cfg.bootstrap_resamples, seed=cfg.seed)
    for task, entry in tasks.items():
        entry["seen_references"] = sum(s for ex, s in zip(examples, seen, strict=True) if ex["task"] == task)
    headline = tasks.get(HEADLINE_TASK)
    passed, verdict = gate(headline, cfg.min_improvement, cfg.gate_against)
    counts = {"examples": len(examples), "test_split": len(split)}
    scores = {m: headline[m]["bleu4"] if headline else None for m in answers}
    improvement = headline["difference"]["mean"] if headline else None
    report = {"headline": {"task": HEADLINE_TASK, "metric": METRIC, **(headline or {"n": 0})},
              "bleu4": scores, "improvement": improvement,
              "versus_retrieval": headline["versus_retrieval"]["mean"] if headline else None,
              "min_improvement": cfg.min_improvement, "gate_against": cfg.gate_against, "passed": passed,
              "gate": verdict, "n": len(examples), "test_split": len(split), "tasks": tasks, "unseen": unseen,
              "headline_by_kind": by_kind,
              "answer_form": {m: {t: v[m]["in_form"] for t, v in tasks.items()} for m in ("base", "adapter")},
              "retrieval": {"method": RETRIEVAL_METHOD, "pool": "train + val", "pool_size": sum(map(len, training)),
                            "unanswered": copied_from.count(None)},
              "bootstrap": {"resamples": cfg.bootstrap_resamples, "seed": cfg.seed, "interval": "percentile 95%"},
              "generation": {"max_new_tokens": cfg.max_new_tokens, "batch_size": cfg.batch_size,
                             "num_beams": cfg.num_beams, "greedy": cfg.num_beams == 1,
                             "prompt": "the same chat messages for base and adapter"},
              "weakest": weakest_answers(examples, answers),
              "samples": [{"task": ex["task"], "reference": reference(ex)[:300], "base": b[:300], "adapter": a[:300],
                           "retrieval": r[:300]}
                          for ex, b, a, r in list(zip(examples, plain, tuned, copied, strict=True))[:8]]}
    put_json(ctx.store, ctx.key("eval.json"), report)
    ctx.store.put_bytes(ctx.key("eval.md"), report_markdown(tasks, verdict, counts, unseen, by_kind).encode())
    ctx.store.put_bytes(ctx.key("answers.jsonl"), "".join(
        json.dumps({"task": ex["task"], "unit_id": ex.get("unit_id"), "unit_kind": ex.get("unit_kind"),
                    "path": ex["path"], "reference": reference(ex), "seen_reference": was_seen, "base": b,
                    "adapter": a, "retrieval": r, "retrieved_from": source}) + "\n"
        for ex, was_seen, b, a, r, source in zip(examples, seen, plain, tuned, copied, copied_from,
                                                 strict=True)).encode())
    if not passed:
        raise GateFailed(f"evaluation {verdict}; not deploying (see {ctx.key('eval.json')})")
    metrics = {"headline_n": headline["n"]} if headline else {}
    if headline:
        metrics.update(bleu4_base=scores["base"], bleu4_adapter=scores["adapter"],
                       bleu4_retrieval=scores["retrieval"], improvement=improvement,
                       improvement_ci95_low=headline["difference"]["ci95"][0],
                       versus_retrieval=headline["versus_retrieval"]["mean"])
    return StepResult(outputs={"eval": ctx.key("eval.json"), "report": ctx.key("eval.md"),
                               "answers": ctx.key("answers.jsonl")},
                      counts=counts, metrics=metrics,
                      summary=f"  {verdict}" + (f" (base {scores['base']:.2f} → adapter {scores['adapter']:.2f}; "
                                               f"retrieval {scores['retrieval']:.2f})" if headline else ""))
