"""Synthesize through the shared LLM client of the llm section (the endpoint label uses, its cache, fault handling and accounting):
responses written by the model for templates marked `generate: true` and for docstrings a unit lacks, and an
optional LLM-judge score per pair."""

from __future__ import annotations

import hashlib
from collections import Counter
from functools import lru_cache
from typing import Any

import jinja2

from repotune.llm.client import LLMRequest, LLMResult, OpenAICompatibleClient

PROMPT_VERSION = "synth-v1"
CODE_CHARS = 6000
JUDGE_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["score", "reason"],
                "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5},
                               "reason": {"type": "string"}}}


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("repotune.synthesize", "prompts"), autoescape=False,
                              undefined=jinja2.Undefined, keep_trailing_newline=True)


def _key(kind: str, *parts: str) -> str:
    return f"{PROMPT_VERSION}:{kind}:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


def generation_request(pair: dict[str, Any], unit: dict[str, Any], label: dict[str, Any]) -> LLMRequest:
    code = (unit.get("code") or "")[:CODE_CHARS]
    prompt = _env().get_template("generate.j2").render(unit=unit, label=label, code=code,
                                                       instruction=pair["instruction"])
    return LLMRequest(key=_key("generate", prompt), messages=[{"role": "user", "content": prompt}])


def judge_request(pair: dict[str, Any]) -> LLMRequest:
    prompt = _env().get_template("judge.j2").render(instruction=pair["instruction"], response=pair["response"])
    return LLMRequest(key=_key("judge", prompt), messages=[{"role": "user", "content": prompt}],
                      schema=JUDGE_SCHEMA, max_tokens=120)


def clean_answer(text: str) -> str:
    """The answer without a code fence or quotes around it (models add them to docstrings and code)."""
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[-1].rsplit("```", 1)[0].strip()
    for quote in ('"""', "'''"):
        if text.startswith(quote) and text.endswith(quote) and len(text) > 6:
            text = text[3:-3].strip()
    return text


class Accounting:
    """Requests, cache hits, failures by reason and tokens of the synthesize step's LLM calls."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.failures: Counter = Counter()

    def add(self, purpose: str, results: list[LLMResult]) -> None:
        for r in results:
            self.counts[f"{purpose}_requests"] += 1
            self.counts[f"{purpose}_cached"] += r.cached
            self.counts["prompt_tokens"] += r.prompt_tokens
            self.counts["completion_tokens"] += r.completion_tokens
            if r.error:
                self.failures[f"{purpose}: {r.error.split(':')[0][:60]}"] += 1

    def summary(self) -> dict[str, Any]:
        return {**self.counts, "failures": dict(self.failures)}


def generate(client: OpenAICompatibleClient, needed: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]],
             accounting: Accounting) -> list[str | None]:
    """The model's answers for (pair, unit, label) triples, in order; None where the request failed."""
    results = client.run([generation_request(p, u, lbl) for p, u, lbl in needed])
    accounting.add("generate", results)
    return [clean_answer(r.text) if r.error is None and r.text and r.text.strip() else None for r in results]


def judge(client: OpenAICompatibleClient, pairs: list[dict[str, Any]], accounting: Accounting) -> list[dict | None]:
    """The judge's {score, reason} per pair, in order; None where the request failed or the answer is invalid."""
    results = client.run([judge_request(p) for p in pairs])
    accounting.add("judge", results)
    out: list[dict | None] = []
    for r in results:
        doc = r.parsed if r.error is None else None
        valid = isinstance(doc, dict) and isinstance(doc.get("score"), int) and 1 <= doc["score"] <= 5
        out.append({"score": doc["score"], "reason": str(doc.get("reason", ""))[:300]} if valid else None)
    return out
