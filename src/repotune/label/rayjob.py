"""Cluster labelling through KubeRay: with label.launcher=rayjob the label step renders a RayJob (a Ray head and
label.rayjob_workers GPU workers), creates it, follows it and takes its result from the object store.

The entrypoint, `python -m repotune.label.rayjob`, reads one LabelJob (run id, store, Ray, label and endpoint
settings; no secrets) from the environment and labels the run's units on that Ray cluster (label.use_ray, or
backend vllm through ray.data.llm), writing the step's outputs and the result the launcher picks up. It runs the
step's in-process path, never the launcher again.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import yaml

from repotune.core.images import TRAIN_IMAGE
from repotune.core.rayjob import RESULT_NAME, read_job, render, run_and_collect
from repotune.core.step import StepContext, StepResult
from repotune.label.config import LabelJob

CONFIG_ENV = "REPOTUNE_LABEL_JOB_YAML"


def job_config_yaml(ctx: StepContext) -> str:
    """The LabelJob the RayJob runs: this run's labelling, on Ray, on the cluster the RayJob starts."""
    label = ctx.config.label.model_copy(update={"launcher": "inprocess", "use_ray": True})
    job = LabelJob(run_id=ctx.run_id, store=ctx.config.store, ray=ctx.config.ray.model_copy(update={"address": "auto"}),
                   label=label, llm=ctx.config.llm)
    return yaml.safe_dump(job.model_dump(mode="json"), sort_keys=False)


def render_rayjob(ctx: StepContext) -> dict[str, Any]:
    label = ctx.config.label
    return render(step="label", run_id=ctx.run_id, cfg=label.rayjob, image=label.rayjob.image or TRAIN_IMAGE,
                  entrypoint="python -m repotune.label.rayjob", env={CONFIG_ENV: job_config_yaml(ctx)},
                  workers=label.rayjob_workers)


def launch(ctx: StepContext, api: Any = None, timeout_s: float | None = None) -> StepResult:
    """The label step in cluster mode: RayJob → wait → the result the entrypoint left in the store."""
    return StepResult(**run_and_collect(ctx, render_rayjob(ctx), ctx.config.label.rayjob, api, timeout_s))


def main() -> int:
    """The RayJob entrypoint: label the run the LabelJob names on this Ray cluster; leave the result in the store."""
    from repotune.core.store import open_store, put_json
    from repotune.label.step import run_step

    job = read_job(LabelJob, CONFIG_ENV, "label")
    if job is None:
        return 2
    store = open_store(job.store)
    ctx = StepContext(config=job, store=store, step="label")  # a LabelJob holds every section the step reads
    put_json(store, ctx.key(RESULT_NAME), dataclasses.asdict(run_step(ctx)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
