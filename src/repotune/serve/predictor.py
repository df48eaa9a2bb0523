"""The repotune predictor: a `kserve.Model` that loads the base model once and several LoRA adapters, and
answers KServe's v1/v2 routes and OpenAI-compatible completions and chat (adapter chosen by model name)."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import kserve
from kserve.errors import InvalidInput

from repotune.core.errors import ConfigError, StepError
from repotune.serve.config import ServeConfig


class RepotunePredictor(kserve.Model):
    def __init__(self, cfg: ServeConfig, base_model: str, store: Any = None):
        super().__init__(cfg.name)
        self.cfg = cfg
        self.base_uri = base_model
        self.store = store
        self.lock = threading.Lock()  # one generation at a time on this model; adapters switch per request
        self.model: Any = None
        self.tokenizer: Any = None

    def load(self) -> bool:
        """The base model, then each adapter; a missing or unreadable adapter is a one-line error naming it."""
        from peft import PeftModel

        from repotune.models import load_base_model, resolve_base_model

        base, self.tokenizer = load_base_model(self.base_uri, self.store)
        self.model = base
        for i, (name, uri) in enumerate(self.cfg.adapters.items()):
            what = f"adapter {name!r}"
            path = Path(resolve_base_model(uri, self.store, what=what))
            if not (path / "adapter_config.json").is_file():
                raise ConfigError(f"{what} {uri!r}: no adapter_config.json there (not a peft adapter folder)")
            try:
                if i == 0:
                    self.model = PeftModel.from_pretrained(base, str(path), adapter_name=name)
                else:
                    self.model.load_adapter(str(path), adapter_name=name)
            except (OSError, ValueError, UnicodeError) as e:  # unreadable or mismatched files, undecodable paths
                raise StepError(f"cannot load {what} from {uri!r}: {type(e).__name__}: "
                                f"{str(e).splitlines()[0][:300]!r}") from None
        self.model.eval()
        self.ready = True
        return self.ready

    @property
    def model_names(self) -> list[str]:
        return [self.cfg.name, *self.cfg.adapters]

    def _check(self, model_name: str | None, prompt_tokens: int, max_tokens: int) -> None:
        if model_name not in (None, *self.model_names):
            raise InvalidInput(f"unknown model {model_name!r}; served: {', '.join(self.model_names)}")
        if prompt_tokens > self.cfg.max_prompt_tokens:
            raise InvalidInput(f"prompt has {prompt_tokens} tokens, more than the limit {self.cfg.max_prompt_tokens}")
        if not 1 <= max_tokens <= self.cfg.max_new_tokens:
            raise InvalidInput(f"max_tokens must be between 1 and {self.cfg.max_new_tokens}, got {max_tokens}")

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        if not messages or any(not isinstance(m, dict) or "content" not in m for m in messages):
            raise InvalidInput("messages must be a non-empty list of {role, content}")
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def generate(self, prompt: str, model_name: str | None, max_tokens: int, temperature: float = 0.0,
                 streamer: Any = None) -> dict[str, Any]:
        import torch

        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        self._check(model_name, ids["input_ids"].shape[1], max_tokens)
        sample = temperature > 0
        with self.lock:
            adapter = model_name if model_name in self.cfg.adapters else None
            t0 = time.perf_counter()
            with torch.no_grad():
                if adapter is None and self.cfg.adapters:
                    with self.model.disable_adapter():
                        out = self.model.generate(**ids, max_new_tokens=max_tokens, do_sample=sample,
                                                  temperature=temperature if sample else None,
                                                  pad_token_id=self.tokenizer.pad_token_id, streamer=streamer)
                else:
                    if adapter is not None and self.model.active_adapter != adapter:
                        self.model.set_adapter(adapter)  # ~6 ms even when already active: only on a switch
                    out = self.model.generate(**ids, max_new_tokens=max_tokens, do_sample=sample,
                                              temperature=temperature if sample else None,
                                              pad_token_id=self.tokenizer.pad_token_id, streamer=streamer)
            seconds = time.perf_counter() - t0
        new = out[0, ids["input_ids"].shape[1]:]
        return {"text": self.tokenizer.decode(new, skip_special_tokens=True), "prompt_tokens": ids["input_ids"].shape[1],
                "completion_tokens": int(new.shape[0]), "seconds": seconds}

    async def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        """v1: {"instances": [{"prompt"|"messages", "max_tokens", "model"}]}; v2: a BYTES input named "text"."""
        if isinstance(payload, dict):
            instances = payload.get("instances")
            if not isinstance(instances, list) or not instances:
                raise InvalidInput('v1 requests need "instances": [{"prompt": ...}]')
            outs = []
            for inst in instances:
                prompt = inst.get("prompt") if isinstance(inst, dict) else None
                if prompt is None and isinstance(inst, dict) and "messages" in inst:
                    prompt = self.render_chat(inst["messages"])
                if not isinstance(prompt, str):
                    raise InvalidInput('each instance needs a "prompt" string or "messages"')
                result = await asyncio.to_thread(self.generate, prompt, inst.get("model"), int(inst.get("max_tokens", 64)))
                outs.append(result["text"])
            return {"predictions": outs}
        from kserve import InferOutput, InferResponse

        inputs = {i.name: i for i in payload.inputs}
        if "text" not in inputs:
            raise InvalidInput('v2 requests need a BYTES input named "text"')
        texts = [t.decode() if isinstance(t, bytes) else str(t) for t in inputs["text"].data]
        params = payload.parameters or {}
        outs = [(await asyncio.to_thread(self.generate, t, params.get("model"), int(params.get("max_tokens", 64))))["text"]
                for t in texts]
        output = InferOutput(name="text", shape=[len(outs)], datatype="BYTES", data=outs)
        return InferResponse(model_name=self.name, infer_outputs=[output], response_id=payload.id or str(uuid.uuid4()))


def fresh_dir() -> str:
    return tempfile.mkdtemp(prefix="repotune-serve-")
