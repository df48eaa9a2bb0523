"""The repotune predictor: a `kserve.Model` that loads the base model once and several LoRA adapters, and
answers KServe's v1/v2 routes and OpenAI-compatible completions and chat (adapter chosen by model name).
Generation happens in `engine.BatchEngine`'s thread, never on the event loop: health and readiness answer while
it works."""

from __future__ import annotations

import asyncio
import tempfile
import time
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
        self.batcher: BatchEngine | None = None  # (not `engine`: kserve reads that name) owns the model once loaded: batches requests across adapters
        self.model: Any = None
        self.tokenizer: Any = None
        self.adapters: dict[str, str] = {}  # name -> URI of every adapter held now
        self.last_used: dict[str, float] = {}
        self.repository: Any = None  # kserve's model repository: adapters appear there under their names

    def load(self) -> bool:
        """The base model, then each adapter; a missing or unreadable adapter is a one-line error naming it."""
        from repotune.models import load_base_model

        base, self.tokenizer = load_base_model(self.base_uri, self.store)
        self.model = base
        for name, uri in self.cfg.adapters.items():
            self._attach(name, uri, self._adapter_folder(name, uri))
        self.model.eval()
        self.batcher = BatchEngine(self.model, self.tokenizer, set(self.adapters), self.cfg.max_batch_size,
                                  self.cfg.max_wait_ms, self.cfg.mixed_adapters)
        self.ready = True
        return self.ready

    def _adapter_folder(self, name: str, uri: str) -> Path:
        from repotune.models import resolve_base_model

        what = f"adapter {name!r}"
        path = Path(resolve_base_model(uri, self.store, what=what))
        if not (path / "adapter_config.json").is_file():
            raise ConfigError(f"{what} {uri!r}: no adapter_config.json there (not a peft adapter folder)")
        return path

    def _attach(self, name: str, uri: str, path: Path) -> None:
        """Add a LoRA adapter to the model (at start, or on the generation thread between batches)."""
        from peft import PeftModel

        try:
            if not isinstance(self.model, PeftModel):
                self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=name)
            else:
                self.model.load_adapter(str(path), adapter_name=name)
        except (OSError, ValueError, UnicodeError, KeyError, RuntimeError) as e:  # unreadable or mismatched files
            raise StepError(f"cannot load adapter {name!r} from {uri!r}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0][:300] if str(e) else ''!r}") from None
        self.model.eval()
        self.adapters[name] = uri
        self.last_used[name] = time.monotonic()
        if self.batcher is not None:
            self.batcher.model = self.model
            self.batcher.adapters.add(name)

    def _detach(self, name: str) -> None:
        """Remove an adapter (on the generation thread); the last one leaves the plain base model."""
        if len(self.adapters) == 1:
            self.model = self.model.unload()  # the base model without LoRA layers
        else:
            self.model.delete_adapter(name)
        del self.adapters[name]
        self.last_used.pop(name, None)
        self.batcher.model = self.model
        self.batcher.adapters.discard(name)

    def _publish(self, loaded: str | None, unloaded: list[str]) -> None:
        if self.repository is None:
            return
        for name in unloaded:
            self.repository.models.pop(name, None)
        if loaded:
            self.repository.update(AdapterModel(self, loaded))

    async def load_adapter(self, name: str, uri: str) -> list[str]:
        """Load an adapter while serving; returns the adapters unloaded to make room (least recently used)."""
        if name == self.cfg.name or name in self.adapters:
            raise InvalidInput(f"a model named {name!r} is already served")
        path = await asyncio.to_thread(self._adapter_folder, name, uri)

        def attach() -> list[str]:
            evicted = []
            while len(self.adapters) >= self.cfg.max_adapters:
                oldest = min(self.adapters, key=lambda n: self.last_used.get(n, 0.0))
                self._detach(oldest)
                evicted.append(oldest)
            self._attach(name, uri, path)
            return evicted

        evicted = await self.batcher.call(attach)
        self._publish(name, evicted)
        return evicted

    async def unload_adapter(self, name: str) -> None:
        if name not in self.adapters:
            raise KeyError(name)
        await self.batcher.call(lambda: self._detach(name))
        self._publish(None, [name])

    @property
    def model_names(self) -> list[str]:
        return [self.cfg.name, *self.adapters]

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
        adapter = model_name if model_name in self.adapters else None
        if adapter:
            self.last_used[adapter] = time.monotonic()
        return Job(ids=ids, adapter=adapter, max_tokens=max_tokens, temperature=temperature, stop=stop or [])

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        if not isinstance(messages, list) or not messages or any(
                not isinstance(m, dict) or not isinstance(m.get("content"), str)
                or m.get("role") not in ("system", "developer", "user", "assistant") for m in messages):
            raise InvalidInput("messages must be a non-empty list of {role, content} with a known role")
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    async def run(self, job: Job) -> dict[str, Any]:
        """The whole answer of one row (it is batched with whatever else is waiting)."""
        events = self.batcher.submit(job)
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

    async def predict(self, payload: Any, headers: dict[str, str] | None = None, default_model: str | None = None
                      ) -> Any:
        """v1: {"instances": [{"prompt"|"messages", "max_tokens", "model"}]}; v2: a BYTES input named "text".
        All instances of a request are generated together (one batch when they fit). default_model: the adapter
        whose route (/v1/models/<adapter>:predict) the request came by."""
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
                model, max_tokens = inst.get("model", default_model), inst.get("max_tokens", 64)
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
        model, max_tokens = params.get("model", default_model), params.get("max_tokens", 64)
        if not isinstance(model, str | None) or type(max_tokens) is not int:
            raise InvalidInput('parameters "model" must be a string and "max_tokens" an integer')
        results = await asyncio.gather(*(self.run(self.job(t, model, max_tokens)) for t in texts))
        output = InferOutput(name="text", shape=[len(results)], datatype="BYTES", data=[r["text"] for r in results])
        return InferResponse(model_name=self.name, infer_outputs=[output], response_id=payload.id or str(uuid.uuid4()))


class AdapterModel(kserve.Model):
    """An adapter under its own name in kserve's repository: listed by /v1/models, ready on
    /v2/models/<name>/ready, and its v1/v2 routes answer with that adapter."""

    def __init__(self, predictor: RepotunePredictor, name: str):
        super().__init__(name)
        self.predictor = predictor
        self.ready = True

    async def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        return await self.predictor.predict(payload, headers, default_model=self.name)


class GenerationError(Exception):
    """The model failed while generating (not the request's fault): the answer is a 500 with this one line."""


def fresh_dir() -> str:
    return tempfile.mkdtemp(prefix="repotune-serve-")
