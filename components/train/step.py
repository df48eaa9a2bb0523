"""The train step: the dataset's train split → a LoRA adapter in the store, with metrics, a loss curve and a card."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

from repotune.errors import StepError
from repotune.steps import StepContext, StepResult
from repotune.store import put_dir, put_json
from repotune.train.config import TrainConfig
from repotune.train.data import read_jsonl
from repotune.train.loop import train_loop


def run_with_ray(cfg: TrainConfig, loop_config: dict[str, Any], store: Any, prefix: str,
                 ray_address: str | None) -> tuple[list[dict[str, float]], Path]:
    """TorchTrainer over cfg.num_workers workers; checkpoints go to the object store through Ray Train storage."""
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from repotune.store_s3 import ray_runtime_env

    if not ray.is_initialized():
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env=ray_runtime_env())
    fs, base = store.pyarrow_filesystem()
    trainer = TorchTrainer(
        train_loop, train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu),
        run_config=RunConfig(name="ray", storage_path=f"{base}/{prefix}", storage_filesystem=fs,
                             failure_config=FailureConfig(max_failures=cfg.max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=2)),
    )
    result = trainer.fit()
    if result.error is not None:
        raise StepError(f"training failed: {result.error}")
    local = Path(tempfile.mkdtemp(prefix="repotune-adapter-"))
    with result.checkpoint.as_directory() as d:
        shutil.copytree(d, local, dirs_exist_ok=True)
    history = list(result.metrics_dataframe.to_dict("records")) if result.metrics_dataframe is not None else []
    return history, local


def run_in_process(loop_config: dict[str, Any]) -> tuple[list[dict[str, float]], Path]:
    out = Path(tempfile.mkdtemp(prefix="repotune-train-"))
    history = train_loop({**loop_config, "output_dir": str(out)})
    last = sorted(out.glob("checkpoint-*"))[-1]
    return history, last


def loss_png(history: list[dict[str, float]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([h["step"] for h in history], [h["loss"] for h in history])
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (assistant tokens)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def adapter_card(cfg: TrainConfig, examples: int, history: list[dict[str, float]], run_id: str) -> str:
    first, last = history[0]["loss"], history[-1]["loss"]
    return f"""# repotune LoRA adapter ({run_id})

- base model: `{cfg.base_model}`
- data: {examples} training examples from `runs/{run_id}/dataset/train.jsonl`
- LoRA: r={cfg.lora_r}, alpha={cfg.lora_alpha}, dropout={cfg.lora_dropout}, targets={cfg.target_modules}
- training: {cfg.max_steps} steps, lr {cfg.learning_rate}, packing={cfg.packing} (budget {cfg.token_budget}),
  {cfg.num_workers if cfg.use_ray else 1} worker(s) ({'Ray Train' if cfg.use_ray else 'in-process'})
- loss: {first:.3f} at step 1 → {last:.3f} at step {int(history[-1]['step'])}

Load it with peft: `PeftModel.from_pretrained(base, "<this folder>")`, or serve it with `repotune serve`.
"""


def run_step(ctx: StepContext) -> StepResult:
    cfg = ctx.config.train
    if cfg.launcher == "rayjob":
        from repotune.train.rayjob import launch

        return launch(ctx)
    examples = read_jsonl(ctx.store.get_bytes(ctx.input_key("dataset", "train.jsonl")))
    if not examples:
        raise StepError("train: the train split is empty")
    loop_config = {"train": cfg.model_dump(mode="json"), "examples": examples}
    if cfg.use_ray:
        history, adapter_dir = run_with_ray(cfg, loop_config, ctx.store, ctx.prefix(), ctx.config.ray.address)
    else:
        history, adapter_dir = run_in_process(loop_config)
    for name in ("optimizer.pt", "state.json"):
        (adapter_dir / name).unlink(missing_ok=True)
    (adapter_dir / "README.md").write_text(adapter_card(cfg, len(examples), history, ctx.run_id))
    put_dir(ctx.store, ctx.key("adapter"), adapter_dir)
    shutil.rmtree(adapter_dir, ignore_errors=True)
    put_json(ctx.store, ctx.key("metrics.json"), history)
    ctx.store.put_bytes(ctx.key("loss.png"), loss_png(history))
    summary = {"steps": len(history), "loss_first": history[0]["loss"], "loss_last": history[-1]["loss"],
               "tokens_per_s": sum(h["tokens_per_s"] for h in history) / len(history),
               "tflops": sum(h["tflops"] for h in history) / len(history),
               "flop_convention": "6 x parameters x tokens per step (forward + backward), attention excluded"}
    put_json(ctx.store, ctx.key("train.json"), summary)
    return StepResult(
        outputs={"adapter": ctx.key("adapter/"), "metrics": ctx.key("metrics.json"), "loss_curve": ctx.key("loss.png"),
                 "summary": ctx.key("train.json")},
        counts={"examples": len(examples), "steps": len(history)},
        metrics={"loss_first": round(summary["loss_first"], 4), "loss_last": round(summary["loss_last"], 4),
                 "tokens_per_s": round(summary["tokens_per_s"], 1)},
        summary=f"  loss {summary['loss_first']:.3f} → {summary['loss_last']:.3f} over {len(history)} steps; "
                f"{summary['tokens_per_s']:.0f} tokens/s; adapter at {ctx.key('adapter/')}")


