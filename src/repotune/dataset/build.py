"""The dataset: chat examples split by file (no unit of a test-split file in train), exact and near duplicates
removed across splits, train decontaminated against test, lengths filtered; every drop counted."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from datasketch import MinHashLSH

from repotune.similarity import minhash

SPLITS = ("train", "val", "test")
HEADLINE_TASK = "code2doc"  # the task evaluate's headline and gate are measured on

# One line of train/val/test.jsonl (docs/contracts.md); tests validate every line against it.
EXAMPLE_SCHEMA = {
    "type": "object",
    "required": ["messages", "task", "unit_id", "unit_kind", "path", "repository", "language", "template_id",
                 "source"],
    "additionalProperties": False,
    "properties": {
        "messages": {"type": "array", "minItems": 2, "items": {
            "type": "object", "required": ["role", "content"], "additionalProperties": False,
            "properties": {"role": {"enum": ["system", "user", "assistant"]}, "content": {"type": "string"}}}},
        "task": {"enum": ["code2doc", "doc2code", "code2tags", "repo_qa"]},
        "unit_id": {"type": "string"}, "unit_kind": {"type": "string"}, "path": {"type": "string"},
        "repository": {"type": "string"},
        "language": {"type": ["string", "null"]}, "template_id": {"type": ["string", "null"]},
        "source": {"enum": ["offline", "llm", "local"]},
    },
}


def _grown(ranked: list[tuple[str, str]], start: int, count: int, want: int, most: int,
           headline_per_file: dict[tuple[str, str], int]) -> int:
    """How many files from ranked[start] a split takes: count, or more until it holds `want` headline examples
    (never more than `most`)."""
    held = sum(headline_per_file.get(f, 0) for f in ranked[start:start + count])
    while held < want and count < most:
        held += headline_per_file.get(ranked[start + count], 0)
        count += 1
    return count


def assign_splits(files: set[tuple[str, str]], cfg: Any,
                  headline_per_file: dict[tuple[str, str], int] | None = None) -> dict[tuple[str, str], str]:
    """Files ranked by a hash of (seed, repository, path): test takes files in that order until it holds
    test_fraction of the files and, when the headline task's examples per file are given, at least
    min(test_min_share of them, test_min_headline) — so a repository with a few large files still gets a test
    split one can measure; val takes the next files until it holds val_fraction of the files and
    min(val_fraction of the headline examples, val_min_headline) — the adapter train keeps is chosen on its loss,
    which one file's examples would decide; train keeps the rest. Deterministic, stable as files are added, and
    each split asked for gets at least one file when there are three or more."""
    ranked = sorted(files, key=lambda f: hashlib.sha256(f"{cfg.seed}\0{f[0]}\0{f[1]}".encode()).hexdigest())
    n = len(ranked)
    n_test = max(1, round(n * cfg.test_fraction)) if cfg.test_fraction > 0 and n >= 3 else round(n * cfg.test_fraction)
    n_val = max(1, round(n * cfg.val_fraction)) if cfg.val_fraction > 0 and n >= 3 else round(n * cfg.val_fraction)
    if headline_per_file:
        total = sum(headline_per_file.values())
        if cfg.test_fraction > 0:
            want = min(math.ceil(cfg.test_min_share * total), cfg.test_min_headline)
            n_test = _grown(ranked, 0, n_test, want, n - n_val - 1, headline_per_file)  # train keeps a file
        if cfg.val_fraction > 0:
            want = min(math.ceil(cfg.val_fraction * total), cfg.val_min_headline)
            n_val = _grown(ranked, n_test, n_val, want, n - n_test - 1, headline_per_file)
    return {f: "test" if i < n_test else "val" if i < n_test + n_val else "train" for i, f in enumerate(ranked)}


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@dataclass
class Built:
    splits: dict[str, list[dict[str, Any]]]
    dropped: Counter = field(default_factory=Counter)
    length_source: str = "characters/4"


def build(pairs: list[dict[str, Any]], units: dict[str, dict[str, Any]], cfg: Any, count_tokens=None) -> Built:
    dropped: Counter = Counter()
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    files = {(units[p["unit_id"]]["repository"], units[p["unit_id"]]["path"]) for p in pairs if p["unit_id"] in units}
    headline: Counter = Counter((units[p["unit_id"]]["repository"], units[p["unit_id"]]["path"]) for p in pairs
                                if p["unit_id"] in units and p["task"] == HEADLINE_TASK
                                and (p["quality_ok"] or not cfg.only_quality_ok))
    split_by_file = assign_splits(files, cfg, headline)
    seen_exact: dict[str, str] = {}
    for pair in sorted(pairs, key=lambda p: p["pair_id"]):
        unit = units.get(pair["unit_id"])
        if unit is None:
            dropped["unknown_unit"] += 1
            continue
        if cfg.only_quality_ok and not pair["quality_ok"]:
            dropped["quality"] += 1
            continue
        if unit["is_test"] and not cfg.include_test_files:
            dropped["test_file"] += 1
            continue
        messages = [{"role": "system", "content": cfg.system_prompt},
                    {"role": "user", "content": pair["instruction"]},
                    {"role": "assistant", "content": pair["response"]}]
        text = pair["instruction"] + "\n" + pair["response"]
        length = count_tokens(text) if count_tokens else len(text) // 4
        if length > cfg.max_tokens:
            dropped["too_long"] += 1
            continue
        key = hashlib.sha256(_normalise(text).encode()).hexdigest()
        if key in seen_exact:
            dropped["exact_duplicate"] += 1
            continue
        seen_exact[key] = pair["pair_id"]
        split = split_by_file[(unit["repository"], unit["path"])]
        out[split].append({"messages": messages, "task": pair["task"], "unit_id": pair["unit_id"],
                           "unit_kind": unit["kind"], "path": unit["path"], "repository": unit["repository"],
                           "language": unit["language"], "template_id": pair["template_id"],
                           "source": pair["source"], "tokens": length, "content_hash": unit["content_hash"]})
    # Near duplicates and contamination: nothing in train or val may resemble a test example or test unit.
    lsh = MinHashLSH(threshold=0.8, num_perm=64)
    test_units = {ex["content_hash"] for ex in out["test"]}
    for i, ex in enumerate(out["test"]):
        lsh.insert(f"t{i}", minhash(_normalise(ex["messages"][1]["content"] + " " + ex["messages"][2]["content"])))
    for split in ("train", "val"):
        kept = []
        for ex in out[split]:
            if ex["content_hash"] in test_units:
                dropped["contaminated_with_test"] += 1
                continue
            if lsh.query(minhash(_normalise(ex["messages"][1]["content"] + " " + ex["messages"][2]["content"]))):
                dropped["near_duplicate_of_test"] += 1
                continue
            kept.append(ex)
        out[split] = kept
    return Built(out, dropped, "tokenizer" if count_tokens else "characters/4")
