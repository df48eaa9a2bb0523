"""Cluster training through KubeRay: the train step renders a RayJob (a Ray head + a GPU worker group running
the same training loop under Ray Train), creates it, polls it and takes its results from the object store.

The RayJob's entrypoint is `python -m repotune.train.rayjob`: it reads one TrainJob (run id, store, Ray and
train settings; no secrets: the S3 keys come from a Secret mounted as environment) from the environment, calls
the library's `train_adapter` with Ray Train on the Ray cluster, and writes the result next to the adapter,
where the launcher picks it up. It never re-enters the step function.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import yaml

from repotune.core.images import TRAIN_IMAGE
from repotune.core.errors import StepError
from repotune.core.k8s import api_message, custom_objects_api
from repotune.core.step import StepContext, StepResult, step_prefix
from repotune.train.config import TrainJob

GROUP, VERSION, PLURAL = "ray.io", "v1", "rayjobs"
CONFIG_ENV = "REPOTUNE_TRAIN_JOB_YAML"
RESULT_NAME = "rayjob-result.json"
TERMINAL_JOB_STATUSES = {"SUCCEEDED", "FAILED", "STOPPED"}


def rayjob_name(run_id: str) -> str:
    """A DNS-1123 name KubeRay accepts (its derived Service names must stay under 63 characters)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")[:20].strip("-") or "run"
    return f"repotune-train-{slug}-{hashlib.sha256(run_id.encode()).hexdigest()[:6]}"


def job_config_yaml(ctx: StepContext) -> str:
    """The TrainJob the RayJob runs: this run, trained with Ray Train on the Ray cluster the RayJob starts."""
    train = ctx.config.train.model_copy(deep=True)
    train.launcher = "inprocess"
    train.use_ray = True
    train.use_gpu = train.rayjob.gpus_per_worker > 0
    job = TrainJob(run_id=ctx.run_id, store=ctx.config.store,
                   ray=ctx.config.ray.model_copy(update={"address": "auto"}), train=train)
    return yaml.safe_dump(job.model_dump(mode="json"), sort_keys=False)


def _pod(image: str, cfg: Any, *, cpus: int, memory: str, gpus: int, worker: bool) -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": str(cpus), "memory": memory},
                                 "limits": {"cpu": str(cpus), "memory": memory}}
    if gpus:
        resources["requests"]["nvidia.com/gpu"] = str(gpus)
        resources["limits"]["nvidia.com/gpu"] = str(gpus)
    spec: dict[str, Any] = {
        "serviceAccountName": cfg.service_account,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000},
        "containers": [{
            "name": "ray-worker" if worker else "ray-head", "image": image, "resources": resources,
            "envFrom": [{"secretRef": {"name": cfg.s3_secret}}],
            "securityContext": {"allowPrivilegeEscalation": False},
            # /dev/shm for NCCL and the object store; an emptyDir because the default 64 MiB is too small
            "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
        }],
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}],
    }
    if worker:
        spec["nodeSelector"] = dict(cfg.node_selector)
        spec["tolerations"] = [dict(t) for t in cfg.tolerations]
    return {"metadata": {"labels": {"app.kubernetes.io/part-of": "repotune"}}, "spec": spec}


def render_rayjob(ctx: StepContext) -> dict[str, Any]:
    """The RayJob of this run's training (a plain dict; tests validate it against KubeRay's CRD)."""
    train = ctx.config.train
    cfg = train.rayjob
    image = cfg.image or TRAIN_IMAGE
    env = {CONFIG_ENV: job_config_yaml(ctx)}
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "RayJob",
        "metadata": {"name": rayjob_name(ctx.run_id), "namespace": cfg.namespace,
                     "labels": {"app.kubernetes.io/part-of": "repotune", "repotune.dev/run-id":
                                re.sub(r"[^A-Za-z0-9_.-]", "-", ctx.run_id)[:63].strip("-_.") or "run"}},
        "spec": {
            "entrypoint": "python -m repotune.train.rayjob",
            "runtimeEnvYAML": yaml.safe_dump({"env_vars": env}, sort_keys=False),
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": cfg.ttl_seconds_after_finished,
            "activeDeadlineSeconds": cfg.active_deadline_seconds,
            "submissionMode": "K8sJobMode",
            "rayClusterSpec": {
                "rayVersion": cfg.ray_version,
                "headGroupSpec": {
                    # the head schedules, it does not train: no GPU, no training tasks on it
                    "rayStartParams": {"num-gpus": "0", "num-cpus": "0", "dashboard-host": "0.0.0.0"},
                    "template": _pod(image, cfg, cpus=2, memory="8Gi", gpus=0, worker=False),
                },
                "workerGroupSpecs": [{
                    "groupName": "gpu", "replicas": train.num_workers, "minReplicas": train.num_workers,
                    "maxReplicas": train.num_workers, "rayStartParams": {},
                    "template": _pod(image, cfg, cpus=cfg.cpus_per_worker, memory=cfg.memory_per_worker,
                                     gpus=cfg.gpus_per_worker, worker=True),
                }],
            },
        },
    }


def submit(api: Any, job: dict[str, Any]) -> dict[str, Any]:
    """Create the RayJob; if this run's RayJob exists already (a retried pipeline task), follow that one."""
    from kubernetes.client.exceptions import ApiException

    ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
    try:
        return api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, job)
    except ApiException as e:
        if e.status == 409:
            return api.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
        raise StepError(f"train: cannot create RayJob {ns}/{name}: {e.status} {e.reason}: "
                        f"{api_message(e)}") from None


def wait(api: Any, namespace: str, name: str, *, poll_interval_s: float, timeout_s: float,
         on_status: Callable[[dict[str, Any]], None] = lambda s: None) -> dict[str, Any]:
    """Poll the RayJob until its job ends; returns the final status. Raises StepError on failure or timeout."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while True:
        status = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name).get("status") or {}
        if status != last:
            on_status(status)
            last = status
        job_status, deployment = status.get("jobStatus"), status.get("jobDeploymentStatus")
        if job_status == "SUCCEEDED":
            return status
        if job_status in TERMINAL_JOB_STATUSES or deployment == "Failed":
            raise StepError(f"train: RayJob {namespace}/{name} ended with job status {job_status or '-'} "
                            f"(deployment {deployment or '-'}): {status.get('message') or 'no message'}; "
                            f"`kubectl -n {namespace} logs job/{name}` shows the entrypoint's output")
        if time.monotonic() > deadline:
            raise StepError(f"train: RayJob {namespace}/{name} did not finish within {timeout_s:.0f}s "
                            f"(job status {job_status or '-'}, deployment {deployment or '-'})")
        time.sleep(poll_interval_s)


def launch(ctx: StepContext, api: Any = None, timeout_s: float | None = None) -> StepResult:
    """The train step in cluster mode: RayJob → wait → the result the entrypoint left in the store."""
    from repotune.core.store import get_json

    cfg = ctx.config.train.rayjob
    job = render_rayjob(ctx)
    ns, name = cfg.namespace, job["metadata"]["name"]
    api = api or custom_objects_api()
    submit(api, job)
    ctx.log.info("train: RayJob %s/%s created (%d worker(s), %d GPU each)", ns, name,
                 ctx.config.train.num_workers, cfg.gpus_per_worker)
    wait(api, ns, name, poll_interval_s=cfg.poll_interval_s, timeout_s=timeout_s or cfg.active_deadline_seconds + 600,
         on_status=lambda s: ctx.log.info("train: RayJob %s: job %s, deployment %s", name,
                                          s.get("jobStatus", "-"), s.get("jobDeploymentStatus", "-")))
    key = ctx.key(RESULT_NAME)
    if not ctx.store.exists(key):
        raise StepError(f"train: RayJob {ns}/{name} succeeded but left no result at {key}")
    doc = get_json(ctx.store, key)
    doc.setdefault("extra", {})["rayjob"] = f"{ns}/{name}"
    return StepResult(**doc)


def main() -> int:
    """The RayJob entrypoint: run the TrainJob it carries on this Ray cluster and leave the result in the store."""
    import dataclasses
    import logging

    from pydantic import ValidationError

    from repotune.core.store import open_store, put_json
    from repotune.train.step import train_adapter

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    text = os.environ.get(CONFIG_ENV)
    if not text:
        print(f"error: {CONFIG_ENV} is not set (the RayJob's runtimeEnvYAML carries the train job)", file=sys.stderr)
        return 2
    try:
        job = TrainJob.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as e:
        print(f"error: {CONFIG_ENV} is not a valid train job: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    store = open_store(job.store)
    result = train_adapter(job, store)
    put_json(store, f"{step_prefix(job.run_id, 'train')}/{RESULT_NAME}", dataclasses.asdict(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
