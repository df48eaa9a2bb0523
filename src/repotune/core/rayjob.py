"""KubeRay RayJobs for the steps that run on a Ray cluster of their own (train, label): the RayJob a step renders
(a Ray head that schedules and a worker group on the GPU node pool, the job's settings in its runtime env, the S3
keys from a Secret as environment), creating it (or following the one a retried task created), polling it to the
end, and taking the result its entrypoint left in the store."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from repotune.core import cluster
from repotune.core.errors import StepError
from repotune.core.k8s import api_message

GROUP, VERSION, PLURAL = "ray.io", "v1", "rayjobs"
RESULT_NAME = "rayjob-result.json"
TERMINAL_JOB_STATUSES = {"SUCCEEDED", "FAILED", "STOPPED"}


class RayJobConfig(BaseModel):
    """A step's KubeRay RayJob: a Ray cluster on the GPU node pool for the length of the step."""

    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(cluster.NAMESPACE, description="Namespace of the RayJob (the pipeline's namespace).")
    image: str | None = Field(None, description="Image of the Ray pods (CUDA + Ray + the step's extra); None "
                              "uses the step's image of this repotune version.")
    ray_version: str = Field("2.60.0", description="Ray version in the image (KubeRay's rayVersion).")
    gpus_per_worker: int = Field(1, ge=0, description="GPUs per Ray worker pod.")
    cpus_per_worker: int = Field(8, ge=1, description="CPUs per Ray worker pod.")
    memory_per_worker: str = Field("48Gi", description="Memory per Ray worker pod.")
    node_selector: dict[str, str] = Field(default_factory=lambda: dict(cluster.GPU_NODE_SELECTOR),
                                          description="Node selector of the worker pods (the GPU node pool).")
    tolerations: list[dict[str, str]] = Field(
        default_factory=cluster.gpu_tolerations,
        description="Tolerations of the worker pods (GPU node taints).")
    s3_secret: str = Field(cluster.S3_SECRET, description="Secret with the S3 keys (AWS_ACCESS_KEY_ID, "
                           "AWS_SECRET_ACCESS_KEY), mounted as environment into every Ray pod.")
    env_secrets: list[str] = Field(default_factory=list, description="More Secrets mounted as environment into "
                                   "every Ray pod (e.g. the one holding the LLM endpoint's key, llm.api_key_env).")
    service_account: str = Field(cluster.PIPELINE_SERVICE_ACCOUNT, description="ServiceAccount of the Ray pods.")
    ttl_seconds_after_finished: int = Field(3600, ge=0, description="Seconds KubeRay keeps a finished RayJob.")
    active_deadline_seconds: int = Field(86400, ge=60, description="KubeRay stops the job after this long.")
    poll_interval_s: float = Field(15.0, gt=0, description="Seconds between status polls of the RayJob.")



def rayjob_name(step: str, run_id: str) -> str:
    """A DNS-1123 name KubeRay accepts (its derived Service names must stay under 63 characters)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")[:20].strip("-") or "run"
    return f"repotune-{step}-{slug}-{hashlib.sha256(run_id.encode()).hexdigest()[:6]}"


def _pod(image: str, cfg: RayJobConfig, *, cpus: int, memory: str, gpus: int, worker: bool) -> dict[str, Any]:
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
            "envFrom": [{"secretRef": {"name": name}} for name in (cfg.s3_secret, *cfg.env_secrets)],
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


def render(*, step: str, run_id: str, cfg: RayJobConfig, image: str, entrypoint: str, env: dict[str, str],
           workers: int) -> dict[str, Any]:
    """The RayJob (a plain dict; tests validate it against KubeRay's CRD)."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "RayJob",
        "metadata": {"name": rayjob_name(step, run_id), "namespace": cfg.namespace,
                     "labels": {"app.kubernetes.io/part-of": "repotune", "repotune.dev/step": step,
                                "repotune.dev/run-id": re.sub(r"[^A-Za-z0-9_.-]", "-", run_id)[:63].strip("-_.")
                                or "run"}},
        "spec": {
            "entrypoint": entrypoint,
            "runtimeEnvYAML": yaml.safe_dump({"env_vars": env}, sort_keys=False),
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": cfg.ttl_seconds_after_finished,
            "activeDeadlineSeconds": cfg.active_deadline_seconds,
            "submissionMode": "K8sJobMode",
            "rayClusterSpec": {
                "rayVersion": cfg.ray_version,
                "headGroupSpec": {
                    # the head schedules, it does not compute: no GPU, no tasks on it
                    "rayStartParams": {"num-gpus": "0", "num-cpus": "0", "dashboard-host": "0.0.0.0"},
                    "template": _pod(image, cfg, cpus=2, memory="8Gi", gpus=0, worker=False),
                },
                "workerGroupSpecs": [{
                    "groupName": "gpu", "replicas": workers, "minReplicas": workers, "maxReplicas": workers,
                    "rayStartParams": {},
                    "template": _pod(image, cfg, cpus=cfg.cpus_per_worker, memory=cfg.memory_per_worker,
                                     gpus=cfg.gpus_per_worker, worker=True),
                }],
            },
        },
    }


def submit(api: Any, job: dict[str, Any], step: str) -> dict[str, Any]:
    """Create the RayJob; if this run's RayJob exists already (a retried pipeline task), follow that one."""
    from kubernetes.client.exceptions import ApiException

    ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
    try:
        return api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, job)
    except ApiException as e:
        if e.status == 409:
            return api.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
        raise StepError(f"{step}: cannot create RayJob {ns}/{name}: {e.status} {e.reason}: "
                        f"{api_message(e)}") from None


def wait(api: Any, namespace: str, name: str, step: str, *, poll_interval_s: float, timeout_s: float,
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
            raise StepError(f"{step}: RayJob {namespace}/{name} ended with job status {job_status or '-'} "
                            f"(deployment {deployment or '-'}): {status.get('message') or 'no message'}; "
                            f"`kubectl -n {namespace} logs job/{name}` shows the entrypoint's output")
        if time.monotonic() > deadline:
            raise StepError(f"{step}: RayJob {namespace}/{name} did not finish within {timeout_s:.0f}s "
                            f"(job status {job_status or '-'}, deployment {deployment or '-'})")
        time.sleep(poll_interval_s)


def run_and_collect(ctx: Any, job: dict[str, Any], cfg: RayJobConfig, api: Any = None,
                    timeout_s: float | None = None) -> dict[str, Any]:
    """Create the step's RayJob, follow it to the end, and return the result document its entrypoint left at
    the step's RESULT_NAME (with the RayJob's name under extra.rayjob)."""
    from repotune.core.k8s import custom_objects_api
    from repotune.core.store import get_json

    step, ns, name = ctx.step, cfg.namespace, job["metadata"]["name"]
    api = api or custom_objects_api()
    submit(api, job, step)
    workers = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"]
    ctx.log.info("%s: RayJob %s/%s created (%d worker(s), %d GPU each)", step, ns, name, workers,
                 cfg.gpus_per_worker)
    wait(api, ns, name, step, poll_interval_s=cfg.poll_interval_s,
         timeout_s=timeout_s or cfg.active_deadline_seconds + 600,
         on_status=lambda s: ctx.log.info("%s: RayJob %s: job %s, deployment %s", step, name,
                                          s.get("jobStatus", "-"), s.get("jobDeploymentStatus", "-")))
    key = ctx.key(RESULT_NAME)
    if not ctx.store.exists(key):
        raise StepError(f"{step}: RayJob {ns}/{name} succeeded but left no result at {key}")
    doc = get_json(ctx.store, key)
    doc.setdefault("extra", {})["rayjob"] = f"{ns}/{name}"
    return doc


def read_job(model: type[BaseModel], env: str, step: str) -> BaseModel | None:
    """The entrypoint's job settings from its environment (the RayJob's runtimeEnvYAML), with logging set up;
    None after a one-line error on stderr when they are missing or invalid."""
    import logging
    import os
    import sys

    from pydantic import ValidationError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    text = os.environ.get(env)
    if not text:
        print(f"error: {env} is not set (the RayJob's runtimeEnvYAML carries the {step} job)", file=sys.stderr)
        return None
    try:
        return model.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as e:
        print(f"error: {env} is not a valid {step} job: {str(e).splitlines()[0]}", file=sys.stderr)
        return None
