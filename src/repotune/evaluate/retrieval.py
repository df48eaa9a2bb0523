"""The nearest-neighbour baseline: each test example answered with the reference of the most similar train or val
example of the same task, with no model at all.

A repository repeats itself — a sync and an async twin, `trange` in every front-end, exceptions "Raised when …" —
so copying the docstring of the closest documented code already scores BLEU points. Code summarisation papers
found such retrieval baselines rival neural models (Gros et al., ASE 2020). An adapter that does not beat it has
shown recall of the repository, not learning; evaluate reports adapter − retrieval beside adapter − base.

Similarity is TF-IDF cosine over the prompt's identifier sub-tokens (`fetchPage`, `fetch_page` → fetch, page),
computed through an inverted index, so the cost follows the postings the queries touch, not test × pool.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Any

from repotune.evaluate.scoring import reference

RETRIEVAL_METHOD = ("the reference of the train or val example of the same task whose user prompt is most similar: "
                    "TF-IDF cosine over identifier sub-tokens (ties: the first in split order)")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBTOKEN = re.compile(r"_+|(?<=[a-z0-9])(?=[A-Z])")


def subtokens(text: str) -> list[str]:
    """Lower-cased identifier pieces split at underscores and camelCase humps."""
    return [piece.lower() for word in _IDENTIFIER.findall(text) for piece in _SUBTOKEN.split(word) if piece]


def _prompt(example: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in example["messages"] if m["role"] == "user")


class NearestNeighbours:
    """TF-IDF vectors (sublinear term frequency, smoothed idf, unit length) of a pool of examples' prompts."""

    def __init__(self, pool: list[dict[str, Any]]) -> None:
        self.pool = pool
        counts = [Counter(subtokens(_prompt(ex))) for ex in pool]
        frequency = Counter(term for c in counts for term in c)
        self._idf = {term: math.log((len(pool) + 1) / (n + 1)) + 1 for term, n in frequency.items()}
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for row, c in enumerate(counts):
            for term, weight in self._vector(c).items():
                self._postings[term].append((row, weight))

    def _vector(self, counts: Counter[str]) -> dict[str, float]:
        weights = {t: (1 + math.log(n)) * self._idf[t] for t, n in counts.items() if t in self._idf}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {t: w / norm for t, w in weights.items()}

    def nearest(self, example: dict[str, Any]) -> int | None:
        """Row of the pool example most similar to `example` among those of its task (the first on ties), or
        None when the pool has none of that task or none shares a sub-token."""
        scores: dict[int, float] = defaultdict(float)
        for term, weight in self._vector(Counter(subtokens(_prompt(example)))).items():
            for row, pool_weight in self._postings[term]:
                scores[row] += weight * pool_weight
        same_task = [(score, -row) for row, score in scores.items() if self.pool[row]["task"] == example["task"]]
        return -max(same_task)[1] if same_task else None


def retrieval_answers(examples: list[dict[str, Any]],
                      pool: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any] | None]]:
    """(answers, sources): per example, the reference of its nearest pool example of the same task ("" when
    there is none) and where that answer was copied from (path and unit id; None when nothing was copied)."""
    index = NearestNeighbours(pool)
    answers: list[str] = []
    sources: list[dict[str, Any] | None] = []
    for example in examples:
        row = index.nearest(example)
        answers.append(reference(pool[row]) if row is not None else "")
        sources.append({"path": pool[row].get("path"), "unit_id": pool[row].get("unit_id")}
                       if row is not None else None)
    return answers, sources
