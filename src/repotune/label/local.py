"""The local backend: a causal LM in this process (transformers generate), for one machine with no endpoint.

Small local models (SmolLM2-135M) cannot be trusted to emit the whole JSON schema, so this backend asks the model
only for what needs language — a one-sentence description and a short explanation of each unit — and takes the
structured parts (aspects, tags, level) from the offline interpreter. Rows say `source: local`. Answers are
cached in the store like the endpoint client's.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

from repotune.label.config import LabelConfig
from repotune.core.store import ObjectStore, get_json, put_json

DESCRIBE = ("Describe in one sentence what this {kind} does. Answer with the sentence only.\n\n{code}")


class LocalModelWriter:
    def __init__(self, cfg: LabelConfig, store: ObjectStore | None):
        from repotune.models import load_base_model

        self.cfg = cfg
        self.store = store
        self.model, self.tokenizer = load_base_model(cfg.local_model, store)
        self.tokenizer.padding_side = "left"
        self.generated_tokens = 0
        self.seconds = 0.0

    def _key(self, prompt: str) -> str:
        digest = hashlib.sha256(json.dumps([self.cfg.local_model, self.cfg.local_max_tokens, prompt]).encode()).hexdigest()
        return f"cache/local/{digest[:2]}/{digest}.json"

    def describe(self, units: list[dict[str, Any]]) -> list[str]:
        """One sentence per unit, generated in batches; cached answers are not generated again."""
        prompts = [DESCRIBE.format(kind=u["kind"], code=(u.get("code") or u.get("qualified_name"))[:1500])
                   for u in units]
        answers: dict[int, str] = {}
        todo = []
        for i, prompt in enumerate(prompts):
            key = self._key(prompt)
            if self.store is not None and self.store.exists(key):
                answers[i] = get_json(self.store, key)["text"]
            else:
                todo.append(i)
        for start in range(0, len(todo), self.cfg.local_batch_size):
            batch = todo[start:start + self.cfg.local_batch_size]
            for i, text in zip(batch, self._generate([prompts[i] for i in batch]), strict=True):
                answers[i] = text
                if self.store is not None:
                    put_json(self.store, self._key(prompts[i]), {"text": text, "model": self.cfg.local_model})
        return [answers[i] for i in range(len(units))]

    def _generate(self, prompts: list[str]) -> list[str]:
        import torch

        texts = [self.tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                    add_generation_prompt=True) for p in prompts]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = self.model.generate(**batch, max_new_tokens=self.cfg.local_max_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        self.seconds += time.perf_counter() - t0
        new = out[:, batch["input_ids"].shape[1]:]
        self.generated_tokens += int((new != self.tokenizer.pad_token_id).sum())
        return [_first_sentence(self.tokenizer.decode(row, skip_special_tokens=True)) for row in new]


def _first_sentence(text: str) -> str:
    text = re.sub(r"\s+", " ", text.replace("`", "")).strip()
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return (match.group(1) if match else text)[:300]


def echoes_code(sentence: str, code: str | None, window: int = 24) -> bool:
    """Whether a generated 'description' copies the code instead of describing it (small models do): it starts
    like a definition, or any `window` characters of it appear verbatim in the code (whitespace aside)."""
    text = re.sub(r"\s+", " ", sentence).strip()
    if re.match(r"(async\s+)?(def|class|function|func|fn|public|private|static|return)\b", text):
        return True
    body = re.sub(r"\s+", " ", code or "")
    return any(text[i:i + window] in body for i in range(0, max(len(text) - window + 1, 0), 4))
