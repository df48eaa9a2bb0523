"""Scores of one evaluation: per task and per model, every figure with its n and a seeded bootstrap 95% interval,
and the paired difference adapter − base with its own interval (the gate decides on its lower end).

code2doc is the headline: smoothed BLEU-4 (CodeXGLUE) against the docstring's first paragraph. Other tasks are
reported beside it, never mixed into it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from repotune.core.docstrings import docstring_summary
from repotune.evaluate.bleu import sentence_bleu

HEADLINE_TASK = "code2doc"
TEXT_TASKS = ("code2doc", "code2tags", "repo_qa")
BASELINES = {"base": "difference", "retrieval": "versus_retrieval"}  # model -> key of adapter − that model
_CODE_START = re.compile(r"^\s*(def|class|async|import|from|return|function|const|let|var|public|private|"
                         r"protected|static|func|package|fn|impl|pub|struct|#include|@\w+|\{|\}|if\s*\(|for\s*\()\b")


def reference(example: dict[str, Any]) -> str:
    """The answer an example is scored against; code2doc's is the docstring summary, as in CodeXGLUE."""
    answer = example["messages"][-1]["content"]
    return docstring_summary(answer) if example["task"] == HEADLINE_TASK else answer


def bleu4(reference_text: str, answer: str) -> float:
    """One answer's smoothed BLEU-4 x100 against its reference: the per-example score every figure averages."""
    return 100.0 * sentence_bleu([reference_text], answer)


def in_form(task: str, answer: str, language: str | None) -> bool:
    """Whether an answer has the form its instruction asks for (not whether it is right).

    code2doc: one or two sentences of prose (2–60 words, at most 3 lines, no code fence, not opening with code);
    code2tags: one line of 1–10 comma-separated tags of at most 4 words; repo_qa: prose of 2–150 words;
    doc2code: code that parses in the unit's language (any non-empty answer where no grammar is known)."""
    text = answer.strip()
    words = text.split()
    if task == "code2doc":
        return (2 <= len(words) <= 60 and len(text.splitlines()) <= 3 and "```" not in text
                and not _CODE_START.match(text))
    if task == "code2tags":
        tags = [t.strip() for t in text.split(",")]
        return "\n" not in text and 1 <= len(tags) <= 10 and all(t and len(t.split()) <= 4 for t in tags)
    if task == "repo_qa":
        return 2 <= len(words) <= 150 and "```" not in text
    from repotune.parsing.extract import parses

    parsed = parses(text, language) if text else False
    return bool(text) and parsed is not False


def bootstrap_interval(values: list[float], resamples: int, seed: int) -> list[float]:
    """Percentile 95% interval of the mean of values over `resamples` seeded resamples (with replacement)."""
    import numpy as np

    if not values:
        return [float("nan"), float("nan")]
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 256):  # bounded memory for large test splits
        stop = min(start + 256, resamples)
        means[start:stop] = data[rng.integers(0, len(data), size=(stop - start, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return [round(float(low), 3), round(float(high), 3)]


def _summary(values: list[float], resamples: int, seed: int) -> dict[str, Any]:
    return {"mean": round(sum(values) / len(values), 3) if values else None,
            "ci95": bootstrap_interval(values, resamples, seed)}


def score_tasks(examples: list[dict[str, Any]], answers: dict[str, list[str]], *, resamples: int,
                seed: int) -> dict[str, Any]:
    """{task: {"n", "metric", <model>: {score, ci95, in_form}, "difference": {mean, ci95}}} for models
    {"base", "adapter"}, plus "retrieval" (nearest-neighbour copies) and "versus_retrieval" (adapter − retrieval)
    when answers has them. BLEU-4 is the mean of smoothed sentence scores x 100, so the corpus score and its
    bootstrap share one definition; code tasks add exact match and parse rate."""
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        by_task[ex["task"]].append(i)
    result: dict[str, Any] = {}
    for task, rows in sorted(by_task.items()):
        refs = [reference(examples[i]) for i in rows]
        entry: dict[str, Any] = {"n": len(rows), "metric": "smoothed BLEU-4 x100"}
        per_model: dict[str, list[float]] = {}
        for model, model_answers in answers.items():
            hyps = [model_answers[i] for i in rows]
            scores = [bleu4(r, h) for r, h in zip(refs, hyps, strict=True)]
            per_model[model] = scores
            summary = _summary(scores, resamples, seed)
            langs = [examples[i].get("language") for i in rows]
            figures: dict[str, Any] = {"bleu4": summary["mean"], "ci95": summary["ci95"],
                                       "in_form": round(sum(in_form(task, h, lang) for h, lang in
                                                            zip(hyps, langs, strict=True)) / len(rows), 3)}
            if task not in TEXT_TASKS:
                from repotune.parsing.extract import parses

                figures["exact_match"] = round(sum(h.strip() == r.strip() for h, r in zip(hyps, refs, strict=True))
                                               / len(rows), 3)
                parsed = [p for p in (parses(h, lang) for h, lang in zip(hyps, langs, strict=True)) if p is not None]
                figures["parse_rate"] = round(sum(parsed) / len(parsed), 3) if parsed else None
            entry[model] = figures
        for baseline, key in BASELINES.items():
            if {baseline, "adapter"} <= set(per_model):
                entry[key] = _summary([a - b for a, b in zip(per_model["adapter"], per_model[baseline],
                                                              strict=True)], resamples, seed)
        result[task] = entry
    return result


def score_subset(examples: list[dict[str, Any]], answers: dict[str, list[str]], rows: list[int], *,
                 resamples: int, seed: int) -> dict[str, Any]:
    """score_tasks on the examples at `rows` and their answers."""
    return score_tasks([examples[i] for i in rows], {m: [a[i] for i in rows] for m, a in answers.items()},
                       resamples=resamples, seed=seed)


def score_by_kind(examples: list[dict[str, Any]], answers: dict[str, list[str]], *, resamples: int,
                  seed: int) -> dict[str, Any]:
    """The headline task per unit kind (function, method, class, file = module): {kind: the entry score_tasks
    gives}, so a user sees where the adapter is weak. Examples without `unit_kind` (a dataset written before
    the field) are left out."""
    rows_by_kind: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        if ex["task"] == HEADLINE_TASK and ex.get("unit_kind"):
            rows_by_kind[ex["unit_kind"]].append(i)
    return {kind: score_subset(examples, answers, rows, resamples=resamples, seed=seed)[HEADLINE_TASK]
            for kind, rows in sorted(rows_by_kind.items())}


def weakest_answers(examples: list[dict[str, Any]], answers: dict[str, list[str]], count: int = 8,
                    chars: int = 300) -> list[dict[str, Any]]:
    """The `count` headline examples where the adapter scores lowest (ties in test order), each with where it
    comes from (path, and the unit id that names it in analyze's units.parquet) and both models' answers and
    scores (and the retrieval baseline's when given), so a user starts from the adapter's worst cases."""
    refs = {i: reference(ex) for i, ex in enumerate(examples) if ex["task"] == HEADLINE_TASK}
    scored = [(bleu4(ref, answers["adapter"][i]), i) for i, ref in refs.items()]
    worst = sorted(scored, key=lambda pair: pair[0])[:count]
    return [{"path": examples[i]["path"], "unit_id": examples[i].get("unit_id"),
             "unit_kind": examples[i].get("unit_kind"), "reference": refs[i][:chars],
             **{model: answers[model][i][:chars] for model in ("adapter", "base", "retrieval")
                if model in answers},
             "bleu4_adapter": round(score, 2),
             **{f"bleu4_{model}": round(bleu4(refs[i], answers[model][i]), 2) for model in ("base", "retrieval")
                if model in answers}}
            for score, i in worst]


def gate(headline: dict[str, Any] | None, min_improvement: float | None,
         against: str = "base") -> tuple[bool, str]:
    """(passed, one line saying why): the lower end of the interval of the headline's paired difference adapter −
    `against` (the base model, or the retrieval baseline) must clear min_improvement; None reports without
    gating."""
    if headline is None:
        if min_improvement is None:
            return True, f"no {HEADLINE_TASK} examples in the test split; no gate set"
        return False, (f"gate failed: the test split has no {HEADLINE_TASK} examples, so the adapter cannot be "
                       f"shown to clear evaluate.min_improvement {min_improvement}")
    low, high = headline[BASELINES[against]]["ci95"]
    diff = headline[BASELINES[against]]["mean"]
    where = (f"{HEADLINE_TASK} BLEU-4 adapter − {against} {diff:+.2f}, 95% interval [{low:+.2f}, {high:+.2f}], "
             f"n={headline['n']}")
    if min_improvement is None:
        return True, f"{where}; no gate set (evaluate.min_improvement)"
    if low > min_improvement:
        return True, f"gate passed: {where}; its lower end clears evaluate.min_improvement {min_improvement}"
    return False, f"gate failed: {where}; its lower end does not clear evaluate.min_improvement {min_improvement}"
