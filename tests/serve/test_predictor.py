"""The predictor over HTTP on 127.0.0.1: tiny base model, two LoRA adapters, v1, v2 and OpenAI routes
(the server fixture: conftest.py)."""

import json
import os
import re
import signal
import subprocess
import sys

import httpx
import pytest

from tests.serve.conftest import make_adapter


def chat(url, model, content="def add(a, b): return a + b"):
    r = httpx.post(f"{url}/openai/v1/chat/completions", timeout=60, json={
        "model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 12})
    assert r.status_code == 200, r.text
    return r.json()


def test_openai_chat_and_adapters_differ(server):
    url, _ = server
    outputs = {m: chat(url, m)["choices"][0]["message"]["content"] for m in ("repotune", "docs", "tags")}
    assert len(set(outputs.values())) == 3, outputs
    assert chat(url, "docs")["choices"][0]["message"]["content"] == outputs["docs"]  # greedy: repeatable
    assert chat(url, "docs")["usage"]["completion_tokens"] > 0


def test_openai_completions_streaming_and_models(server):
    url, _ = server
    r = httpx.post(f"{url}/openai/v1/completions", json={"model": "tags", "prompt": "def f(x):", "max_tokens": 8},
                   timeout=60)
    assert r.status_code == 200 and r.json()["object"] == "text_completion"
    with httpx.stream("POST", f"{url}/openai/v1/chat/completions", timeout=60, json={
            "model": "docs", "stream": True, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}) as s:
        lines = [line for line in s.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and len(lines) >= 2
    assert json.loads(lines[0][6:])["object"] == "chat.completion.chunk"
    assert {m["id"] for m in httpx.get(f"{url}/openai/v1/models").json()["data"]} == {"repotune", "docs", "tags"}


def test_kserve_v1_and_v2_routes(server):
    url, _ = server
    r = httpx.post(f"{url}/v1/models/repotune:predict", timeout=60,
                   json={"instances": [{"prompt": "def f(x):", "model": "docs", "max_tokens": 6}]})
    assert r.status_code == 200 and isinstance(r.json()["predictions"][0], str)
    r = httpx.post(f"{url}/v2/models/repotune/infer", timeout=60, json={
        "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["def f(x):"]}],
        "parameters": {"model": "tags", "max_tokens": 6}})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["name"] == "text"


@pytest.mark.parametrize("body,status", [
    ({"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 400),
    ({"model": "docs", "messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}, 400),
    ({"model": "docs", "messages": []}, 400),
    ({"model": "docs", "messages": [{"role": "user", "content": "word " * 5000}]}, 400),
])
def test_bad_requests_get_4xx(server, body, status):
    url, _ = server
    r = httpx.post(f"{url}/openai/v1/chat/completions", json=body, timeout=60)
    assert r.status_code == status, r.text


def test_the_served_adapter_can_be_the_label_steps_llm(server):
    """Closing the loop: label.backend=openai, llm.base_url=<predictor>/openai/v1, llm.model=<adapter>.
    The tiny random model cannot write the JSON answer, so units fail with the reason, counted, none lost."""
    from repotune.label.config import LabelConfig
    from repotune.label.step import label_units
    from repotune.llm.config import LLMEndpointConfig
    from tests.label.conftest import SAMPLE, units_of

    url, _ = server
    units = [u for u in units_of(SAMPLE, "tinyshop") if u["kind"] in ("function", "method")][:3]
    llm = LLMEndpointConfig(base_url=f"{url}/openai/v1", model="docs", max_tokens=16, max_retries=0, timeout_s=60,
                            concurrency=2)
    rows = label_units(units, LabelConfig(backend="openai"), None, llm)
    by_id = {r["unit_id"]: r for r in rows}
    assert set(by_id) >= {u["unit_id"] for u in units}
    answered = [by_id[u["unit_id"]] for u in units]
    assert all(r["source"] == "llm" and r["model"] == "docs" for r in answered)
    assert all(r["prompt_tokens"] > 0 and r["completion_tokens"] > 0 for r in answered)  # the predictor's usage
    assert all(r["status"] == "failed" and "JSON" in r["error"] for r in answered)


def _serve_once(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repotune.serve", "--base", "tiny", "--port", "0", *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ})


def test_a_missing_or_broken_adapter_is_one_line_naming_the_adapter(tmp_path):
    (tmp_path / "empty").mkdir()
    broken = tmp_path / os.fsdecode(b"caf\xe9")  # a folder name that is not UTF-8
    make_adapter(broken, 3)
    (broken / "adapter_config.json").write_bytes(b"\xff\xfe{not json")
    cases = {f"docs={tmp_path / 'nope'}": "adapter 'docs' .*: no such folder",
             f"docs={tmp_path / 'empty'}": "adapter 'docs' .*: no adapter_config.json there",
             f"docs={broken}": "cannot load adapter 'docs' from .*caf\\\\udce9"}
    for adapter, message in cases.items():
        result = _serve_once("--adapter", adapter)
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == 2 or result.returncode == 4, result.stderr[-1500:]
        assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr[-1500:]
        assert re.search(message, lines[0]) and "base model" not in lines[0], lines[0]


def test_server_stops_cleanly(server):  # last: it stops the module's server
    url, proc = server
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
