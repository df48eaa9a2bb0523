"""The LLM client shared by label and synthesize: any OpenAI-compatible endpoint, many requests in flight.

Rate limits (429 + Retry-After), a tokens-per-minute budget, exponential backoff with jitter on 5xx and timeouts,
one repair request for an invalid answer, a circuit breaker when the endpoint is down, and a cache in the
object store written as each answer arrives: a killed run loses only the requests in flight.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gc
import hashlib
import json
import logging
import os
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

from repotune.core.errors import ConfigError
from repotune.llm.cache import CACHE_PREFIX, AnswerCache
from repotune.llm.config import LLMEndpointConfig
from repotune.core.store import ObjectStore

log = logging.getLogger("repotune.llm")


@dataclass
class LLMRequest:
    key: str
    """What identifies the answer besides model and parameters (prompt version + unit content hash + part)."""
    messages: list[dict[str, str]] | Callable[[], list[dict[str, str]]]
    """The messages, or a function rendering them: called only when the request is sent (never for a cached
    answer), so the first requests go out before every prompt is rendered."""
    schema: dict[str, Any] | None = None
    max_tokens: int | None = None
    check: Callable[[Any], str | None] | None = None
    """What is wrong with a parsed answer (None: nothing), e.g. a pydantic validation: a wrong answer gets the
    same one repair request as invalid JSON."""

    def rendered(self) -> list[dict[str, str]]:
        if callable(self.messages):
            self.messages = self.messages()
        return self.messages


@dataclass
class LLMResult:
    key: str
    text: str | None = None
    parsed: Any = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 0


@dataclass
class _Budget:
    """A tokens-per-minute budget: waits until the last minute's usage leaves room."""

    per_minute: int | None
    spent: list[tuple[float, int]] = field(default_factory=list)

    async def take(self, tokens: int) -> None:
        if not self.per_minute:
            return
        while True:
            now = time.monotonic()
            self.spent = [(t, n) for t, n in self.spent if now - t < 60]
            if sum(n for _, n in self.spent) + tokens <= self.per_minute or not self.spent:
                self.spent.append((now, tokens))
                return
            await asyncio.sleep(60 - (now - self.spent[0][0]) + 0.01)


class OpenAICompatibleClient:
    def __init__(self, cfg: LLMEndpointConfig, store: ObjectStore | None):
        if not cfg.base_url:
            raise ConfigError("llm.base_url is required to call the LLM endpoint (label.backend=openai, "
                              "synthesize.generation=llm or synthesize.judge)")
        self.cfg = cfg
        self.store = store
        self.api_key = os.environ.get(cfg.api_key_env) or "none"  # local servers take any key
        self.consecutive_failures = 0
        self.use_response_format = True
        self.cache = AnswerCache(store) if store is not None else None

    def cache_key(self, request: LLMRequest) -> str:
        params = json.dumps({"model": self.cfg.model, "temperature": self.cfg.temperature,
                             "max_tokens": request.max_tokens or self.cfg.max_tokens, "key": request.key},
                            sort_keys=True)
        digest = hashlib.sha256(params.encode()).hexdigest()
        return f"{CACHE_PREFIX}{digest[:2]}/{digest}.json"

    def _http_client(self) -> httpx2.AsyncClient:
        """The SDK's aiohttp transport where aiohttp is installed: at 64 requests in flight httpx's own pool
        spends more CPU per request than the request itself costs the server; else the SDK's default."""
        limits = httpx2.Limits(max_connections=self.cfg.concurrency, max_keepalive_connections=self.cfg.concurrency)
        try:
            return openai.DefaultAioHttpClient(limits=limits, verify=_ssl_context())
        except RuntimeError:  # the SDK's aiohttp extra is missing
            return openai.DefaultAsyncHttpxClient(limits=limits, verify=_ssl_context())

    def run(self, requests: list[LLMRequest],
            on_result: Callable[[int, LLMResult], None] | None = None) -> list[LLMResult]:
        """Answer every request (cached ones from the store); results in request order. `on_result(index,
        result)` sees each result as it arrives: work done there overlaps the requests still in flight."""
        # Everything alive now (units, facts, modules) outlives the run: frozen, the collector leaves it alone.
        # A full collection scanning it paused the event loop for ~130 ms, and answers arriving meanwhile
        # bunched up and queued behind each other for many rounds.
        gc.freeze()
        try:
            return asyncio.run(self._run(requests, on_result))
        finally:
            gc.unfreeze()

    async def _run(self, requests: list[LLMRequest],
                   on_result: Callable[[int, LLMResult], None] | None) -> list[LLMResult]:
        # remote cache reads and writes run in threads: give every request in flight one, not the default handful
        if self.cache is not None and not self.cache.appends:
            asyncio.get_running_loop().set_default_executor(
                concurrent.futures.ThreadPoolExecutor(max_workers=self.cfg.concurrency + 4))
        client = openai.AsyncOpenAI(base_url=self.cfg.base_url, api_key=self.api_key, max_retries=0,
                                    timeout=self.cfg.timeout_s, http_client=self._http_client())
        semaphore = asyncio.Semaphore(self.cfg.concurrency)
        budget = _Budget(self.cfg.tokens_per_minute)
        # one listing of the cache instead of one existence check per request: requests start at once
        cached = await asyncio.to_thread(self.cache.index) if self.cache is not None else set()
        try:
            return list(await asyncio.gather(*(self._one(client, semaphore, budget, r, cached, i, on_result)
                                               for i, r in enumerate(requests))))
        finally:
            await client.close()
            if self.cache is not None:
                self.cache.close()

    async def _one(self, client: openai.AsyncOpenAI, semaphore: asyncio.Semaphore, budget: _Budget,
                   request: LLMRequest, cached_keys: set[str], index: int,
                   on_result: Callable[[int, LLMResult], None] | None) -> LLMResult:
        result = await self._answer(client, semaphore, budget, request, cached_keys)
        if on_result is not None:
            on_result(index, result)
        return result

    async def _answer(self, client: openai.AsyncOpenAI, semaphore: asyncio.Semaphore, budget: _Budget,
                      request: LLMRequest, cached_keys: set[str]) -> LLMResult:
        key = self.cache_key(request)
        if key in cached_keys:
            cached = _cached_result(key, await self._cache_io(self.cache.load, key))
            if cached is not None:
                return cached
        async with semaphore:
            result = await self._ask(client, budget, request)
        if result.error is None and self.cache is not None:
            await self._cache_io(self.cache.save, key, {k: v for k, v in result.__dict__.items() if k != "cached"})
        return result

    async def _cache_io(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A journal is read from memory and appended to without waiting: inline; a remote store's reads and
        PUTs would block the event loop: in a thread."""
        return fn(*args) if self.cache.appends else await asyncio.to_thread(fn, *args)

    async def _ask(self, client: openai.AsyncOpenAI, budget: _Budget, request: LLMRequest) -> LLMResult:
        result = LLMResult(key=request.key)
        messages = list(request.rendered())
        repaired = False
        t0 = time.monotonic()
        for attempt in range(self.cfg.max_retries + 1):
            if self.consecutive_failures >= self.cfg.circuit_breaker:
                result.error = "circuit open: the endpoint failed too many times in a row"
                return result
            result.attempts = attempt + 1
            await budget.take(sum(len(m["content"]) for m in messages) // 4 + (request.max_tokens or self.cfg.max_tokens))
            delay = self.cfg.backoff_s * 2 ** attempt * (0.5 + random.random())
            body: dict[str, Any] = {"model": self.cfg.model, "messages": messages,
                                    "temperature": self.cfg.temperature,
                                    "max_tokens": request.max_tokens or self.cfg.max_tokens}
            if request.schema is not None and self.use_response_format:
                body["response_format"] = {"type": "json_schema",
                                           "json_schema": {"name": "answer", "schema": request.schema}}
            try:
                # The SDK's low-level post: `chat.completions.create` deep-transforms every message and the schema
                # on each call, which made the client CPU-bound at ~100 requests/s on two cores.
                # cast_to the raw response: building the SDK's pydantic ChatCompletion costs ~1 ms of CPU per
                # answer, and at 64 in flight that CPU is what delays every other answer
                response = await client.post("/chat/completions", cast_to=httpx2.Response, body=body)
            except openai.RateLimitError as e:
                retry_after = _retry_after(e.response)
                self.consecutive_failures += 1
                log.info("429 from %s; waiting %.1fs", self.cfg.base_url, retry_after or delay)
                await asyncio.sleep(retry_after if retry_after is not None else delay)
                result.error = "rate limited (429)"
                continue
            except openai.BadRequestError as e:
                if "response_format" in body and "response_format" in str(e):
                    self.use_response_format = False  # the server lacks structured output: prompt + parse
                    continue
                result.error = f"bad request (400): {str(e)[:200]}"
                return result
            except (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError,
                    openai.APIStatusError) as e:
                self.consecutive_failures += 1
                result.error = f"{type(e).__name__}: {str(e)[:200]}"
                await asyncio.sleep(delay)
                continue
            self.consecutive_failures = 0
            try:
                answer = json.loads(response.content)
                usage = answer.get("usage") or {}
                text = answer["choices"][0]["message"].get("content") or ""
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                self.consecutive_failures += 1
                result.error = f"not a chat completion: {response.text[:200]}"
                await asyncio.sleep(delay)
                continue
            result.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            result.completion_tokens += int(usage.get("completion_tokens") or 0)
            result.text = text
            if request.schema is None:
                result.error = None
                break
            try:
                result.parsed = json.loads(_strip_fences(text))
                problem = request.check(result.parsed) if request.check else None
            except json.JSONDecodeError as e:
                problem = f"invalid JSON answer: {e.msg} at {e.pos}"
            result.error = problem
            if problem is None:
                break
            result.parsed = None
            if not repaired:  # one repair request, then plain retries
                repaired = True
                messages = [*request.rendered(), {"role": "assistant", "content": text[:2000]},
                            {"role": "user", "content": f"That answer is not usable ({problem}). Answer again with "
                                                        "only the JSON object, following the schema."}]
        result.latency_s = round(time.monotonic() - t0, 4)
        return result


def _cached_result(key: str, doc: dict[str, Any] | None) -> LLMResult | None:
    if doc is None:
        return None
    try:
        return LLMResult(**{**doc, "cached": True})
    except TypeError:  # not an answer this client wrote
        log.warning("cache entry %s is not an answer: asking again", key)
        return None


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """The default TLS context, built once per process: loading the CA bundle cost ~25 ms per client, and each
    level of label_units (and synthesize's passes) makes a client."""
    return httpx2.create_ssl_context()


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    for name in ("retry-after-ms", "retry-after", "x-ratelimit-reset-requests"):
        value = headers.get(name)
        if value:
            try:
                seconds = float(value.rstrip("s"))
                return seconds / 1000 if name == "retry-after-ms" else seconds
            except ValueError:
                continue
    return None


def _strip_fences(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[-1].rsplit("```", 1)[0]
    return text


def make_client(cfg: LLMEndpointConfig, store: ObjectStore | None) -> OpenAICompatibleClient:
    """The client for the configured endpoint, its answers cached in the store (when one is given)."""
    return OpenAICompatibleClient(cfg, store)
