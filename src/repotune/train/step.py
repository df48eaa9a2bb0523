"""The train step: the dataset's train split → a LoRA adapter in the store, with metrics, a loss curve and a card."""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from repotune.core.errors import StepError
from repotune.core.ray_setup import RayConfig, ensure_ray
from repotune.core.plots import chart_png
from repotune.core.step import StepContext, StepResult, step_prefix
from repotune.core.store import ObjectStore, put_dir, put_json
from repotune.train.config import TrainConfig, TrainJob
from repotune.contracts import read_jsonl
from repotune.train.loop import train_loop


def fit_with_ray(cfg: TrainConfig, loop_config: dict[str, Any], store: Any, prefix: str,
                 ray_config: RayConfig, name: str = "ray") -> tuple[list[dict[str, float]], Any]:
    """TorchTrainer over cfg.num_workers workers; checkpoints go to the object store through Ray Train storage.
    Returns the metrics history and the last checkpoint (in the store)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    ensure_ray(ray_config)
    fs, base = store.pyarrow_filesystem()
    trainer = TorchTrainer(
        train_loop, train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu, resources_per_worker={
            "CPU": cfg.cpus_per_worker, **({"GPU": 1} if cfg.use_gpu else {})}),
        run_config=RunConfig(name=name, storage_path=f"{base}/{prefix}", storage_filesystem=fs,
                             failure_config=FailureConfig(max_failures=cfg.max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=2)),
    )
    result = trainer.fit()
    if result.error is not None:
        raise StepError(f"training failed: {result.error}")
    history = list(result.metrics_dataframe.to_dict("records")) if result.metrics_dataframe is not None else []
    return history, result.checkpoint


def run_with_ray(cfg: TrainConfig, loop_config: dict[str, Any], store: Any, prefix: str,
                 ray_config: RayConfig) -> tuple[list[dict[str, float]], Path]:
    """fit_with_ray, with the final checkpoint copied to a local folder."""
    history, checkpoint = fit_with_ray(cfg, loop_config, store, prefix, ray_config)
    local = Path(tempfile.mkdtemp(prefix="repotune-adapter-"))
    with checkpoint.as_directory() as d:
        shutil.copytree(d, local, dirs_exist_ok=True)
    return history, local


def run_in_process(loop_config: dict[str, Any]) -> tuple[list[dict[str, float]], Path]:
    out = Path(tempfile.mkdtemp(prefix="repotune-train-"))
    history = train_loop({**loop_config, "output_dir": str(out)})
    if (out / "best").is_dir():  # train.keep_best: the step with the lowest validation loss
        return history, out / "best"
    return history, sorted(out.glob("checkpoint-*"))[-1]


def loss_png(history: list[dict[str, float]]) -> bytes:
    return chart_png(lambda ax: ax.plot([h["step"] for h in history], [h["loss"] for h in history]),
                     xlabel="step", ylabel="training loss (assistant tokens)")


def adapter_card(cfg: TrainConfig, examples: int, history: list[dict[str, float]], run_id: str) -> str:
    first, last = history[0]["loss"], history[-1]["loss"]
    workers = f"{cfg.num_workers} worker(s) (Ray Train)" if cfg.use_ray else "1 worker (in-process)"
    return f"""# repotune LoRA adapter ({run_id})

- base model: `{cfg.base_model}`
- data: {examples} training examples from `runs/{run_id}/dataset/train.jsonl`
- LoRA: r={cfg.lora_r}, alpha={cfg.lora_alpha}, dropout={cfg.lora_dropout}, targets={cfg.target_modules}
- training: {len(history)} steps (max_steps {cfg.max_steps}, max_epochs {cfg.max_epochs}), lr {cfg.learning_rate},
  packing={cfg.packing} (budget {cfg.token_budget}), {workers}
- loss: {first:.3f} at step 1 → {last:.3f} at step {int(history[-1]['step'])}

Load it with peft: `PeftModel.from_pretrained(base, "<this folder>")`, or serve it with `repotune serve`.
"""


def run_step(ctx: StepContext) -> StepResult:
    """The launcher: train here, or hand the same job to a KubeRay RayJob and take its result from the store."""
    if ctx.config.train.launcher == "rayjob":
        from repotune.train.rayjob import launch

        return launch(ctx)
    job = TrainJob(run_id=ctx.run_id, store=ctx.config.store, ray=ctx.config.ray, train=ctx.config.train)
    return train_adapter(job, ctx.store)


def val_sample(examples: list[dict[str, Any]], most: int | None, seed: int) -> list[dict[str, Any]]:
    """The val examples whose loss is measured: all, or a seeded sample of `most` in split order."""
    if most is None or len(examples) <= most:
        return examples
    keep = set(random.Random(seed).sample(range(len(examples)), most))
    return [ex for i, ex in enumerate(examples) if i in keep]


def train_adapter(job: TrainJob, store: ObjectStore) -> StepResult:
    """The library call: the dataset's train (and val) split of job.run_id → the adapter, metrics, loss curve and
    summary under runs/<run_id>/train/. Where it runs (this process, Ray Train here, a RayJob) is the job's."""
    cfg = job.train
    prefix, dataset = step_prefix(job.run_id, "train"), step_prefix(job.run_id, "dataset")
    examples = read_jsonl(store.get_bytes(f"{dataset}/train.jsonl"))
    if not examples:
        raise StepError("train: the train split is empty")
    val_key = f"{dataset}/val.jsonl"
    val_split = read_jsonl(store.get_bytes(val_key)) if store.exists(val_key) else []
    val_examples = val_sample(val_split, cfg.val_max_examples, cfg.seed)
    loop_config = {"train": cfg.model_dump(mode="json"), "examples": examples, "val_examples": val_examples}
    sweep: list[dict[str, Any]] = []
    if cfg.sweep:
        from repotune.train.sweep import sweep_in_process, sweep_with_ray

        if cfg.use_ray:
            history, adapter_dir, sweep, cfg = sweep_with_ray(cfg, loop_config, store, prefix, job.ray)
        else:
            history, adapter_dir, sweep, cfg = sweep_in_process(cfg, loop_config)
        put_json(store, f"{prefix}/sweep.json", sweep)
    elif cfg.use_ray:
        history, adapter_dir = run_with_ray(cfg, loop_config, store, prefix, job.ray)
    else:
        history, adapter_dir = run_in_process(loop_config)
    for name in ("optimizer.pt", "state.json"):
        (adapter_dir / name).unlink(missing_ok=True)
    (adapter_dir / "README.md").write_text(adapter_card(cfg, len(examples), history, job.run_id))
    put_dir(store, f"{prefix}/adapter", adapter_dir)
    shutil.rmtree(adapter_dir, ignore_errors=True)
    put_json(store, f"{prefix}/metrics.json", history)
    store.put_bytes(f"{prefix}/loss.png", loss_png(history))
    summary = {"steps": len(history), "loss_first": history[0]["loss"], "loss_last": history[-1]["loss"],
               "tokens_per_s": sum(h["tokens_per_s"] for h in history) / len(history),
               "tflops": sum(h["tflops"] for h in history) / len(history),
               "flop_convention": "6 x parameters x tokens per step (forward + backward), attention excluded"}
    summary["examples_without_target"] = int(history[-1].get("examples_without_target", 0))
    validated = [h for h in history if h.get("val_loss") is not None]
    val_loss = history[-1].get("val_loss")
    if cfg.keep_best and validated and not cfg.use_ray:
        best = min(validated, key=lambda h: h["val_loss"])
        summary["chosen_step"], val_loss = int(best["step"]), best["val_loss"]
    summary["val_examples"] = {"scored": len(val_examples), "in_split": len(val_split)}
    summary["val_loss_by_step"] = {int(h["step"]): round(h["val_loss"], 4) for h in validated}
    summary["val_loss"] = val_loss
    if sweep:
        summary["sweep"] = {"trials": len(sweep), "chosen": next(r["trial"] for r in sweep if r["val_loss"] == min(
            t["val_loss"] for t in sweep)), "by": "lowest validation loss"}
    put_json(store, f"{prefix}/train.json", summary)
    outputs = {"adapter": f"{prefix}/adapter/", "metrics": f"{prefix}/metrics.json",
               "loss_curve": f"{prefix}/loss.png", "summary": f"{prefix}/train.json"}
    if sweep:
        outputs["sweep"] = f"{prefix}/sweep.json"
    return StepResult(
        outputs=outputs,
        counts={"examples": len(examples), "val_examples": len(val_examples),
                "val_examples_unscored": len(val_split) - len(val_examples), "steps": len(history),
                "sweep_trials": len(sweep)},
        metrics={"loss_first": round(summary["loss_first"], 4), "loss_last": round(summary["loss_last"], 4),
                 "tokens_per_s": round(summary["tokens_per_s"], 1),
                 **({"val_loss": round(val_loss, 4)} if val_loss is not None else {})},
        summary=f"  loss {summary['loss_first']:.3f} → {summary['loss_last']:.3f} over {len(history)} steps; "
                f"{summary['tokens_per_s']:.0f} tokens/s; adapter at {prefix}/adapter/")


