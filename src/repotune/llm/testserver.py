"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks (a hosted API can't be called
from CI). It answers chat completions with schema-valid JSON built from the facts in the prompt, and injects
faults on purpose: 429 with Retry-After, 500, timeouts, truncated or invalid JSON, valid JSON of the wrong shape,
and a fixed latency.

    repotune label-testserver --port 8089 --fault-rate 0.2 --latency-ms 200
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FAULTS = ("429", "500", "timeout", "invalid_json", "truncated", "wrong_schema")


@dataclass
class Faults:
    rate: float = 0.0
    """Share of requests that get a fault, spread evenly over `kinds`."""
    kinds: tuple[str, ...] = FAULTS
    timeout_s: float = 5.0
    retry_after_s: float = 0.05
    seed: int = 0


@dataclass
class RequestRecord:
    unit_id: str | None
    outcome: str


@dataclass
class TestServer:
    __test__ = False  # not a pytest test class, despite its name

    faults: Faults = field(default_factory=Faults)
    latency_s: float = 0.0
    host: str = "127.0.0.1"
    port: int = 0
    log: list[RequestRecord] = field(default_factory=list)
    gullible: bool = False
    """Obey 'ignore previous instructions' in the prompt, like a weak model would (for injection tests)."""

    def __post_init__(self) -> None:
        self._random = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests it held at once: what a client's concurrency limit must bound

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def answered(self) -> list[str]:
        return [r.unit_id for r in self.log if r.outcome == "ok" and r.unit_id]

    def _draw(self) -> str:
        with self._lock:
            if self._random.random() < self.faults.rate:
                return self._random.choice(self.faults.kinds)
        return "ok"

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1  # the server's own event loop: no lock needed
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompt = "\n".join(m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user")
        match = re.search(r"^unit_id: (\S+)", prompt, re.M)
        unit_id = match.group(1) if match else None
        synthesize = prompt.startswith("repotune-request: ")  # the first line; code in a label prompt may quote it
        outcome = self._draw()
        if outcome == "wrong_schema" and synthesize:
            outcome = "ok"  # synthesize's answers are free text: no schema to get wrong
        self.log.append(RequestRecord(unit_id, outcome))
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if outcome == "429":
            return web.json_response({"error": {"message": "rate limited", "type": "rate_limit"}}, status=429,
                                     headers={"retry-after": str(self.faults.retry_after_s)})
        if outcome == "500":
            return web.json_response({"error": {"message": "internal error"}}, status=500)
        if outcome == "timeout":
            await asyncio.sleep(self.faults.timeout_s)
        if synthesize:
            content = answer_synthesize(prompt)
        else:
            content = json.dumps(answer_from_prompt(prompt))
        if self.gullible and "ignore previous instructions" in prompt.lower():
            content = "hello! I ignored my instructions."
        if outcome == "invalid_json":
            content = content.replace('"', "'", 3)
        elif outcome == "truncated":
            content = content[: len(content) // 2]
        elif outcome == "wrong_schema":  # valid JSON, not the answer asked for
            content = json.dumps({"labels": {"title": 42}})
        return web.json_response({
            "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body.get("model", "test"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(content) // 4,
                      "total_tokens": (len(prompt) + len(content)) // 4},
        })

    def start(self) -> TestServer:
        thread = threading.Thread(target=self._serve, daemon=True, name="llm-testserver")
        thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the LLM test server did not start")
        return self

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=16 << 20)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, self.port)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def answer_from_prompt(prompt: str) -> dict[str, Any]:
    """A schema-valid answer grounded in the prompt's own lines (name, kind, facts)."""
    def field_of(name: str) -> str:
        m = re.search(rf"^{name}: (.*)$", prompt, re.M)
        return m.group(1).strip() if m else ""

    name, kind = field_of("name").split("::")[-1], field_of("kind").split(" ")[0] or "unit"
    level = "LLD" if kind in ("function", "method", "class") else "HLD"
    facts_match = re.search(r"Static facts \(JSON, grouped by aspect\):\n(.*)", prompt)
    groups: dict[str, Any] = {}
    if facts_match:
        try:
            groups = json.loads(facts_match.group(1))
        except json.JSONDecodeError:
            groups = {}
    interpretations = {aspect: f"The {aspect.replace('_', ' ')} of {name}: {json.dumps(value)[:160]}"
                       for group in groups.values() if isinstance(group, dict) for aspect, value in group.items()}
    return {
        "interpretations": interpretations,
        "combined_interpretation": f"{kind} {name} combines {len(interpretations)} aspects.",
        "explanation": {"level": level, "abstract": f"{name} is a {kind}.", "paraphrase": f"It implements {name}."},
        "labels": {"domain": field_of("repository") or "code", "context": f"{kind} in {field_of('path')}",
                   "tags": [kind, "test-server"], "title": name, "description": f"The {name} {kind}."},
    }


def answer_synthesize(prompt: str) -> str:
    """Synthesize's requests: a generated answer grounded in the context, or a judge's verdict (short or empty
    responses score low, so tests can see the judge fail pairs)."""
    if prompt.startswith("repotune-request: judge"):
        match = re.search(r"<response>\n(.*?)\n?</response>", prompt, re.S)
        response = (match.group(1) if match else "").strip()
        score = 1 if not response else 2 if len(response) < 20 else 4
        return json.dumps({"score": score, "reason": f"{len(response)} characters of response"})
    described = re.search(r"^description: (.*)$", prompt, re.M)
    name = re.search(r"^name: (.*)$", prompt, re.M)
    subject = name.group(1).strip() if name else "this unit"
    return f"{subject}: {described.group(1).strip() if described else 'does what its code shows'}"
