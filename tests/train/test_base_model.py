"""Base models from URIs: the tiny model built locally, a store: URI round trip, clear errors."""

import pytest
import torch

from repotune.core.errors import ConfigError, StepError
from repotune.core.store import put_dir
from repotune.models import load_base_model, resolve_base_model


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("REPOTUNE_CACHE", str(tmp_path_factory.getbasetemp() / "model-cache"))


def test_tiny_is_deterministic_and_chat_ready():
    model, tokenizer = load_base_model("tiny")
    assert type(model).__name__ == "Qwen2ForCausalLM"
    text = tokenizer.apply_chat_template([{"role": "user", "content": "def add(a, b): return a + b"}],
                                         tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    ids = tokenizer("def add(a, b): return a + b", return_tensors="pt").input_ids
    assert tokenizer.decode(ids[0]) == "def add(a, b): return a + b"  # byte-level BPE round-trips
    with torch.no_grad():
        logits = model(ids).logits
    again, _ = load_base_model("tiny")
    with torch.no_grad():
        assert torch.equal(again(ids).logits, logits)


def test_store_uri_round_trip(local_store, tmp_path):
    model, tokenizer = load_base_model("tiny")
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    put_dir(local_store, "models/tiny", tmp_path / "m")
    loaded, _ = load_base_model("store:models/tiny", store=local_store)
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model(ids).logits)


def test_bad_uris_are_clear():
    with pytest.raises(ConfigError, match="no such folder"):
        resolve_base_model("./missing-model")
    with pytest.raises(ConfigError, match="needs the run's store"):
        resolve_base_model("store:models/x")
    with pytest.raises(StepError, match="no hub access here"):
        load_base_model("some-org/some-model-that-is-not-cached")


def test_an_s3_base_model_loads_from_the_runs_s3_server(s3_store, s3_bucket, monkeypatch):
    # the run's store names the endpoint and plain http; the environment names neither, so only the run's
    # settings can reach the model (s3://bucket opened from the environment alone fails)
    monkeypatch.delenv("REPOTUNE_S3_ENDPOINT")
    put_dir(s3_store.at(f"s3://{s3_bucket}/models"), "tiny", resolve_base_model("tiny"))
    model, _ = load_base_model(f"s3://{s3_bucket}/models/tiny", s3_store)
    assert type(model).__name__ == "Qwen2ForCausalLM"
