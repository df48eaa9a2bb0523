"""Answers in batches, greedy or beam search (evaluate.num_beams; CodeXGLUE's code-to-text baselines
decode with beams): prompts sorted by length (little padding), left-padded, one generate call per batch. Left
padding with the attention mask keeps each row's positions as if it ran alone, so the answers equal those
generated one at a time (tested)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def generate_answers(model: Any, tokenizer: Any, examples: list[dict[str, Any]], max_new_tokens: int,
                     batch_size: int = 8, on_batch: Callable[[int], None] | None = None,
                     num_beams: int = 1) -> list[str]:
    """One answer per example (its messages without the last), in the examples' order; deterministic (no
    sampling) for any num_beams."""
    import torch

    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    prompts = [tokenizer.apply_chat_template(ex["messages"][:-1], tokenize=False, add_generation_prompt=True)
               for ex in examples]
    encoded = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    order = sorted(range(len(examples)), key=lambda i: len(encoded[i]))
    answers = [""] * len(examples)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        batch = tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, padding=True, return_tensors="pt")
        batch = {k: v.to(model.device) for k, v in batch.items()}
        with torch.no_grad():
            ids = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                 num_beams=num_beams, pad_token_id=tokenizer.pad_token_id)
        width = batch["input_ids"].shape[1]
        for row, i in enumerate(rows):
            answers[i] = tokenizer.decode(ids[row, width:], skip_special_tokens=True).strip()
        if on_batch is not None:
            on_batch(len(rows))
    return answers
