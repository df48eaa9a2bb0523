"""The training loop: a plain function that runs in this process (CPU or GPU, no Ray needed) or as a Ray Train
TorchTrainer worker (DDP). LoRA via peft, loss on assistant tokens only, packed rows with per-document
attention, checkpoints (adapter, optimizer, step) that a restarted run resumes from.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from repotune.core.errors import StepError
from repotune.core.progress import progress
from repotune.train.config import TrainConfig
from repotune.train.data import batches, collate, encode, pack, pad_rows, with_targets


def _ray_train() -> Any:
    """Ray Train's module when this function runs inside a TorchTrainer worker, else None."""
    try:
        import ray.train

        ray.train.get_context().get_world_size()
        return ray.train
    except Exception:  # not under Ray Train (or no Ray at all, as on the GPU machine)
        return None


def _save_checkpoint(directory: Path, model: Any, model_state: dict[str, Any] | None, optimizer_state: dict,
                     step: int, tokenizer: Any) -> None:
    import torch

    from repotune.train.parallel import unwrap

    if model_state is None:
        unwrap(model).save_pretrained(directory)
    else:  # gathered from FSDP shards
        unwrap(model).save_pretrained(directory, state_dict=model_state)
    tokenizer.save_pretrained(directory)
    torch.save(optimizer_state, directory / "optimizer.pt")
    (directory / "state.json").write_text(json.dumps({"step": step}))


def _read_checkpoint(directory: Path) -> tuple[dict[str, Any], dict[str, Any], int]:
    """(adapter weights, optimizer state, step) of a checkpoint folder, read into memory."""
    import torch
    from safetensors.torch import load_file

    return (load_file(str(directory / "adapter_model.safetensors")),
            torch.load(directory / "optimizer.pt", weights_only=True),
            json.loads((directory / "state.json").read_text())["step"])


def target_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy over the labelled (assistant) tokens, with logits computed only where a label follows.

    Equal to the model's own loss from `labels=` (tested), without projecting every prompt position onto the
    vocabulary: SmolLM2's 49k-word head is a fifth of its forward pass, and its logits for a 1,024-token row
    alone are 200 MB that softmax and backward each read again."""
    import torch.nn.functional as F

    keep = batch["labels"].roll(-1, dims=1) != -100
    keep[:, -1] = False
    # attention_mask None + use_cache False: transformers reads the packing from position_ids and keeps
    # attention inside each document (with a cache it silently attends across documents).
    out = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False,
                logits_to_keep=keep)
    targets = batch["labels"].roll(-1, dims=1)[keep]
    return F.cross_entropy(out.logits.float().reshape(-1, out.logits.shape[-1]), targets)


def validation_loss(model: Any, rows: list[Any], pad_id: int, device: str) -> float:
    """Mean loss per assistant token over the validation rows (same packing, no dropout, no gradients)."""
    import torch

    from repotune.train.parallel import unwrap

    inner = unwrap(model)
    inner.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for row in rows:
            batch = {k: v.to(device) for k, v in collate([row], pad_id).items()}
            n = int((batch["labels"][:, 1:] != -100).sum())
            if n:
                total += float(target_loss(inner, batch)) * n
                tokens += n
    inner.train()
    return total / tokens if tokens else float("nan")


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up over warmup_steps, then constant or cosine decay to a tenth at max_steps."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.learning_rate
    done = (step - cfg.warmup_steps) / max(cfg.max_steps - cfg.warmup_steps - 1, 1)
    return cfg.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(done, 1.0))))


def train_loop(config: dict[str, Any]) -> list[dict[str, float]]:
    """config: {"train": TrainConfig fields, "examples": [chat examples], "val_examples": [chat examples] (the
    last step reports their loss as val_loss), "output_dir": str | None, "resume_from": str | None,
    "fail_at_step": int | None (fault injection for tests)}."""
    import torch

    from repotune.train import parallel
    from repotune.train.model_setup import model_for_training

    cfg = TrainConfig(**config["train"])
    rt = _ray_train()
    rank = rt.get_context().get_world_rank() if rt else 0
    world = rt.get_context().get_world_size() if rt else 1
    device = "cuda" if torch.cuda.is_available() and (cfg.use_gpu or not rt) and cfg.precision != "fp32" else "cpu"
    if rt and cfg.use_gpu:
        import ray.train.torch

        device = str(ray.train.torch.get_device())
    dtype = torch.bfloat16 if (cfg.precision == "bf16" or (cfg.precision == "auto" and device.startswith("cuda"))) \
        else torch.float32
    torch.manual_seed(cfg.seed)
    model, base, tokenizer = model_for_training(cfg, device, dtype)
    model.train()
    budget = cfg.token_budget if cfg.packing else cfg.max_length
    docs, no_target = with_targets([encode(ex, tokenizer, cfg.max_length) for ex in config["examples"]], budget)
    if not docs:
        raise StepError(f"train: none of the {no_target} training examples keeps an answer token within "
                         f"train.max_length={cfg.max_length} / token_budget={cfg.token_budget}")
    rows = pack(docs, cfg.token_budget) if cfg.packing else pad_rows(docs)
    if cfg.max_epochs is not None:  # the same count on every rank: from all rows, before they are dealt out
        epoch_steps = math.ceil(len(rows) / world / cfg.rows_per_step)
        cfg = cfg.model_copy(update={"max_steps": min(cfg.max_steps, math.ceil(cfg.max_epochs * epoch_steps))})
    rows = rows[rank::world] or rows[:1]
    val_docs, _ = with_targets([encode(ex, tokenizer, cfg.max_length) for ex in config.get("val_examples") or []],
                               budget)
    val_rows = pack(val_docs, cfg.token_budget) if cfg.packing else pad_rows(val_docs)
    start, saved = 0, None
    checkpoint = rt.get_checkpoint() if rt else None
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            saved = _read_checkpoint(Path(d))
    elif config.get("resume_from"):
        saved = _read_checkpoint(Path(config["resume_from"]))
    if saved is not None:  # weights before wrapping (full tensors), optimizer state after (it may be sharded)
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, saved[0])
        start = saved[2]
    model = parallel.wrap(model, cfg.strategy, world if rt else 1)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    if saved is not None:
        parallel.load_optimizer(model, optimizer, saved[1])
    n_params = sum(p.numel() for p in base.parameters())
    history: list[dict[str, float]] = []
    per_epoch = batches(rows, cfg.rows_per_step, cfg.seed, 0)
    t_last = time.perf_counter()
    best_val = float("inf")
    with ExitStack() as stack:
        advance = stack.enter_context(progress("train", cfg.max_steps - start, "steps")) if not rt else None
        for step in range(start, cfg.max_steps):
            if config.get("fail_at_step") == step and checkpoint is None and not config.get("resume_from") and rank == 0:
                raise RuntimeError(f"injected failure at step {step}")
            epoch, index = divmod(step, len(per_epoch))
            batch = collate(batches(rows, cfg.rows_per_step, cfg.seed, epoch)[index], tokenizer.pad_token_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            lr = learning_rate(cfg, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = target_loss(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            now = time.perf_counter()
            tokens = sum(len(r) for r in batch["input_ids"].tolist()) - int(
                (batch["input_ids"] == tokenizer.pad_token_id).sum())
            seconds = now - t_last
            t_last = now
            metrics = {"step": step + 1, "resumed_from": start, "loss": float(loss.detach()), "lr": lr,
                       "examples_without_target": no_target,
                       "tokens": tokens * world,
                       "tokens_per_s": tokens * world / seconds,
                       # FLOP convention: 6 x parameters x tokens (forward + backward), attention terms left out
                       "tflops": 6 * n_params * tokens * world / seconds / 1e12,
                       "memory_gib": (torch.cuda.max_memory_allocated() / 2**30) if device.startswith("cuda") else 0.0}
            last = step + 1 == cfg.max_steps
            if val_rows and (last or (cfg.eval_every and (step + 1) % cfg.eval_every == 0)):
                metrics["val_loss"] = validation_loss(model, val_rows, tokenizer.pad_token_id, device)
                if cfg.keep_best and not rt and config.get("output_dir") and metrics["val_loss"] < best_val:
                    best_val = metrics["val_loss"]
                    _save_checkpoint(Path(config["output_dir"]) / "best", model, None, {}, step + 1, tokenizer)
                t_last = time.perf_counter()  # the validation's time is no training step's
            history.append(metrics)
            if advance is not None:
                advance(loss=metrics["loss"], tokens_per_s=round(metrics["tokens_per_s"]))
            if (step + 1) % cfg.checkpoint_every == 0 or last:
                model_state, optimizer_state = parallel.gather(model, optimizer)  # collective under FSDP
                with tempfile.TemporaryDirectory() as tmp:
                    if rank == 0:
                        _save_checkpoint(Path(tmp), model, model_state, optimizer_state, step + 1, tokenizer)
                    if rt:
                        from ray.train import Checkpoint

                        rt.report(metrics, checkpoint=Checkpoint.from_directory(tmp) if rank == 0 else None)
                    elif config.get("output_dir"):
                        import shutil

                        dest = Path(config["output_dir"]) / f"checkpoint-{step + 1:06d}"
                        shutil.copytree(tmp, dest)
            elif rt:
                rt.report(metrics)
    if not rt and config.get("output_dir"):
        (Path(config["output_dir"]) / "history.json").write_text(json.dumps(history))
    return history

