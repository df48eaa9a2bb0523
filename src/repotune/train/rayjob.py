"""Cluster training through KubeRay: the train step renders a RayJob (a Ray head + a GPU worker group running
the same training loop under Ray Train), creates it, polls it and takes its results from the object store.

The RayJob's entrypoint is `python -m repotune.train.rayjob`: it reads one TrainJob (run id, store, Ray and
train settings; no secrets: the S3 keys come from a Secret mounted as environment) from the environment, calls
the library's `train_adapter` with Ray Train on the Ray cluster, and writes the result next to the adapter,
where the launcher picks it up. It never re-enters the step function.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from repotune.core.images import TRAIN_IMAGE
from repotune.core.k8s import custom_objects_api  # noqa: F401 - tests build the API client through this module
from repotune.core.rayjob import RESULT_NAME, read_job, render, run_and_collect
from repotune.core.step import StepContext, StepResult, step_prefix
from repotune.train.config import TrainJob

CONFIG_ENV = "REPOTUNE_TRAIN_JOB_YAML"


def job_config_yaml(ctx: StepContext) -> str:
    """The TrainJob the RayJob runs: this run, trained with Ray Train on the Ray cluster the RayJob starts."""
    train = ctx.config.train.model_copy(deep=True)
    train.launcher = "inprocess"
    train.use_ray = True
    train.use_gpu = train.rayjob.gpus_per_worker > 0
    job = TrainJob(run_id=ctx.run_id, store=ctx.config.store,
                   ray=ctx.config.ray.model_copy(update={"address": "auto"}), train=train)
    return yaml.safe_dump(job.model_dump(mode="json"), sort_keys=False)


def render_rayjob(ctx: StepContext) -> dict[str, Any]:
    """The RayJob of this run's training: train.num_workers GPU workers run the loop under Ray Train."""
    train = ctx.config.train
    return render(step="train", run_id=ctx.run_id, cfg=train.rayjob, image=train.rayjob.image or TRAIN_IMAGE,
                  entrypoint="python -m repotune.train.rayjob", env={CONFIG_ENV: job_config_yaml(ctx)},
                  workers=train.num_workers)


def launch(ctx: StepContext, api: Any = None, timeout_s: float | None = None) -> StepResult:
    """The train step in cluster mode: RayJob → wait → the result the entrypoint left in the store."""
    return StepResult(**run_and_collect(ctx, render_rayjob(ctx), ctx.config.train.rayjob, api, timeout_s))


def main() -> int:
    """The RayJob entrypoint: run the TrainJob it carries on this Ray cluster and leave the result in the store."""
    import dataclasses

    from repotune.core.store import open_store, put_json
    from repotune.train.step import train_adapter

    job = read_job(TrainJob, CONFIG_ENV, "train")
    if job is None:
        return 2
    store = open_store(job.store)
    result = train_adapter(job, store)
    put_json(store, f"{step_prefix(job.run_id, 'train')}/{RESULT_NAME}", dataclasses.asdict(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
