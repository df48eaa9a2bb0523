"""Sweeps pick the trial with the lowest validation loss (in-process and as parallel Ray Tune trials), a bad
trial is a clear error, GPU-only options are refused on CPU with the reason, and validation loss is measured on
a bounded, seeded sample of the val split."""

import json

import pytest

from repotune.config import RunConfig
from repotune.core.errors import ConfigError
from repotune.core.step import StepContext
from repotune.core.store import get_json, open_store
from repotune.train.config import TrainConfig
from repotune.train.model_setup import model_for_training
from repotune.train.step import run_step, val_sample
from repotune.train.sweep import trial_configs

EXAMPLES = [{"messages": [{"role": "user", "content": f"Write the docstring of:\ndef f{i}(x):\n    return x * {i}"},
                          {"role": "assistant", "content": f"Return x multiplied by {i}."}]} for i in range(16)]
TRIALS = [{"learning_rate": 1e-6}, {"learning_rate": 5e-3}]  # the second learns; the first barely moves


def _ctx(tmp_path, **train):
    config = RunConfig.model_validate({"run_id": "sweep", "store": {"url": f"file://{tmp_path / 'store'}"},
                                       "train": {"max_steps": 12, "token_budget": 256, "warmup_steps": 0,
                                                 "rows_per_step": 1, "checkpoint_every": 12, **train}})
    store = open_store(config.store)
    lines = [json.dumps(e) for e in EXAMPLES]
    store.put_bytes("runs/sweep/dataset/train.jsonl", "\n".join(lines[:12]).encode())
    store.put_bytes("runs/sweep/dataset/val.jsonl", "\n".join(lines[12:]).encode())
    return StepContext(config=config, store=store, step="train")


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("REPOTUNE_CACHE", str(tmp_path_factory.getbasetemp() / "model-cache"))


def _check_sweep(ctx, result):
    rows = get_json(ctx.store, "runs/sweep/train/sweep.json")
    assert [r["changes"] for r in rows] == TRIALS
    assert rows[1]["val_loss"] < rows[0]["val_loss"]
    summary = get_json(ctx.store, "runs/sweep/train/train.json")
    assert summary["sweep"]["chosen"] == 1 and summary["val_loss"] == pytest.approx(rows[1]["val_loss"])
    assert result.metrics["val_loss"] == pytest.approx(rows[1]["val_loss"], abs=1e-4)
    card = ctx.store.get_bytes("runs/sweep/train/adapter/README.md").decode()
    assert "lr 0.005" in card  # the card describes the chosen trial's config
    assert ctx.store.exists("runs/sweep/train/adapter/adapter_model.safetensors")


def test_in_process_sweep_keeps_the_lowest_validation_loss(tmp_path):
    ctx = _ctx(tmp_path, sweep=TRIALS)
    _check_sweep(ctx, run_step(ctx))


def test_ray_tune_sweep_runs_trials_in_parallel_and_keeps_the_best(tmp_path, ray_local):
    # two trials at once on two cores: each trial's one worker takes less than half of them
    ctx = _ctx(tmp_path, sweep=TRIALS, use_ray=True, num_workers=1, cpus_per_worker=0.9)
    _check_sweep(ctx, run_step(ctx))


def test_validation_loss_is_measured_on_a_bounded_seeded_sample(tmp_path):
    ctx = _ctx(tmp_path, max_steps=2, checkpoint_every=2, val_max_examples=3)
    result = run_step(ctx)
    assert get_json(ctx.store, "runs/sweep/train/train.json")["val_examples"] == {"scored": 3, "in_split": 4}
    assert result.counts["val_examples"] == 3 and result.counts["val_examples_unscored"] == 1
    split = list(range(40))
    sample = val_sample(split, 10, seed=0)
    assert len(sample) == 10 and sample == sorted(sample) and sample == val_sample(split, 10, seed=0)
    assert sample != val_sample(split, 10, seed=1) and val_sample(split, None, 0) == val_sample(split, 40, 0) == split


def test_a_bad_trial_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"train.sweep\[1\].lora_rr: Extra inputs are not permitted"):
        trial_configs(TrainConfig(sweep=[{"lora_r": 8}, {"lora_rr": 8}]))
    with pytest.raises(ConfigError, match=r"train.sweep\[0\].lora_r: Input should be greater than or equal to 1"):
        trial_configs(TrainConfig(sweep=[{"lora_r": 0}]))


@pytest.mark.parametrize("option", [{"attention": "flex_attention"}, {"liger_kernels": True},
                                    {"quantization": "4bit"}])
def test_gpu_only_options_are_refused_on_cpu_with_the_reason(option):
    with pytest.raises(ConfigError, match="need a CUDA GPU"):
        model_for_training(TrainConfig(**option), "cpu", None)


def test_eager_attention_trains_on_cpu():
    import torch

    model, _, _ = model_for_training(TrainConfig(attention="eager"), "cpu", torch.float32)
    assert model.base_model.model.config._attn_implementation == "eager"
