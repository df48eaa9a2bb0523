"""Chat examples → token ids with labels on the assistant's tokens only, packed into fixed token budgets."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

IGNORE = -100


@dataclass
class Document:
    input_ids: list[int]
    labels: list[int]


def encode(example: dict[str, Any], tokenizer: Any, max_length: int) -> Document:
    """Tokens of the whole conversation; labels only on the final assistant message (the training target)."""
    messages = example["messages"]
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
    full_ids = tokenizer(full, add_special_tokens=False).input_ids[:max_length]
    labels = [IGNORE] * min(len(prompt_ids), len(full_ids)) + full_ids[len(prompt_ids):]
    return Document(full_ids, labels[: len(full_ids)])


@dataclass
class Row:
    input_ids: list[int]
    labels: list[int]
    position_ids: list[int]
    documents: int


def with_targets(docs: list[Document], budget: int) -> tuple[list[Document], int]:
    """(the documents that keep at least one labelled token once cut to the budget, how many did not).

    A row without assistant tokens has no loss to learn from (its mean over zero tokens is NaN), so such
    documents — a prompt longer than max_length, an empty answer — never make a batch; the count is reported."""
    kept = [d for d in docs if any(label != IGNORE for label in d.labels[1:budget])]
    return kept, len(docs) - len(kept)


def pack(docs: list[Document], budget: int) -> list[Row]:
    """Greedy first-fit packing; position_ids restart at each document so attention stays inside it, and the
    first token of each document carries no label (it is never predicted from the previous document)."""
    rows: list[Row] = []
    for doc in docs:
        ids, labels = doc.input_ids[:budget], doc.labels[:budget]
        labels = [IGNORE, *labels[1:]]
        for row in rows:
            if len(row.input_ids) + len(ids) <= budget:
                break
        else:
            row = Row([], [], [], 0)
            rows.append(row)
        row.input_ids += ids
        row.labels += labels
        row.position_ids += list(range(len(ids)))
        row.documents += 1
    return rows


def pad_rows(docs: list[Document]) -> list[Row]:
    """One document per row (the usual recipe), for comparison and for packing=false."""
    return [Row(d.input_ids, [IGNORE, *d.labels[1:]], list(range(len(d.input_ids))), 1) for d in docs]


def batches(rows: list[Row], rows_per_step: int, seed: int, epoch: int) -> list[list[Row]]:
    order = list(range(len(rows)))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    return [[rows[i] for i in order[k:k + rows_per_step]] for k in range(0, len(order), rows_per_step)]


def collate(batch: list[Row], pad_id: int) -> dict[str, Any]:
    """Right-pad rows to the longest; padding has label IGNORE and its own position ids."""
    import torch

    width = max(len(r.input_ids) for r in batch)
    ids = [r.input_ids + [pad_id] * (width - len(r.input_ids)) for r in batch]
    labels = [r.labels + [IGNORE] * (width - len(r.labels)) for r in batch]
    positions = [r.position_ids + list(range(width - len(r.position_ids))) for r in batch]
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "position_ids": torch.tensor(positions)}
