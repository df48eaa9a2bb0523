"""The training loop on the tiny model: packing keeps attention inside documents, loss falls, checkpoints
resume, and Ray Train runs it on two gloo workers with storage in S3, surviving a worker failure."""

import json
import math
from pathlib import Path

import pytest
import torch

from repotune.train.config import TrainConfig
from repotune.train.data import IGNORE, collate, encode, pack, pad_rows, with_targets
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
    from repotune.models import load_base_model

    _, tokenizer = load_base_model("tiny")
    doc = encode(EXAMPLES[3], tokenizer, 512)
    answer = tokenizer.decode([t for t, l in zip(doc.input_ids, doc.labels) if l != IGNORE])
    assert answer.startswith("Return x multiplied by 3.")


def test_packed_and_unpacked_losses_match():
    """Two documents packed in one row give the same per-document losses as each alone: no cross attention."""
    from repotune.models import load_base_model

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

    from repotune.models import load_base_model

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


def test_target_loss_equals_the_models_own_loss_on_packed_rows():
    """Logits only where a label follows give the same mean loss (and gradients) as the full projection."""
    from peft import LoraConfig, get_peft_model

    from repotune.models import load_base_model
    from repotune.train.loop import target_loss

    base, tokenizer = load_base_model("tiny")
    model = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    docs = [encode(ex, tokenizer, 512) for ex in EXAMPLES[:6]]
    batch = collate(pack(docs, 160)[:2], tokenizer.pad_token_id)
    full = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], labels=batch["labels"],
                 use_cache=False).loss
    full.backward()
    full_grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
    model.zero_grad()
    ours = target_loss(model, batch)
    ours.backward()
    assert float(ours) == pytest.approx(float(full), rel=1e-5)
    for a, b in zip(full_grads, (p.grad for p in model.parameters() if p.requires_grad), strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)


def test_examples_without_answer_tokens_never_make_a_batch(tmp_path):
    """A prompt longer than max_length leaves no answer token: such rows are left out and counted, so every
    logged loss is finite (a batch of them gave loss NaN)."""
    long_prompt = {"messages": [{"role": "user", "content": "word " * 400}, {"role": "assistant", "content": "ok"}]}
    examples = [long_prompt] * 5 + EXAMPLES[:3]
    cfg = TrainConfig(max_steps=8, max_length=64, token_budget=64, rows_per_step=1, warmup_steps=0,
                      checkpoint_every=100, lora_r=4)
    history = train_loop({"train": cfg.model_dump(mode="json"), "examples": examples, "val_examples": [long_prompt],
                          "output_dir": str(tmp_path)})
    assert all(math.isfinite(h["loss"]) for h in history)
    assert history[-1]["examples_without_target"] == 5


def test_max_epochs_ends_training_and_its_schedule_early():
    cfg = TrainConfig(max_steps=50, max_epochs=1.5, token_budget=64, rows_per_step=2, warmup_steps=0,
                      schedule="cosine", checkpoint_every=100, lora_r=4)
    from repotune.models import load_base_model

    _, tokenizer = load_base_model("tiny")
    docs, _ = with_targets([encode(ex, tokenizer, cfg.max_length) for ex in EXAMPLES], cfg.token_budget)
    rows = pack(docs, cfg.token_budget)
    history = train_loop({"train": cfg.model_dump(mode="json"), "examples": EXAMPLES})
    assert len(history) == math.ceil(1.5 * math.ceil(len(rows) / 2)) < 50
    assert history[-1]["lr"] == pytest.approx(0.1 * cfg.learning_rate)  # the cosine reached its end there


def test_keep_best_keeps_the_step_with_the_lowest_validation_loss(tmp_path):
    cfg = TrainConfig(max_steps=8, eval_every=2, keep_best=True, token_budget=128, rows_per_step=1,
                      warmup_steps=0, learning_rate=5e-2, checkpoint_every=100, lora_r=4)
    history = train_loop({"train": cfg.model_dump(mode="json"), "examples": EXAMPLES[:8],
                          "val_examples": EXAMPLES[8:], "output_dir": str(tmp_path)})
    validated = {int(h["step"]): h["val_loss"] for h in history if "val_loss" in h}
    assert sorted(validated) == [2, 4, 6, 8]
    best = json.loads((tmp_path / "best" / "state.json").read_text())["step"]
    assert best == min(validated, key=validated.get)
    assert (tmp_path / "best" / "adapter_model.safetensors").is_file()
