"""Dynamic batching for the predictor: requests that arrive together share one `generate`.

One worker thread owns the model. It takes the first waiting request, gathers more for up to `max_wait_ms` (up to
`max_batch_size`, same sampling settings), left-pads them into one batch and generates once. Rows for different
adapters and the base model share the batch through peft's mixed-adapter inference (`adapter_names`, "__base__"
for the base). Every row streams its own tokens to its request's asyncio queue as they are decoded, stops on its
own (end of sequence, a stop string, its own max_tokens), and a failure inside generation ends every row of the
batch with an error event: no request waits for an answer that will not come.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from transformers.generation.stopping_criteria import StoppingCriteria
from transformers.generation.streamers import BaseStreamer

BASE = "__base__"  # peft's name for "no adapter" in a mixed batch
WAVE_WAIT_S = 0.05


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
    enqueued: float = field(default_factory=time.perf_counter)

    def emit(self, event: tuple) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, event)


def _deliver(items: list[tuple[Job, tuple]]) -> None:
    for job, event in items:
        job.events.put_nowait(event)


@dataclass
class Control:
    """Work that must not overlap a batch (loading or unloading an adapter): run on the generation thread."""

    action: Any
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


class _Rows(BaseStreamer, StoppingCriteria):
    """transformers' streamer and stopping criterion for a batch: `put` gets each step's next tokens (one per row),
    the criterion reports the rows that are done."""

    def __init__(self, jobs: list[Job], tokenizer: Any, eos_ids: set[int]):
        self.jobs, self.tokenizer, self.eos_ids = jobs, tokenizer, eos_ids
        self.prompt_seen = False
        self.outbox: list[tuple[Job, tuple]] | None = None  # a step's events, handed to the event loop at once

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate first hands over the prompt
            self.prompt_seen = True
            return
        self.outbox = []
        for job, token in zip(self.jobs, value.tolist(), strict=True):
            if job.finish_reason is None:
                self._advance(job, int(token))
        outbox, self.outbox = self.outbox, None
        # one wake-up of each event loop per decode step, not one per row: with 16 rows the loop's thread
        # otherwise takes CPU from the matmuls on a small machine
        by_loop: dict[Any, list] = {}
        for job, event in outbox:
            by_loop.setdefault(job.loop, []).append((job, event))
        for loop, items in by_loop.items():
            loop.call_soon_threadsafe(_deliver, items)

    def _emit(self, job: Job, event: tuple) -> None:
        if self.outbox is None:
            job.emit(event)
        else:
            self.outbox.append((job, event))

    def _advance(self, job: Job, token: int) -> None:
        if token in self.eos_ids:
            self._finish(job, "stop", self._text(job))
            return
        job.generated.append(token)
        text = self._text(job)
        for stop in job.stop:
            if (at := text.find(stop, max(0, len(job.sent) - len(stop)))) >= 0:
                self._finish(job, "stop", text[:at])
                return
        if len(job.generated) >= job.max_tokens:
            self._finish(job, "length", text)
            return
        # hold back a tail that may still turn into a stop string, or a character still incomplete
        hold = max((len(s) - 1 for s in job.stop), default=0)
        ready = len(text) - hold
        while ready > len(job.sent) and text[ready - 1] == "\ufffd":
            ready -= 1
        if ready > len(job.sent):
            self._emit(job, ("token", text[len(job.sent):ready]))
            job.sent = text[:ready]

    def _text(self, job: Job) -> str:
        return self.tokenizer.decode(job.generated, skip_special_tokens=True)

    def _finish(self, job: Job, reason: str, text: str) -> None:
        job.finish_reason = reason
        if len(text) > len(job.sent) and text.startswith(job.sent):
            self._emit(job, ("token", text[len(job.sent):]))
        job.sent = text
        self._emit(job, ("done", reason, len(job.ids), len(job.generated)))

    def end(self) -> None:
        pass

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.tensor([job.finish_reason is not None for job in self.jobs], device=input_ids.device)


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if not future.done():
        future.set_exception(error) if error is not None else future.set_result(result)


class BatchEngine:
    def __init__(self, model: Any, tokenizer: Any, adapters: set[str], max_batch_size: int, max_wait_ms: float,
                 mixed_adapters: bool = True):
        self.model, self.tokenizer, self.adapters = model, tokenizer, adapters
        self.mixed_adapters = mixed_adapters  # False: a batch holds rows of one adapter (or the base) only
        self.max_batch_size, self.max_wait_s = max_batch_size, max_wait_ms / 1000
        self.waiting: queue.Queue[Job | Control | None] = queue.Queue()
        self.last_rows = 1  # rows of the last batch, and when it ended: who may come back for the next one
        self.last_end = 0.0
        self.batches = 0  # generate calls: the batching a test can see
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
        try:
            result = control.action()
        except Exception as error:  # noqa: BLE001 - handed to the caller
            control.loop.call_soon_threadsafe(_settle, control.future, None, error)
        else:
            control.loop.call_soon_threadsafe(_settle, control.future, result, None)

    def close(self, timeout_s: float = 10.0) -> None:
        """Let the worker finish its batch and stop."""
        if self.thread.is_alive():
            self.waiting.put(None)
            self.thread.join(timeout_s)

    def _work(self) -> None:
        pending: list[Job | Control] = []
        while True:
            first = pending.pop(0) if pending else self.waiting.get()
            if first is None:
                return
            if isinstance(first, Control):
                self._control(first)
                continue
            batch = [first]
            open_ = self._collect(batch, pending, first, time.perf_counter() + self.max_wait_s, self.max_batch_size)
            # Under concurrent load the clients of the last batch come back together, a few ms after it ended,
            # while others may have queued up during it: wait (up to WAVE_WAIT_S) for both, so clients do not
            # settle into two half-size batches that take turns. A lone client (it is the one coming back, and
            # nobody queued meanwhile) does not wait.
            queued_meanwhile = sum(job.enqueued < self.last_end for job in batch)
            expected = min(self.max_batch_size, queued_meanwhile + self.last_rows)
            if open_ and len(batch) < expected:
                self._collect(batch, pending, first, time.perf_counter() + WAVE_WAIT_S, expected)
            self._generate(batch)

    def _collect(self, batch: list[Job], pending: list, first: Job, deadline: float, size: int) -> bool:
        """Add waiting rows that may share first's batch until size or the deadline; False: stop gathering
        (shutting down, or a control action must run after this batch)."""
        while len(batch) < size:
            try:
                left = deadline - time.perf_counter()
                job = self.waiting.get(timeout=left) if left > 0 else self.waiting.get_nowait()
            except queue.Empty:
                return True
            if job is None:
                self.waiting.put(None)
                return False
            if isinstance(job, Control):  # after this batch, before any later one
                pending.insert(0, job)
                return False
            if job.temperature == first.temperature and (self.mixed_adapters or job.adapter == first.adapter):
                batch.append(job)
            else:  # other sampling settings: the next batch
                pending.append(job)
        return True

    def _generate(self, jobs: list[Job]) -> None:
        import torch

        gone = [job for job in jobs if job.adapter is not None and job.adapter not in self.adapters]
        for job in gone:  # unloaded while it waited
            job.finish_reason = "error"
            job.emit(("error", f"adapter {job.adapter!r} was unloaded before this request ran"))
        jobs = [job for job in jobs if job.finish_reason is None]
        if not jobs:
            return
        self.batches += 1
        self.last_rows = len(jobs)
        tokenizer = self.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        width = max(len(job.ids) for job in jobs)
        ids = torch.tensor([[pad] * (width - len(job.ids)) + job.ids for job in jobs])
        mask = torch.tensor([[0] * (width - len(job.ids)) + [1] * len(job.ids) for job in jobs])
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        rows = _Rows(jobs, tokenizer, eos_ids)
        sample = jobs[0].temperature > 0
        kwargs: dict[str, Any] = {}
        names = {job.adapter for job in jobs}
        context: Any = contextlib.nullcontext()
        if self.adapters and len(names) > 1:  # peft runs each adapter's rows through its own LoRA weights
            kwargs["adapter_names"] = [job.adapter or BASE for job in jobs]
        elif self.adapters and None in names:  # the base alone
            context = self.model.disable_adapter()
        elif self.adapters:  # one adapter: the plain path (adapter_names costs ~25% on a single row)
            (adapter,) = names
            if self.model.active_adapter != adapter:
                self.model.set_adapter(adapter)
        try:
            with torch.no_grad(), context:
                self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max(j.max_tokens for j in jobs),
                                    do_sample=sample, temperature=jobs[0].temperature if sample else None,
                                    top_p=None, top_k=None, pad_token_id=pad, streamer=rows, stopping_criteria=[rows],
                                    **kwargs)
        except Exception as error:  # noqa: BLE001 - every row must hear of it, whatever it is
            message = f"generation failed: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
            for job in jobs:
                if job.finish_reason is None:
                    job.finish_reason = "error"
                    job.emit(("error", message))
            return
        for job in jobs:  # generate stopped (all rows done, or the longest max_tokens reached)
            if job.finish_reason is None:
                rows._finish(job, "length", rows._text(job))
        self.last_end = time.perf_counter()
