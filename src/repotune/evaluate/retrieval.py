"""The nearest-neighbour baseline: each test example answered with the reference of the most similar train or val
example of the same task, with no model at all.

A repository repeats itself — a sync and an async twin, `trange` in every front-end, exceptions "Raised when …" —
so copying the docstring of the closest documented code already scores BLEU points. Code summarisation papers
found such retrieval baselines rival neural models (Gros et al., ASE 2020). An adapter that does not beat it has
shown recall of the repository, not learning; evaluate reports adapter − retrieval beside adapter − base.

Similarity is TF-IDF cosine over the prompt's identifier sub-tokens (`fetchPage`, `fetch_page` → fetch, page),
computed through an inverted index of numpy arrays.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Any

import numpy as np

from repotune.evaluate.scoring import reference

RETRIEVAL_METHOD = ("the reference of the train or val example of the same task whose user prompt is most similar: "
                    "TF-IDF cosine over identifier sub-tokens (ties: the first in split order)")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBTOKEN = re.compile(r"_+|(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=1 << 16)
def _pieces(word: str) -> tuple[str, ...]:
    return tuple(piece.lower() for piece in _SUBTOKEN.split(word) if piece)


def subtokens(text: str) -> list[str]:
    """Lower-cased identifier pieces split at underscores and camelCase humps (a word is split once: code
    repeats its names)."""
    return [piece for word in _IDENTIFIER.findall(text) for piece in _pieces(word)]


def _prompt(example: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in example["messages"] if m["role"] == "user")


class NearestNeighbours:
    """TF-IDF vectors (sublinear term frequency, smoothed idf, unit length) of a pool of examples' prompts, kept
    as an inverted index of numpy arrays (postings sorted by term): a query adds up its terms' postings with one
    bincount, so the words every prompt shares cost a vector operation, not a Python loop over the pool."""

    def __init__(self, pool: list[dict[str, Any]]) -> None:
        self.pool = pool
        self._vocabulary: dict[str, int] = {}
        rows, terms, counts = [], [], []
        for row, example in enumerate(pool):
            for term, count in Counter(subtokens(_prompt(example))).items():
                rows.append(row)
                terms.append(self._vocabulary.setdefault(term, len(self._vocabulary)))
                counts.append(count)
        row_of, term_of = np.asarray(rows, dtype=np.int64), np.asarray(terms, dtype=np.int64)
        frequency = np.bincount(term_of, minlength=len(self._vocabulary))
        self._idf = np.log((len(pool) + 1) / (frequency + 1)) + 1
        weight = (1 + np.log(np.asarray(counts, dtype=float))) * self._idf[term_of]
        weight /= np.sqrt(np.bincount(row_of, weight * weight, minlength=len(pool)))[row_of]
        order = np.argsort(term_of, kind="stable")
        self._rows, self._weights = row_of[order], weight[order]
        self._starts = np.concatenate([[0], np.cumsum(frequency)])
        tasks = np.asarray([example["task"] for example in pool])
        self._task_rows = {task: tasks == task for task in set(tasks.tolist())}

    def nearest(self, example: dict[str, Any]) -> int | None:
        """Row of the pool example most similar to `example` among those of its task (the first on ties), or
        None when the pool has none of that task or none shares a sub-token."""
        same_task = self._task_rows.get(example["task"])
        counts = Counter(t for t in subtokens(_prompt(example)) if t in self._vocabulary)
        if same_task is None or not counts:
            return None
        ids = np.asarray([self._vocabulary[t] for t in counts])
        query = (1 + np.log(np.asarray(list(counts.values()), dtype=float))) * self._idf[ids]
        query /= np.sqrt(query @ query)
        spans = [slice(self._starts[i], self._starts[i + 1]) for i in ids]
        rows = np.concatenate([self._rows[span] for span in spans])
        weights = np.concatenate([self._weights[span] * w for span, w in zip(spans, query, strict=True)])
        scores = np.where(same_task, np.bincount(rows, weights, minlength=len(self.pool)), 0.0)
        best = int(np.argmax(scores))  # the first maximum: ties go to split order
        return best if scores[best] > 0 else None


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
