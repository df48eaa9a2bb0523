"""eval.md: the verdict, one row per task (and per unseen-reference subset and unit kind) with both models, the
retrieval baseline and the paired differences, each with its n and 95% interval."""

from __future__ import annotations

from typing import Any

from repotune.evaluate.retrieval import RETRIEVAL_METHOD
from repotune.evaluate.scoring import HEADLINE_TASK

METRIC = (f"smoothed BLEU-4 (CodeXGLUE code-to-text) x100 of {HEADLINE_TASK} answers against the docstring's "
          "first paragraph; mean of sentence scores, 95% seeded bootstrap intervals")
WEAKEST_LINE = (f"\nThe {HEADLINE_TASK} answers the adapter scores lowest are in `eval.json` under `weakest`, with "
                "their paths and every model's answers.\n")
_HEADER = ("| {first} | n | BLEU-4 base [95% CI] | BLEU-4 adapter [95% CI] | adapter − base [95% CI] | "
           "BLEU-4 retrieval [95% CI] | adapter − retrieval [95% CI] | in the asked form (base / adapter) |\n"
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")


def _cell(figure: dict[str, Any] | None, key: str, signed: bool = False) -> str:
    if not figure:
        return "–"
    low, high = figure["ci95"]
    return f"{figure[key]:{'+' if signed else ''}.2f} [{low:.2f}, {high:.2f}]"


def _row(name: str, t: dict[str, Any]) -> str:
    return (f"| {name} | {t['n']} | {_cell(t['base'], 'bleu4')} | {_cell(t['adapter'], 'bleu4')} | "
            f"{_cell(t.get('difference'), 'mean', True)} | {_cell(t.get('retrieval'), 'bleu4')} | "
            f"{_cell(t.get('versus_retrieval'), 'mean', True)} | "
            f"{t['base']['in_form']:.0%} / {t['adapter']['in_form']:.0%} |")


def retrieval_line(headline: dict[str, Any] | None) -> str:
    """One sentence: does the adapter beat copying the nearest documented code's answer (a rule, no model)?"""
    versus = (headline or {}).get("versus_retrieval")
    if not versus:
        return ""
    low, high = versus["ci95"]
    verdict = ("beats it" if low > 0 else "falls short of it" if high < 0
               else "cannot be told apart from it at this n")
    return (f"Against a rule with no model — each answer copied from the most similar train or val example — the "
            f"adapter {verdict}: {HEADLINE_TASK} BLEU-4 retrieval {headline['retrieval']['bleu4']:.2f}, adapter − "
            f"retrieval {versus['mean']:+.2f}, 95% interval [{low:+.2f}, {high:+.2f}], n={headline['n']}.")


def report_markdown(tasks: dict[str, Any], verdict: str, counts: dict[str, int],
                    unseen: dict[str, Any] | None = None, by_kind: dict[str, Any] | None = None) -> str:
    seen = seen_counts(tasks)
    rows = [_row(f"{task}{' (headline)' if task == HEADLINE_TASK else ''}", t) for task, t in tasks.items()]
    # a task none of whose test references the training data has would get a second row equal to its first
    rows += [_row(f"{task}, unseen references", t) for task, t in (unseen or {}).items() if seen[task]]
    kinds = ""
    if by_kind:
        kinds = (f"\n{HEADLINE_TASK} by unit kind (a `file` is a module; `answers.jsonl` has each answer with its "
                 f"unit kind and path):\n\n" + _HEADER.format(first="unit kind") +
                 "\n".join(_row(kind, t) for kind, t in by_kind.items()) + "\n")
    versus = retrieval_line(tasks.get(HEADLINE_TASK))
    return (f"# Evaluation\n\n{verdict}\n\n" + (f"{versus}\n\n" if versus else "") +
            f"Headline: {METRIC}. Every task is scored on its own; none is mixed into the headline.\n\n" +
            _HEADER.format(first="task") + "\n".join(rows) +
            f"\n\nTest split: {counts['examples']} examples (all of it unless evaluate.max_examples caps it: "
            f"{counts['test_split']} in the split). Unseen references: test examples whose reference is no train "
            f"or val example's answer ({', '.join(f'{k}: {v}' for k, v in seen.items())} seen; a task "
            f"with none seen has no second row). "
            f"Retrieval answers: {RETRIEVAL_METHOD}; `answers.jsonl` names where each was copied from.\n"
            + kinds + (WEAKEST_LINE if HEADLINE_TASK in tasks else ""))


def seen_counts(tasks: dict[str, Any]) -> dict[str, int]:
    return {task: t.get("seen_references", 0) for task, t in tasks.items()}
