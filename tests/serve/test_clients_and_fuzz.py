"""The predictor as real clients use it (the `openai` SDK, KServe's InferenceRESTClient), hostile input that must
get a 4xx and never hang it, health while it generates, and batching that changes no answer."""

import asyncio
import json
import random
import statistics
import threading
import time

import httpx
import openai
import pytest

from tests.serve.conftest import make_adapter, predictor


def sdk(url):
    return openai.OpenAI(base_url=f"{url}/openai/v1", api_key="unused", max_retries=0, timeout=60)


def test_the_openai_sdk_chat_completions_and_models(server):
    url, _ = server
    client = sdk(url)
    r = client.chat.completions.create(model="docs", messages=[{"role": "user", "content": "def f(): pass"}],
                                       max_completion_tokens=5)
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 5 and r.created > 0
    parts = client.chat.completions.create(model="docs", max_tokens=5, messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "def f(): "}, {"type": "text", "text": "pass"}]}])
    assert parts.choices[0].message.role == "assistant" and "{'type'" not in parts.choices[0].message.content
    c = client.completions.create(model="tags", prompt="def add(a, b):", max_tokens=4)
    assert c.choices[0].finish_reason == "length" and c.usage.prompt_tokens > 0
    assert {m.id for m in client.models.list()} == {"repotune", "docs", "tags"}
    assert set(httpx.get(f"{url}/v1/models").json()["models"]) == {"repotune", "docs", "tags"}  # kserve's list
    assert all(httpx.get(f"{url}/v2/models/{name}/ready").status_code == 200 for name in ("docs", "tags"))


def test_the_openai_sdk_streams_with_role_finish_reason_and_usage(server):
    url, _ = server
    stream = sdk(url).chat.completions.create(model="docs", messages=[{"role": "user", "content": "x = 1"}],
                                              max_tokens=6, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == "length"
    assert chunks[-1].usage.completion_tokens == 6 and not chunks[-1].choices
    assert all(c.created > 0 and c.id == chunks[0].id for c in chunks)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    whole = sdk(url).chat.completions.create(model="docs", messages=[{"role": "user", "content": "x = 1"}],
                                             max_tokens=6)
    assert streamed == whole.choices[0].message.content


def test_a_stop_sequence_ends_the_answer_before_it(server):
    url, _ = server
    client = sdk(url)
    whole = client.completions.create(model="docs", prompt="def add(a, b):", max_tokens=12).choices[0].text
    stop = whole[3:5]
    assume = stop.strip()
    if not assume:
        pytest.skip("the random model's answer has no usable stop text")
    cut = client.completions.create(model="docs", prompt="def add(a, b):", max_tokens=12, stop=[stop]).choices[0]
    assert cut.finish_reason == "stop" and cut.text == whole[:whole.find(stop)]


def test_the_sdk_sees_bad_requests_as_400_with_one_line(server):
    url, _ = server
    client = sdk(url)
    for kwargs in ({"n": 2}, {"temperature": -1}, {"max_tokens": 0}, {"model": "nope"}, {"stop": [""]}):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(**{"model": "docs", "messages": [{"role": "user", "content": "x"}],
                                              "max_tokens": 3, **kwargs})
        message = caught.value.body["message"]
        assert "\n" not in message and "Traceback" not in message, message


def test_kserve_rest_client_v1_and_v2(server):
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    url, _ = server

    async def both():
        v1 = InferenceRESTClient(RESTConfig(protocol="v1", retries=0, timeout=60))
        out1 = await v1.infer(url, {"instances": [{"prompt": "def f():", "max_tokens": 3},
                                                  {"prompt": "x = 1", "model": "docs", "max_tokens": 3}]},
                              model_name="repotune")
        v2 = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=60))
        text = InferInput(name="text", shape=[2], datatype="BYTES", data=["def f():", "y = 2"])
        out2 = await v2.infer(url, InferRequest(model_name="repotune", infer_inputs=[text], parameters={"max_tokens": 3}),
                              model_name="repotune")
        await v1.close()
        await v2.close()
        return out1, out2

    out1, out2 = asyncio.run(both())
    assert len(out1["predictions"]) == 2 and all(isinstance(p, str) for p in out1["predictions"])
    assert out2.outputs[0].name == "text" and len(out2.outputs[0].data) == 2


def _hostile_requests(seed: int = 0) -> list[tuple[str, str, dict[str, str], bytes]]:
    """(method, path, headers, body): malformed, mistyped, oversized and odd requests of every route."""
    rng = random.Random(seed)
    json_type = {"content-type": "application/json"}
    bad_values = [None, "abc", "1e3", -1, 0, 10**12, 1e308, float("nan"), [], {}, True, "", "\u0000", "é" * 50]
    fields = ["model", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stop", "stream",
              "stream_options", "prompt", "messages"]
    good_chat = {"model": "docs", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2}
    good_completion = {"model": "docs", "prompt": "x", "max_tokens": 2}
    out = []
    for path, good in (("/openai/v1/chat/completions", good_chat), ("/openai/v1/completions", good_completion)):
        for name in fields:
            for value in bad_values:
                body = {**good, name: value}
                out.append(("POST", path, json_type, json.dumps(body, allow_nan=True).encode()))
        for raw in (b"", b"{", b"[]", b"null", b'"text"', b"\xff\xfe{}", b'{"a": ' * 5000, b"{}" * 3,
                    json.dumps({**good, "stream": True, "prompt": "", "messages": []}).encode()):
            out.append(("POST", path, json_type, raw))
        out.append(("POST", path, {"content-type": "text/plain"}, json.dumps(good).encode()))
        out.append(("POST", path, {}, json.dumps(good).encode()))
        roles = [{"role": "tool", "content": "x"}, {"role": "user"}, {"role": "user", "content": 5},
                 {"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}, "hi", None]
        if "chat" in path:
            out.extend(("POST", path, json_type, json.dumps({**good, "messages": [m]}).encode()) for m in roles)
    v1 = "/v1/models/repotune:predict"
    for body in ({"instances": []}, {"instances": "x"}, {"instances": [1]}, {"instances": [{"prompt": 5}]},
                 {"instances": [{"prompt": "x", "max_tokens": "9"}]}, {"instances": [{"prompt": ""}]},
                 {"instances": [{"prompt": "x", "model": ["a"]}]}, {"instances": [{"prompt": "x"}] * 500},
                 {"instances": [{"messages": "x"}]}, {}):
        out.append(("POST", v1, json_type, json.dumps(body).encode()))
    out.append(("POST", v1, json_type, b"\xff"))
    v2 = "/v2/models/repotune/infer"
    for inputs in ([], [{"name": "text", "shape": [1], "datatype": "INT32", "data": [1]}],
                   [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [""]}],
                   [{"name": "text", "shape": [400], "datatype": "BYTES", "data": ["x"] * 400}],
                   [{"name": "other", "shape": [1], "datatype": "BYTES", "data": ["x"]}]):
        out.append(("POST", v2, json_type, json.dumps({"inputs": inputs}).encode()))
    out.append(("POST", v2, json_type, b"{not json"))
    for body in ({}, {"lora_name": "../x", "lora_path": "store:runs/x"}, {"lora_name": "a", "lora_path": "/etc/passwd"},
                 {"lora_name": "a", "lora_path": "store:runs/nothing"}, {"lora_name": 5}, {"lora_name": "a" * 100},
                 {"lora_name": "a", "lora_path": "store:runs/../../etc"}, {"lora_name": "never-loaded", "lora_path": ""}):
        for route in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter"):
            out.append(("POST", route, json_type, json.dumps(body).encode()))
    for path in ("/v1/models/nope:predict", "/v2/models/nope/ready", "/openai/v1/nothing", "/../../etc/passwd"):
        out.append(("GET", path, {}, b""))
    rng.shuffle(out)
    return out


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_hostile_requests_get_4xx_and_the_server_keeps_answering(server):
    url, proc = server
    requests = _hostile_requests()
    assert len(requests) >= 200
    rss_before = _rss_kb(proc.pid)
    statuses = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for method, path, headers, body in requests:
            r = client.request(method, path, headers=headers, content=body)
            statuses.append(r.status_code)
            assert r.status_code < 500, (path, body[:200], r.status_code, r.text[:300])
            assert "Traceback" not in r.text
        assert client.get("/v2/health/ready").status_code == 200
    assert sum(400 <= s < 500 for s in statuses) >= 200
    assert _rss_kb(proc.pid) < rss_before + 200 * 1024, "RSS grew by more than 200 MiB"
    assert sdk(url).completions.create(model="docs", prompt="x", max_tokens=2).choices[0].text is not None


def test_an_empty_streamed_prompt_is_refused_and_hangs_nothing(server):
    url, _ = server
    r = httpx.post(f"{url}/openai/v1/completions", json={"model": "docs", "prompt": "", "max_tokens": 4,
                                                          "stream": True}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("prompt")
    assert httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200


def test_health_answers_fast_while_many_clients_stream(server):
    url, _ = server
    stop = threading.Event()

    def stream_forever():
        with httpx.Client(timeout=120) as c:
            while not stop.is_set():
                with c.stream("POST", f"{url}/openai/v1/completions", json={
                        "model": random.choice(["docs", "tags", None]), "prompt": "def f():", "max_tokens": 48,
                        "stream": True}) as r:
                    for _ in r.iter_lines():
                        pass

    workers = [threading.Thread(target=stream_forever) for _ in range(8)]
    for w in workers:
        w.start()
    time.sleep(1.5)
    latencies = []
    with httpx.Client(timeout=10) as c:
        for _ in range(30):
            t0 = time.perf_counter()
            assert c.get(f"{url}/v2/health/ready").status_code == 200
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.05)
    stop.set()
    for w in workers:
        w.join(120)
    assert statistics.median(latencies) < 0.05, latencies


def test_concurrent_rows_for_different_adapters_share_a_batch_and_answer_as_alone(tmp_path):
    from repotune.serve.config import ServeConfig
    from repotune.serve.predictor import RepotunePredictor

    make_adapter(tmp_path / "docs", 1)
    make_adapter(tmp_path / "tags", 2)
    predictor = RepotunePredictor(ServeConfig(adapters={"docs": str(tmp_path / "docs"), "tags": str(tmp_path / "tags")},
                                              max_batch_size=8, max_wait_ms=50), "tiny")
    predictor.load()
    prompts = ["def add(a, b): return a + b", "class Cart:\n    pass", "import os\nprint(os.getcwd())", "x = 1"]
    models = [None, "docs", "tags", "docs"]

    async def compare():
        alone = [await predictor.run(predictor.job(p, m, 10)) for p, m in zip(prompts, models, strict=True)]
        before = predictor.batcher.batches
        together = await asyncio.gather(*(predictor.run(predictor.job(p, m, 10)) for p, m in zip(prompts, models)))
        return alone, together, predictor.batcher.batches - before

    alone, together, batches = asyncio.run(compare())
    predictor.batcher.close()
    assert batches == 1
    assert [r["text"] for r in together] == [r["text"] for r in alone]
    assert len({r["text"] for r in alone}) >= 3, "base and adapters answer differently"


def test_a_request_joins_a_running_batch_and_answers_as_alone(tmp_path):
    """Continuous batching: a row that arrives mid-batch joins at the next step (its cache left-padded into the
    batch's), a sampled row shares the step with greedy ones, a short row leaves early; greedy answers unchanged."""
    from repotune.serve.config import ServeConfig
    from repotune.serve.predictor import RepotunePredictor

    make_adapter(tmp_path / "docs", 1)
    predictor = RepotunePredictor(ServeConfig(adapters={"docs": str(tmp_path / "docs")}, max_batch_size=8,
                                              max_wait_ms=0), "tiny")
    predictor.load()
    long_prompt, late_prompt = "def add(a, b):\n    return a + b\n" * 3, "class Cart:"
    predictor.model.generation_config.min_new_tokens = 40  # the random tiny model must not stop the long row early

    async def compare():
        alone_long = await predictor.run(predictor.job(long_prompt, "docs", 40))
        alone_late = await predictor.run(predictor.job(late_prompt, None, 6))
        first = predictor.batcher.submit(predictor.job(long_prompt, "docs", 40))
        pieces = [(await first.get())]  # the long row is decoding: the batch runs
        late = asyncio.ensure_future(predictor.run(predictor.job(late_prompt, None, 6)))
        sampled = asyncio.ensure_future(predictor.run(predictor.job(late_prompt, "docs", 6, temperature=1.0)))
        while pieces[-1][0] == "token":
            pieces.append(await first.get())
        late_done_first = late.done()  # the short row ended before the long one
        together_long = "".join(p[1] for p in pieces if p[0] == "token")
        return alone_long, alone_late, together_long, await late, await sampled, late_done_first

    alone_long, alone_late, together_long, late, sampled, late_done_first = asyncio.run(compare())
    joined, batches = predictor.batcher.joined, predictor.batcher.batches
    predictor.batcher.close()
    assert joined >= 1 and batches == 3, (joined, batches)
    assert together_long == alone_long["text"] and late["text"] == alone_late["text"]
    assert late["finish_reason"] == "length" and late["completion_tokens"] == 6 and sampled["completion_tokens"] == 6
    assert late_done_first


def test_a_failure_inside_generation_ends_every_row_with_an_error(tmp_path):
    """A fault injected into the model's forward: every waiting row hears of it, nothing waits for good."""
    from repotune.serve.engine import BatchEngine, Job

    class Broken:
        generation_config = type("G", (), {"eos_token_id": 0})()

        def __call__(self, **kwargs):
            raise RuntimeError("CUDA error: device-side assert\nsecond line")

    class Tok:
        pad_token_id, eos_token_id = 0, 0

    engine = BatchEngine(Broken(), Tok(), set(), max_batch_size=4, max_wait_ms=20)

    async def two():
        queues = [engine.submit(Job(ids=[1, 2], adapter=None, max_tokens=3)) for _ in range(2)]
        return [await asyncio.wait_for(q.get(), 5) for q in queues]

    events = asyncio.run(two())
    engine.close()
    assert all(e[0] == "error" and "device-side assert" in e[1] and "\n" not in e[1] for e in events)


def test_sigterm_drains_a_request_in_flight_and_exits(tmp_path):
    import signal

    with predictor(tmp_path) as (url, proc):
        result = {}

        def long_request():
            r = httpx.post(f"{url}/openai/v1/completions", timeout=60,
                           json={"prompt": "def f():", "max_tokens": 200})
            result["status"], result["reason"] = r.status_code, r.json()["choices"][0]["finish_reason"]

        worker = threading.Thread(target=long_request)
        worker.start()
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        worker.join(60)
        assert proc.wait(60) == 0
        assert result.get("status") == 200, result
