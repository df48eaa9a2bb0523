"""Synthesize through the run's LLM client (the llm section) against a real OpenAI-compatible server on 127.0.0.1:
generated responses, docstrings written for units without one, the LLM judge, the cache and the accounting."""

import json

import pytest

from repotune.config import load_config
from repotune.core.errors import ConfigError, StepError
from repotune.llm.testserver import Faults, TestServer
from repotune.runs import Runner
from repotune.core.store import read_table
from tests.label.conftest import SAMPLE


def _config(tmp_path, url: str, *extra: str):
    return load_config(overrides=[
        f"store.url=file://{tmp_path}/store", f"analyze.source={SAMPLE}", "analyze.use_ray=false",
        "label.backend=openai", f"llm.base_url={url}", "llm.model=test-model", "llm.timeout_s=2",
        "llm.backoff_s=0.01", "synthesize.pairs_per_unit=4", *extra])


def _synthesized(config):
    manifest = Runner(config).run(["analyze", "label", "synthesize"])
    store = Runner(config).store
    stats = json.loads(store.get_bytes(f"runs/{config.run_id}/synthesize/synthesize.json"))
    pairs = read_table(store, f"runs/{config.run_id}/synthesize/synthetic.parquet").to_pylist()
    return manifest, stats, pairs


def test_llm_generation_writes_answers_and_missing_docstrings_and_reruns_from_cache(tmp_path):
    with TestServer() as server:
        config = _config(tmp_path, server.url, "synthesize.generation=llm")
        _, stats, pairs = _synthesized(config)
        generated = [p for p in pairs if p["generated"]]
        assert {p["task"] for p in generated} == {"repo_qa", "code2doc"}
        assert all(p["response"] and ": " in p["response"] for p in generated)  # the server's grounded answer
        assert "no_docstring" not in stats["skipped"]  # the model wrote them
        assert stats["llm"]["generate_requests"] == len(generated) and stats["llm"]["generate_cached"] == 0
        assert stats["llm"]["prompt_tokens"] > 0 and stats["generated"] == len(generated)
        assert all(p["source"] == "llm" for p in generated)
        offline = _config(tmp_path / "offline", server.url)
        _, offline_stats, offline_pairs = _synthesized(offline)
        assert offline_stats["skipped"]["no_docstring"] > 0 and not [p for p in offline_pairs if p["generated"]]
        requests_before = len(server.log)
        _, again, _ = _synthesized(config.model_copy(update={"run_id": "again"}))
        assert again["llm"]["generate_cached"] == again["llm"]["generate_requests"]
        generate_calls = [r for r in server.log[requests_before:] if r.unit_id is None]
        assert generate_calls == []  # labels and answers both came from the store's cache


def test_faults_are_retried_failures_are_counted_and_a_dead_endpoint_stops_the_step(tmp_path):
    with TestServer(faults=Faults(rate=0.3, kinds=("429", "500", "truncated"))) as flaky:
        _, stats, pairs = _synthesized(_config(tmp_path / "flaky", flaky.url, "synthesize.generation=llm",
                                               "llm.max_retries=8"))
        assert stats["skipped"].get("llm_failed", 0) == 0 and any(p["generated"] for p in pairs)
    with TestServer() as server:
        config = _config(tmp_path / "down", server.url, "synthesize.generation=llm", "llm.max_retries=0",
                         "llm.circuit_breaker=1000")
        Runner(config).run(["analyze", "label"])  # labels come while the endpoint is up
        server.faults.rate, server.faults.kinds = 1.0, ("500",)
        _, stats, pairs = _synthesized(config)
        assert stats["skipped"]["llm_failed"] > 0 and not [p for p in pairs if p["generated"]]
        assert stats["llm"]["failures"] == {"generate: InternalServerError": stats["skipped"]["llm_failed"]}
    with pytest.raises(StepError, match="failed .* times in a row; answers so far are cached"):
        Runner(_dead(tmp_path)).run(["synthesize"])


def _dead(tmp_path):
    """A run whose labels exist, then the endpoint goes away (the server is stopped, the port refuses)."""
    with TestServer() as server:
        config = _config(tmp_path / "dead", server.url, "synthesize.generation=llm", "llm.max_retries=0",
                         "llm.circuit_breaker=3")
        Runner(config).run(["analyze", "label"])
    return config


def test_the_judge_scores_every_pair_and_fails_low_ones(tmp_path):
    with TestServer() as server:
        _, stats, pairs = _synthesized(_config(tmp_path, server.url, "synthesize.judge=true",
                                               "synthesize.judge_min_score=3"))
    checks = [json.loads(p["quality"]) for p in pairs]
    assert all(c["judge_score"] in (1, 2, 4) for c in checks)
    low = [p for p, c in zip(pairs, checks) if c["judge_score"] < 3]
    assert low and not any(p["quality_ok"] for p in low)  # e.g. code2tags answers shorter than 20 characters
    outcome = stats["judge_outcome"]
    assert outcome["below_min"] == len(low) and sum(outcome.values()) == len(pairs)
    assert stats["llm"]["judge_requests"] == len(pairs)


def test_llm_generation_needs_the_llm_endpoint(tmp_path):
    config = _config(tmp_path, "http://127.0.0.1:9/v1", "label.backend=offline", "llm.base_url=null",
                     "synthesize.generation=llm")
    with pytest.raises(ConfigError, match="set llm.base_url"):
        Runner(config).run(["analyze", "label", "synthesize"])


def test_a_run_config_with_the_old_label_endpoint_keys_says_where_they_went():
    from repotune.config import load_config

    with pytest.raises(ConfigError, match=r"label.base_url, label.model: the endpoint settings are the llm section "
                                          r"now \(llm.base_url, llm.model\)"):
        load_config(overrides=["label.base_url=http://vllm:8000/v1", "label.model=m"])
