"""Sweeps: several training configs (train.sweep) trained in parallel as Ray Tune trials — each trial a Ray
Train TorchTrainer with its own workers — or one after another in this process; the adapter with the lowest
validation loss is kept, and every trial's figures are recorded."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from repotune.core.errors import ConfigError, StepError
from repotune.core.ray_setup import RayConfig, ensure_ray
from repotune.train.config import TrainConfig


def trial_configs(cfg: TrainConfig) -> list[TrainConfig]:
    """One TrainConfig per sweep entry (validated: a typo in a trial is an error, not a silent default)."""
    base = cfg.model_dump(mode="json", exclude={"sweep"})
    trials = []
    for i, change in enumerate(cfg.sweep):
        if "sweep" in change:
            raise ConfigError(f"train.sweep[{i}]: a trial cannot itself contain a sweep")
        try:
            trials.append(TrainConfig.model_validate({**base, **change}))
        except ValidationError as e:
            err = e.errors()[0]
            raise ConfigError(f"train.sweep[{i}].{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    return trials


def _row(i: int, change: dict[str, Any], history: list[dict[str, float]]) -> dict[str, Any]:
    last = history[-1] if history else {}
    return {"trial": i, "changes": change, "val_loss": last.get("val_loss", math.nan),
            "loss_last": last.get("loss", math.nan), "steps": len(history),
            "tokens_per_s": sum(h["tokens_per_s"] for h in history) / max(len(history), 1)}


def _best(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [r for r in rows if not math.isnan(r["val_loss"])]
    if not scored:
        raise StepError("train: no sweep trial reported a validation loss (is the dataset's val split empty?)")
    return min(scored, key=lambda r: r["val_loss"])


def sweep_in_process(cfg: TrainConfig, loop_config: dict[str, Any]) -> tuple[list[dict], Path, list[dict], TrainConfig]:
    from repotune.train.step import run_in_process

    trials = trial_configs(cfg)
    rows, outputs = [], []
    for i, trial in enumerate(trials):
        history, adapter = run_in_process({**loop_config, "train": trial.model_dump(mode="json")})
        rows.append(_row(i, cfg.sweep[i], history))
        outputs.append((history, adapter))
    best = _best(rows)["trial"]
    for i, (_, adapter) in enumerate(outputs):
        if i != best:
            shutil.rmtree(adapter.parent, ignore_errors=True)
    return outputs[best][0], outputs[best][1], rows, trials[best]


def sweep_with_ray(cfg: TrainConfig, loop_config: dict[str, Any], store: Any, prefix: str,
                   ray_config: RayConfig) -> tuple[list[dict], Path, list[dict], TrainConfig]:
    """Each trial: a Tune trial whose driver runs a TorchTrainer; checkpoints in the object store."""
    import ray
    from ray import tune

    from repotune.train.step import fit_with_ray

    trials = trial_configs(cfg)
    ensure_ray(ray_config)
    fs, base = store.pyarrow_filesystem()

    def trial_driver(config: dict[str, Any]) -> None:
        i = config["trial"]
        history, checkpoint = fit_with_ray(trials[i], {**loop_config, "train": trials[i].model_dump(mode="json")},
                                           store, prefix, None, name=f"sweep-{i}")
        tune.report({**_row(i, cfg.sweep[i], history), "checkpoint_path": checkpoint.path,
                     "history_json": json.dumps(history, default=float)})

    tuner = tune.Tuner(
        # the trial's driver only waits on its TorchTrainer: a sliver of a CPU (Tune refuses none at all)
        tune.with_resources(trial_driver, {"cpu": 0.01}),
        param_space={"trial": tune.grid_search(list(range(len(trials))))},
        tune_config=tune.TuneConfig(max_concurrent_trials=len(trials)),
        run_config=tune.RunConfig(name="sweep", storage_path=f"{base}/{prefix}", storage_filesystem=fs,
                                  verbose=0),
    )
    results = tuner.fit()
    rows = []
    for result in results:
        if result.error is not None:
            raise StepError(f"train: a sweep trial failed: {result.error}")
        rows.append({k: result.metrics[k] for k in ("trial", "changes", "val_loss", "loss_last", "steps",
                                                     "tokens_per_s", "checkpoint_path", "history_json")})
    rows.sort(key=lambda r: r["trial"])
    best = _best(rows)
    local = Path(tempfile.mkdtemp(prefix="repotune-adapter-"))
    ray.train.Checkpoint(best["checkpoint_path"], filesystem=fs).to_directory(str(local))
    history = json.loads(best["history_json"])
    for row in rows:
        del row["history_json"]
    return history, local, rows, trials[best["trial"]]
