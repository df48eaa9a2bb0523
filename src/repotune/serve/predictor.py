"""The repotune predictor: a `kserve.Model` that loads the base model once and several LoRA adapters, and
answers KServe's v1/v2 routes and OpenAI-compatible completions and chat (adapter chosen by model name).
Generation happens in `engine.BatchEngine`'s thread, never on the event loop: health and readiness answer while
it works."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

import kserve
from kserve.errors import InvalidInput

from repotune.core.errors import ConfigError, StepError
from repotune.serve.config import ServeConfig
from repotune.serve.engine import BatchEngine, Job


class RepotunePredictor(kserve.Model):
    def __init__(self, cfg: ServeConfig, base_model: str, store: Any = None):
        super().__init__(cfg.name)
        self.cfg = cfg
        self.base_uri = base_model
        self.store = store
        self.engine: BatchEngine | None = None  # owns the model once loaded: batches requests across adapters
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
        self.engine = BatchEngine(self.model, self.tokenizer, set(self.cfg.adapters), self.cfg.max_batch_size,
                                  self.cfg.max_wait_ms)
        self.ready = True
        return self.ready

    @property
    def model_names(self) -> list[str]:
        return [self.cfg.name, *self.cfg.adapters]

    def job(self, prompt: str, model_name: str | None, max_tokens: int, temperature: float = 0.0,
            stop: list[str] | None = None) -> Job:
        """A validated row for the engine; every problem is an InvalidInput (HTTP 400) with one line."""
        if model_name not in (None, *self.model_names):
            raise InvalidInput(f"unknown model {model_name!r}; served: {', '.join(self.model_names)}")
        if not prompt:
            raise InvalidInput("the prompt is empty")
        if not 1 <= max_tokens <= self.cfg.max_new_tokens:
            raise InvalidInput(f"max_tokens must be between 1 and {self.cfg.max_new_tokens}, got {max_tokens}")
        if len(prompt) > self.cfg.max_prompt_tokens * 64:  # no tokenizer run on megabytes of text
            raise InvalidInput(f"prompt is longer than the limit of {self.cfg.max_prompt_tokens} tokens")
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if not ids:
            raise InvalidInput("the prompt has no tokens")
        if len(ids) > self.cfg.max_prompt_tokens:
            raise InvalidInput(f"prompt has {len(ids)} tokens, more than the limit {self.cfg.max_prompt_tokens}")
        adapter = model_name if model_name in self.cfg.adapters else None
        return Job(ids=ids, adapter=adapter, max_tokens=max_tokens, temperature=temperature, stop=stop or [])

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        if not isinstance(messages, list) or not messages or any(
                not isinstance(m, dict) or not isinstance(m.get("content"), str)
                or m.get("role") not in ("system", "developer", "user", "assistant") for m in messages):
            raise InvalidInput("messages must be a non-empty list of {role, content} with a known role")
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    async def run(self, job: Job) -> dict[str, Any]:
        """The whole answer of one row (it is batched with whatever else is waiting)."""
        events = self.engine.submit(job)
        pieces = []
        while True:
            event = await events.get()
            if event[0] == "token":
                pieces.append(event[1])
            elif event[0] == "done":
                return {"text": "".join(pieces), "finish_reason": event[1], "prompt_tokens": event[2],
                        "completion_tokens": event[3]}
            else:
                raise GenerationError(event[1])

    def _instances(self, count: int) -> None:
        if count > self.cfg.max_instances:
            raise InvalidInput(f"{count} instances in one request; the limit is {self.cfg.max_instances}")

    async def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        """v1: {"instances": [{"prompt"|"messages", "max_tokens", "model"}]}; v2: a BYTES input named "text".
        All instances of a request are generated together (one batch when they fit)."""
        if isinstance(payload, dict):
            instances = payload.get("instances")
            if not isinstance(instances, list) or not instances:
                raise InvalidInput('v1 requests need "instances": [{"prompt": ...}]')
            self._instances(len(instances))
            jobs = []
            for inst in instances:
                if not isinstance(inst, dict):
                    raise InvalidInput('each instance must be an object with a "prompt" string or "messages"')
                prompt = inst.get("prompt")
                if prompt is None and "messages" in inst:
                    prompt = self.render_chat(inst["messages"])
                if not isinstance(prompt, str):
                    raise InvalidInput('each instance needs a "prompt" string or "messages"')
                model, max_tokens = inst.get("model"), inst.get("max_tokens", 64)
                if not isinstance(model, str | None) or type(max_tokens) is not int:
                    raise InvalidInput('"model" must be a string and "max_tokens" an integer')
                jobs.append(self.job(prompt, model, max_tokens))
            results = await asyncio.gather(*(self.run(j) for j in jobs))
            return {"predictions": [r["text"] for r in results]}
        from kserve import InferOutput, InferResponse

        inputs = {i.name: i for i in payload.inputs}
        if "text" not in inputs or inputs["text"].datatype != "BYTES":
            raise InvalidInput('v2 requests need a BYTES input named "text"')
        data = inputs["text"].data or []
        self._instances(len(data))
        try:
            texts = [t.decode() if isinstance(t, bytes) else t for t in data]
        except UnicodeDecodeError:
            raise InvalidInput('the "text" input is not UTF-8') from None
        if any(not isinstance(t, str) for t in texts):
            raise InvalidInput('the "text" input must hold strings')
        params = payload.parameters or {}
        model, max_tokens = params.get("model"), params.get("max_tokens", 64)
        if not isinstance(model, str | None) or type(max_tokens) is not int:
            raise InvalidInput('parameters "model" must be a string and "max_tokens" an integer')
        results = await asyncio.gather(*(self.run(self.job(t, model, max_tokens)) for t in texts))
        output = InferOutput(name="text", shape=[len(results)], datatype="BYTES", data=[r["text"] for r in results])
        return InferResponse(model_name=self.name, infer_outputs=[output], response_id=payload.id or str(uuid.uuid4()))


class GenerationError(Exception):
    """The model failed while generating (not the request's fault): the answer is a 500 with this one line."""


def fresh_dir() -> str:
    return tempfile.mkdtemp(prefix="repotune-serve-")
