"""Continuous batching for the predictor: requests join a running batch at its next decode step.

One worker thread owns the model and runs a decode loop of its own (not `generate`): each step it admits the
requests that arrived (up to `max_batch_size` rows), runs their prompts through the model (prefill) and adds their
KV cache to the batch's, left-padded, then decodes one token for every row. A row leaves the batch the step it
ends (end of sequence, a stop string, its own max_tokens), so a short answer does not wait for a long one and a new
request waits one step, not a whole batch. When the worker is idle the first request waits up to `max_wait_ms` for
others, so a burst starts as one batch. Rows for different adapters and the base share a step through peft's
mixed-adapter inference (`adapter_names`, "__base__" for the base); with `mixed_adapters=false` a batch holds one
adapter's rows, and others wait, in order, for it to drain. Every row samples with its own temperature (0: greedy)
and streams its text to its request's asyncio queue; a failure inside the model ends every row it touched with an
error event: no request waits for an answer that will not come.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

BASE = "__base__"  # peft's name for "no adapter" in a mixed batch


@dataclass
class Job:
    """One request's row: its prompt ids, sampling settings and where its events go."""

    ids: list[int]
    adapter: str | None
    max_tokens: int
    temperature: float = 0.0
    stop: list[str] = field(default_factory=list)
    loop: asyncio.AbstractEventLoop | None = None
    events: asyncio.Queue | None = None
    generated: list[int] = field(default_factory=list)
    sent: str = ""
    finish_reason: str | None = None


def _deliver(items: list[tuple[Job, tuple]]) -> None:
    for job, event in items:
        job.events.put_nowait(event)


@dataclass
class Control:
    """Work that must not overlap a batch (loading or unloading an adapter): run on the generation thread."""

    action: Any
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


class _Text:
    """A step's new tokens turned into each row's text events, handed to each event loop with one wake-up per step
    (one per row would take CPU from the matmuls on a small machine)."""

    def __init__(self, tokenizer: Any, eos_ids: set[int]):
        self.tokenizer, self.eos_ids = tokenizer, eos_ids
        self.outbox: list[tuple[Job, tuple]] = []

    def advance(self, job: Job, token: int) -> None:
        if token in self.eos_ids:
            self.finish(job, "stop", self._text(job))
            return
        job.generated.append(token)
        text = self._text(job)
        for stop in job.stop:
            if (at := text.find(stop, max(0, len(job.sent) - len(stop)))) >= 0:
                self.finish(job, "stop", text[:at])
                return
        if len(job.generated) >= job.max_tokens:
            self.finish(job, "length", text)
            return
        # hold back a tail that may still turn into a stop string, or a character still incomplete
        hold = max((len(s) - 1 for s in job.stop), default=0)
        ready = len(text) - hold
        while ready > len(job.sent) and text[ready - 1] == "\ufffd":
            ready -= 1
        if ready > len(job.sent):
            self.outbox.append((job, ("token", text[len(job.sent):ready])))
            job.sent = text[:ready]

    def _text(self, job: Job) -> str:
        return self.tokenizer.decode(job.generated, skip_special_tokens=True)

    def finish(self, job: Job, reason: str, text: str) -> None:
        job.finish_reason = reason
        if len(text) > len(job.sent) and text.startswith(job.sent):
            self.outbox.append((job, ("token", text[len(job.sent):])))
        job.sent = text
        self.outbox.append((job, ("done", reason, len(job.ids), len(job.generated))))

    def fail(self, job: Job, message: str) -> None:
        job.finish_reason = "error"
        self.outbox.append((job, ("error", message)))

    def flush(self) -> None:
        by_loop: dict[Any, list] = {}
        for job, event in self.outbox:
            by_loop.setdefault(job.loop, []).append((job, event))
        self.outbox = []
        for loop, items in by_loop.items():
            loop.call_soon_threadsafe(_deliver, items)


@dataclass
class _Batch:
    """The running rows: their jobs, the KV cache (left-padded to one length), the attention mask over it, and
    the token each row feeds next."""

    jobs: list[Job]
    cache: Any
    mask: Any  # [rows, cached length], 0 on padding
    feed: list[int]


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if not future.done():
        future.set_exception(error) if error is not None else future.set_result(result)


def _failure(error: BaseException) -> str:
    first = str(error).splitlines()[0][:200] if str(error) else ""
    return f"generation failed: {type(error).__name__}: {first}"


class BatchEngine:
    def __init__(self, model: Any, tokenizer: Any, adapters: set[str], max_batch_size: int, max_wait_ms: float,
                 mixed_adapters: bool = True):
        self.model, self.tokenizer, self.adapters = model, tokenizer, adapters
        self.mixed_adapters = mixed_adapters  # False: a batch holds rows of one adapter (or the base) only
        self.max_batch_size, self.max_wait_s = max_batch_size, max_wait_ms / 1000
        self.waiting: queue.Queue[Job | Control | None] = queue.Queue()
        self.batches = 0  # batches started from idle: the batching a test can see
        self.joined = 0  # rows that joined a batch already running
        self.base_only: bool | None = None  # adapter layers switched off for a batch of base rows; None: unknown
        self.thread = threading.Thread(target=self._work, name="repotune-generate", daemon=True)
        self.thread.start()
        atexit.register(self.close)  # a generation thread still waiting at exit makes the runtime abort

    def submit(self, job: Job) -> asyncio.Queue:
        """Queue a row; its events arrive on the returned queue: ("token", text)..., then ("done", finish_reason,
        prompt_tokens, completion_tokens) or ("error", message)."""
        job.loop = asyncio.get_running_loop()
        job.events = asyncio.Queue()
        self.waiting.put(job)
        return job.events

    async def call(self, action: Any) -> Any:
        """Run action() on the generation thread between batches; its result or exception comes back here."""
        loop = asyncio.get_running_loop()
        control = Control(action, loop, loop.create_future())
        self.waiting.put(control)
        return await control.future

    def _control(self, control: Control) -> None:
        self.base_only = None  # an adapter loaded or unloaded: its layers' switch is not known
        try:
            result = control.action()
        except Exception as error:  # noqa: BLE001 - handed to the caller
            control.loop.call_soon_threadsafe(_settle, control.future, None, error)
        else:
            control.loop.call_soon_threadsafe(_settle, control.future, result, None)

    def close(self, timeout_s: float = 10.0) -> None:
        """Let the worker finish the rows it runs and stop."""
        if self.thread.is_alive():
            self.waiting.put(None)
            self.thread.join(timeout_s)

    # --- the worker --------------------------------------------------------------------------------------------

    def _work(self) -> None:
        pending: list[Job | Control | None] = []  # taken from `waiting`, not admitted yet, in arrival order
        batch: _Batch | None = None
        while True:
            if batch is None:
                if not pending:
                    pending.append(self.waiting.get())
                head = pending[0]
                if head is None:
                    return
                if isinstance(head, Control):
                    self._control(pending.pop(0))
                    continue
                self._gather(pending, time.perf_counter() + self.max_wait_s)
            else:
                self._gather(pending, None)
            joiners = self._admit(pending, batch)
            if batch is None and joiners:
                self.batches += 1
            elif joiners:
                self.joined += len(joiners)
            batch = self._step(batch, joiners)

    def _gather(self, pending: list, deadline: float | None) -> None:
        """Move newly arrived requests to pending: all there are now, or (deadline) wait for a batch's worth."""
        while len(pending) < self.max_batch_size:
            try:
                left = deadline - time.perf_counter() if deadline is not None else 0
                item = self.waiting.get(timeout=left) if left > 0 else self.waiting.get_nowait()
            except queue.Empty:
                return
            pending.append(item)
            if not isinstance(item, Job):  # shutting down or a control: nothing after it joins before it runs
                return

    def _admit(self, pending: list, batch: _Batch | None) -> list[Job]:
        """Pending jobs that join now, in order, up to the first that cannot (a control, the end, a full batch, or
        another adapter where batches hold one)."""
        jobs = batch.jobs if batch is not None else []
        joiners: list[Job] = []
        if batch is not None and not _plain(batch.cache):  # a cache that cannot be joined: wait for it to drain
            return joiners
        while pending and isinstance(pending[0], Job) and len(jobs) + len(joiners) < self.max_batch_size:
            job = pending[0]
            first = (jobs or joiners or [job])[0]
            if not self.mixed_adapters and job.adapter != first.adapter:
                break
            joiners.append(pending.pop(0))
        return joiners

    def _step(self, batch: _Batch | None, joiners: list[Job]) -> _Batch | None:
        """Prefill the joiners into the batch, then decode one token for every row; the rows still going remain.
        A failure ends the rows it touched (the joiners' prefill, or the whole batch's step) with an error."""
        text = _Text(self.tokenizer, self._eos_ids())
        gone = [job for job in joiners if job.adapter is not None and job.adapter not in self.adapters]
        for job in gone:  # unloaded while it waited
            text.fail(job, f"adapter {job.adapter!r} was unloaded before this request ran")
        joiners = [job for job in joiners if job.finish_reason is None]
        if joiners:
            try:
                batch = self._join(batch, self._prefill(joiners, text))
            except Exception as error:  # noqa: BLE001 - every row must hear of it, whatever it is
                self._fail(joiners, error, text)
        if batch is not None:
            try:
                batch = self._decode(batch, text)
            except Exception as error:  # noqa: BLE001
                self._fail(batch.jobs, error, text)
                batch = None
        text.flush()
        return batch

    @staticmethod
    def _fail(jobs: list[Job], error: BaseException, text: _Text) -> None:
        for job in jobs:
            if job.finish_reason is None:
                text.fail(job, _failure(error))

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        return set(eos if isinstance(eos, list) else [eos] if eos is not None else [])

    def _forward(self, jobs: list[Job], ids: Any, mask: Any, cache: Any) -> Any:
        """One forward of these rows through their adapters; the last position's logits and the cache."""
        import torch

        kwargs = self._route(jobs)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:]
        with torch.no_grad():
            base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
            kwargs[_cache_argument(type(base))] = cache
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                             logits_to_keep=1, **kwargs)
        return out.logits[:, -1, :].float(), out.cache if hasattr(out, "cache") else out.past_key_values

    def _route(self, jobs: list[Job]) -> dict[str, Any]:
        """Point the model at these rows' adapters, changing only what differs from the last step: peft walks every
        module to switch adapter layers off or on (~8 ms each way for a small model; too much for every token)."""
        if not self.adapters:
            return {}
        names = {job.adapter for job in jobs}
        base_only = names == {None}
        if self.base_only is not base_only:
            tuner = self.model.base_model
            tuner.disable_adapter_layers() if base_only else tuner.enable_adapter_layers()
            self.base_only = base_only
        if len(names) > 1:  # peft runs each adapter's rows through its own LoRA weights
            return {"adapter_names": [job.adapter or BASE for job in jobs]}
        if not base_only:  # one adapter: the plain path (adapter_names costs ~25% on a single row)
            (adapter,) = names
            if self.model.active_adapter != adapter:
                self.model.set_adapter(adapter)
        return {}

    def _choose(self, jobs: list[Job], logits: Any, eos_ids: set[int]) -> list[int]:
        """Each row's next token: greedy at temperature 0, else sampled; no end of sequence before the model's
        generation_config.min_new_tokens."""
        import torch

        least = getattr(self.model.generation_config, "min_new_tokens", None) or 0
        eos = sorted(eos_ids)
        if least and eos:
            early = torch.tensor([len(job.generated) < least for job in jobs])
            if early.any():
                logits[early.nonzero().flatten()[:, None], torch.tensor(eos)] = -float("inf")
        tokens = logits.argmax(-1)
        for row, job in enumerate(jobs):
            if job.temperature > 0:
                probs = torch.softmax(logits[row] / job.temperature, -1)
                tokens[row] = torch.multinomial(probs, 1)[0]
        return tokens.tolist()

    def _prefill(self, jobs: list[Job], text: _Text) -> _Batch | None:
        import torch

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        width = max(len(job.ids) for job in jobs)
        ids = torch.tensor([[pad] * (width - len(job.ids)) + job.ids for job in jobs])
        mask = torch.tensor([[0] * (width - len(job.ids)) + [1] * len(job.ids) for job in jobs])
        logits, cache = self._forward(jobs, ids, mask, None)
        return self._advance(_Batch(jobs, cache, mask, []), self._choose(jobs, logits, text.eos_ids), text)

    def _decode(self, batch: _Batch, text: _Text) -> _Batch | None:
        import torch

        mask = torch.cat([batch.mask, torch.ones(len(batch.jobs), 1, dtype=batch.mask.dtype)], dim=1)
        logits, cache = self._forward(batch.jobs, torch.tensor(batch.feed)[:, None], mask, batch.cache)
        tokens = self._choose(batch.jobs, logits, text.eos_ids)
        return self._advance(_Batch(batch.jobs, cache, mask, []), tokens, text)

    @staticmethod
    def _advance(batch: _Batch, tokens: list[int], text: _Text) -> _Batch | None:
        """Hand each row its token; rows that ended leave the batch (and padding no row needs any more goes)."""
        for job, token in zip(batch.jobs, tokens, strict=True):
            text.advance(job, token)
        keep = [row for row, job in enumerate(batch.jobs) if job.finish_reason is None]
        if not keep:
            return None
        if len(keep) < len(batch.jobs):
            import torch

            batch.cache.batch_select_indices(torch.tensor(keep))
            batch.mask = batch.mask[keep]
        used = batch.mask.any(0).nonzero()
        start = int(used[0]) if len(used) else 0
        if start and _plain(batch.cache):
            for layer in batch.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, start:], layer.values[:, :, start:]
            batch.mask = batch.mask[:, start:]
        return _Batch([batch.jobs[row] for row in keep], batch.cache, batch.mask, [tokens[row] for row in keep])

    @staticmethod
    def _join(batch: _Batch | None, joiners: _Batch | None) -> _Batch | None:
        """One batch of both: caches and masks left-padded to one length, rows stacked."""
        if batch is None or joiners is None:
            return batch or joiners
        import torch
        from transformers import DynamicCache

        length = max(batch.mask.shape[1], joiners.mask.shape[1])

        def left_pad(tensor: Any, dim: int) -> Any:
            missing = length - tensor.shape[dim]
            if not missing:
                return tensor
            shape = list(tensor.shape)
            shape[dim] = missing
            return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)

        layers = [(torch.cat([left_pad(a.keys, 2), left_pad(b.keys, 2)]),
                   torch.cat([left_pad(a.values, 2), left_pad(b.values, 2)]))
                  for a, b in zip(batch.cache.layers, joiners.cache.layers, strict=True)]
        mask = torch.cat([left_pad(batch.mask, 1), left_pad(joiners.mask, 1)])
        return _Batch(batch.jobs + joiners.jobs, DynamicCache(layers), mask, batch.feed + joiners.feed)


@functools.cache
def _cache_argument(model_type: type) -> str:
    """The name forward takes the KV cache by (transformers 5 renamed past_key_values to cache)."""
    try:
        names = inspect.signature(model_type.forward).parameters
    except (TypeError, ValueError, AttributeError):
        return "cache"
    return "past_key_values" if "past_key_values" in names and "cache" not in names else "cache"


def _plain(cache: Any) -> bool:
    from transformers.cache_utils import DynamicLayer

    return all(type(layer) is DynamicLayer for layer in getattr(cache, "layers", [None]))
