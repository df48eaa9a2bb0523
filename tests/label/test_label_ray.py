"""Labelling on Ray: each level in batches over a pool of actors gives the rows the in-process path gives,
for every backend; each level is saved as it ends, so a rerun starts at the first level missing; auto's choices."""

from __future__ import annotations

import pytest

from repotune.core.errors import StepError
from repotune.label import labelling as label_step
from repotune.label.config import LabelConfig
from repotune.label.ray_levels import share
from repotune.label.step import choose_ray, label_units
from repotune.llm.config import LLMEndpointConfig
from repotune.llm.testserver import TestServer

VARYING = ("latency_s",)  # measured per request: the one field two runs never share


def comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VARYING} for r in rows]


def test_offline_rows_on_ray_are_the_in_process_rows(sample_units, ray_local):
    in_process = label_units(sample_units, LabelConfig(), None)
    on_ray = label_units(sample_units, LabelConfig(units_per_task=3), None, use_ray=True, actors=2)
    assert on_ray == in_process


def test_openai_rows_on_ray_are_the_in_process_rows(sample_units, tmp_path, ray_local):
    from repotune.core.store import LocalStore

    llm = LLMEndpointConfig(model="test-model", concurrency=8, timeout_s=5.0, backoff_s=0.01)
    with TestServer() as server:
        llm = llm.model_copy(update={"base_url": server.url})
        in_process = label_units(sample_units, LabelConfig(backend="openai"), LocalStore(tmp_path / "a"), llm)
        before = len(server.log)
        store = LocalStore(tmp_path / "b")  # an empty answer cache: every unit is asked again, by the actors
        on_ray = label_units(sample_units, LabelConfig(backend="openai", units_per_task=4), store, llm, use_ray=True,
                             store_config={"url": store.url}, actors=2)
        asked = len(server.log) - before
    assert {r["status"] for r in on_ray} == {"ok"} and asked == len(sample_units)
    assert comparable(on_ray) == comparable(in_process)


def test_local_model_rows_on_ray_are_the_in_process_rows(sample_units, ray_local):
    units = [u for u in sample_units if u["kind"] in ("function", "method", "class")][:6]
    cfg = LabelConfig(backend="local", local_model="tiny", local_max_tokens=8, local_batch_size=2, units_per_task=2)
    in_process = label_units(units, cfg, None)
    on_ray = label_units(units, cfg, None, use_ray=True, actors=2)
    assert "local" in {r["source"] for r in in_process}
    assert on_ray == in_process


def test_a_rerun_takes_the_levels_saved_and_labels_from_the_first_missing(sample_units, local_store, monkeypatch):
    """A fault injected after the first level: the rerun keeps that level's rows as saved (paid then, not taken
    from the answer cache now) and labels the rest; a unit whose code changed relabels its level."""
    real = label_step.label_level
    calls = {"n": 0}

    def fails_on_the_second_level(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise StepError("injected: killed during the second level")
        return real(*args, **kwargs)

    def callable_requests(log) -> int:
        ids = {u["unit_id"] for u in sample_units if u["kind"] in ("function", "method")}
        return sum(r.unit_id in ids for r in log)

    llm = LLMEndpointConfig(model="test-model", concurrency=8, timeout_s=5.0, backoff_s=0.01)
    saved = "runs/r/label/levels/"
    with TestServer() as server:
        llm = llm.model_copy(update={"base_url": server.url})
        cfg = LabelConfig(backend="openai")
        monkeypatch.setattr(label_step, "label_level", fails_on_the_second_level)
        with pytest.raises(StepError, match="injected"):
            label_units(sample_units, cfg, local_store, llm, checkpoints=saved)
        monkeypatch.setattr(label_step, "label_level", real)
        first = len(server.log)
        rows = label_units(sample_units, cfg, local_store, llm, checkpoints=saved)
        assert callable_requests(server.log[first:]) == 0
        callables = [r for r in rows if r["kind"] in ("function", "method")]
        assert callables and all(not r["cached"] and r["requests"] >= 1 for r in callables)  # as saved, not cached
        assert [r["unit_id"] for r in rows] == [u["unit_id"] for u in sample_units]
        assert {r["status"] for r in rows} == {"ok"}
        second = len(server.log)
        changed = [dict(u, content_hash=f"new-{u['content_hash']}") if u["kind"] == "function" else u
                   for u in sample_units]
        label_units(changed, cfg, local_store, llm, checkpoints=saved)
        assert callable_requests(server.log[second:]) == sum(u["kind"] == "function" for u in sample_units)


def test_a_saved_level_belongs_to_the_model_that_labelled_it(sample_units):
    from repotune.label.labelling import level_identity

    level = [(u["unit_id"], u["content_hash"], []) for u in sample_units if u["kind"] == "function"]

    def _identity(cfg: LabelConfig, llm: LLMEndpointConfig, level: list, kids: None) -> str:
        return level_identity(cfg, llm, iter(level))

    def identity(**label) -> str:
        return _identity(LabelConfig(**label), LLMEndpointConfig(model="m1"), level, None)

    assert identity(backend="vllm", vllm={"model": "a"}) != identity(backend="vllm", vllm={"model": "b"})
    assert _identity(LabelConfig(backend="openai"), LLMEndpointConfig(model="m2"), level, None) != identity(
        backend="openai")
    assert identity(backend="offline") == identity(backend="offline", vllm={"model": "b"})


def test_actors_share_the_endpoint_limits():
    llm = LLMEndpointConfig(concurrency=16, tokens_per_minute=90_000)
    part = share(llm, 4)
    assert (part.concurrency, part.tokens_per_minute) == (4, 22_500)
    assert share(LLMEndpointConfig(concurrency=2), 4).concurrency == 1


def test_auto_uses_ray_where_it_pays():
    assert choose_ray("auto", "offline", 10**6, 16, None)[0] is False
    assert choose_ray("auto", "openai", 10**6, 16, None)[0] is False
    assert choose_ray("auto", "offline", 10, 2, "ray://head:10001") == (True, "auto: ray.address names a cluster")
    assert choose_ray("auto", "local", 20, 2, None)[0] is False
    used, why = choose_ray("auto", "local", 500, 2, None)
    assert used and "500 units" in why
    assert choose_ray("auto", "local", 500, 1, None)[0] is False
    assert choose_ray(True, "offline", 1, 1, None) == (True, "label.use_ray=true")


def test_the_vllm_backend_builds_a_ray_data_llm_processor_held_to_the_label_schema(sample_units):
    pytest.importorskip("ray.data.llm")
    import json

    from repotune.label.levels import unit_request
    from repotune.label.schema import json_schema
    from repotune.label.vllm_batch import postprocess, preprocess, processor_config

    cfg = LabelConfig(backend="vllm", vllm={"model": "/models/coder", "batch_size": 32, "concurrency": 2,
                                            "accelerator_type": "H100",
                                            "engine_kwargs": {"tensor_parallel_size": 2}})
    config = processor_config(cfg.vllm)
    assert (config.model_source, config.batch_size, config.accelerator_type) == ("/models/coder", 32, "H100")
    assert config.engine_kwargs["tensor_parallel_size"] == 2 and config.engine_kwargs["max_model_len"] == 8192
    unit = next(u for u in sample_units if u["kind"] == "function")
    messages = unit_request(unit, [], cfg).messages()  # what the OpenAI-compatible backend sends
    row = preprocess(800, 0.0)({"unit_id": unit["unit_id"], "messages": json.dumps(messages)})
    assert row["messages"] == messages
    assert row["sampling_params"] == {"temperature": 0.0, "max_tokens": 800, "structured_outputs": {"json": json_schema()}}
    out = postprocess({"unit_id": "u", "generated_text": "{}", "num_input_tokens": 5, "num_generated_tokens": 2})
    assert out == {"unit_id": "u", "answer": "{}", "error": "", "prompt_tokens": 5, "completion_tokens": 2}


@pytest.mark.gpu
def test_the_vllm_backend_labels_on_a_gpu(sample_units, ray_local):
    """On a GPU machine with vllm and a model folder (REPOTUNE_VLLM_MODEL): every unit labelled, schema-valid."""
    import os

    pytest.importorskip("vllm")
    model = os.environ.get("REPOTUNE_VLLM_MODEL") or pytest.skip("REPOTUNE_VLLM_MODEL names no model folder")
    cfg = LabelConfig(backend="vllm", vllm={"model": model, "max_model_len": 4096})
    rows = label_units(sample_units, cfg, None, LLMEndpointConfig(max_tokens=600))
    assert len(rows) == len(sample_units) and sum(r["status"] == "ok" for r in rows) >= 0.9 * len(rows)


def test_actors_keep_to_the_endpoints_concurrency_under_429s_and_lose_nothing(sample_units, local_store, ray_local):
    """Two actors share llm.concurrency=4: the server never holds more than 4 requests at once, while a third of
    its answers are 429s with Retry-After; every unit ends labelled, none twice."""
    from repotune.llm.testserver import Faults

    llm = LLMEndpointConfig(model="test-model", concurrency=4, timeout_s=5.0, backoff_s=0.01, max_retries=10)
    with TestServer(Faults(rate=0.3, kinds=("429",), seed=3, retry_after_s=0.05), latency_s=0.05) as server:
        rows = label_units(sample_units, LabelConfig(backend="openai", units_per_task=4), local_store,
                           llm.model_copy(update={"base_url": server.url}), use_ray=True,
                           store_config={"url": local_store.url}, actors=2)
    assert sum(r.outcome == "429" for r in server.log) > 0
    assert 2 <= server.max_in_flight <= 4
    assert [r["unit_id"] for r in rows] == [u["unit_id"] for u in sample_units]
    assert {r["status"] for r in rows} == {"ok"}
    assert sorted(server.answered()) == sorted(u["unit_id"] for u in sample_units)  # each answered once
