"""FSDP (fully_shard) over two Ray Train gloo workers: the loss falls, a worker failure resumes from the
sharded checkpoint, and the gathered adapter is a plain peft adapter that reloads."""

import json

import pytest
import torch

from repotune.core.store import open_store
from repotune.train.config import TrainConfig
from tests.train.test_loop import EXAMPLES


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("REPOTUNE_CACHE", str(tmp_path_factory.getbasetemp() / "model-cache"))


def test_fsdp_two_workers_trains_resumes_and_saves_a_plain_adapter(tmp_path, ray_local):
    from peft import PeftModel

    from repotune.models import load_base_model
    from repotune.train.step import run_with_ray

    cfg = TrainConfig(max_steps=12, learning_rate=5e-3, warmup_steps=2, token_budget=256, rows_per_step=1,
                      checkpoint_every=6, use_ray=True, num_workers=2, strategy="fsdp", max_failures=1,
                      cpus_per_worker=0.9)
    loop_config = {"train": cfg.model_dump(mode="json"), "examples": EXAMPLES, "val_examples": EXAMPLES[:2],
                   "fail_at_step": 8}
    store = open_store(f"file://{tmp_path / 'store'}")
    history, adapter = run_with_ray(cfg, loop_config, store, "runs/fsdp/train", None)
    assert history[-1]["step"] == 12 and history[-1]["resumed_from"] == 6  # after the failure at step 8
    assert history[-1]["loss"] < history[0]["loss"]
    assert json.loads((adapter / "state.json").read_text()) == {"step": 12}
    base, _ = load_base_model("tiny")
    tuned = PeftModel.from_pretrained(base, adapter).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert not torch.equal(tuned(ids).logits, load_base_model("tiny")[0](ids).logits)
    lora_b = [v for k, v in tuned.state_dict().items() if "lora_B" in k]
    assert lora_b and all(t.abs().sum() > 0 for t in lora_b)  # trained, gathered from both shards
