"""The training loop on the tiny model: packing keeps attention inside documents, loss falls, checkpoints
resume, and Ray Train runs it on two gloo workers with storage in S3, surviving a worker failure."""

import json
from pathlib import Path

import pytest
import torch

from repotune.train.config import TrainConfig
from repotune.train.data import IGNORE, collate, encode, pack, pad_rows
from repotune.train.loop import train_loop

EXAMPLES = [
    {"messages": [{"role": "system", "content": "You document code."},
                  {"role": "user", "content": f"Write the docstring of:\ndef f{i}(x):\n    return x * {i}"},
                  {"role": "assistant", "content": f"Return x multiplied by {i}."}]}
    for i in range(12)
]


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("REPOTUNE_CACHE", str(tmp_path_factory.getbasetemp() / "model-cache"))
    torch.set_num_threads(2)


def test_labels_cover_only_the_assistant_answer():
    from repotune.train.base_model import load_base_model

    _, tokenizer = load_base_model("tiny")
    doc = encode(EXAMPLES[3], tokenizer, 512)
    answer = tokenizer.decode([t for t, l in zip(doc.input_ids, doc.labels) if l != IGNORE])
    assert answer.startswith("Return x multiplied by 3.")


def test_packed_and_unpacked_losses_match():
    """Two documents packed in one row give the same per-document losses as each alone: no cross attention."""
    from repotune.train.base_model import load_base_model

    base, tokenizer = load_base_model("tiny")
    docs = [encode(ex, tokenizer, 512) for ex in EXAMPLES[:3]]
    packed = collate(pack(docs, 4096), tokenizer.pad_token_id)
    assert packed["input_ids"].shape[0] == 1
    alone = [collate([row], tokenizer.pad_token_id) for row in pad_rows(docs)]
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum", ignore_index=IGNORE)
    with torch.no_grad():
        logits = base(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits
        packed_sum = loss_fn(logits[0, :-1], packed["labels"][0, 1:])
        alone_sum = sum(loss_fn(base(input_ids=b["input_ids"], position_ids=b["position_ids"], use_cache=False)
                                .logits[0, :-1], b["labels"][0, 1:]) for b in alone)
    assert torch.allclose(packed_sum, alone_sum, rtol=1e-4)


def _config(tmp_path: Path, **train) -> dict:
    cfg = TrainConfig(**{"max_steps": 24, "learning_rate": 5e-3, "warmup_steps": 2, "token_budget": 256,
                         "rows_per_step": 2, "checkpoint_every": 8, **train})
    return {"train": cfg.model_dump(mode="json"), "examples": EXAMPLES, "output_dir": str(tmp_path)}


def test_loss_falls_and_a_checkpoint_resumes(tmp_path):
    history = train_loop(_config(tmp_path))
    assert history[-1]["loss"] < history[0]["loss"] - 0.3
    checkpoints = sorted(p.name for p in tmp_path.glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-000008", "checkpoint-000016", "checkpoint-000024"]
    resumed = train_loop({**_config(tmp_path / "again"), "resume_from": str(tmp_path / "checkpoint-000016")})
    assert [h["step"] for h in resumed] == list(range(17, 25))
    assert json.loads((tmp_path / "checkpoint-000016" / "state.json").read_text()) == {"step": 16}


def test_adapter_reloads_with_identical_logits(tmp_path):
    from peft import PeftModel

    from repotune.train.base_model import load_base_model

    train_loop(_config(tmp_path, max_steps=8))
    saved = tmp_path / "checkpoint-000008"
    base, _ = load_base_model("tiny")
    tuned = PeftModel.from_pretrained(base, saved).eval()
    fresh, _ = load_base_model("tiny")
    again = PeftModel.from_pretrained(fresh, saved).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.equal(tuned(ids).logits, again(ids).logits)
        assert not torch.equal(tuned(ids).logits, load_base_model("tiny")[0](ids).logits)


@pytest.mark.s3
def test_ray_train_two_workers_s3_storage_and_a_worker_failure(s3_store, ray_local, tmp_path, monkeypatch):
    """2 gloo workers; rank 0 dies at step 10 after the step-8 checkpoint; the job resumes and finishes."""
    from repotune.train.step import run_with_ray

    cfg = TrainConfig(max_steps=16, learning_rate=5e-3, warmup_steps=2, token_budget=256, rows_per_step=1,
                      checkpoint_every=8, use_ray=True, num_workers=2, max_failures=2)
    loop_config = {"train": cfg.model_dump(mode="json"), "examples": EXAMPLES, "fail_at_step": 10}
    history, adapter = run_with_ray(cfg, loop_config, s3_store, "runs/ray-test/train", None)
    assert (adapter / "adapter_model.safetensors").is_file()
    assert json.loads((adapter / "state.json").read_text()) == {"step": 16}
    assert any("checkpoint" in info.key for info in s3_store.list("runs/ray-test/train/ray/"))
