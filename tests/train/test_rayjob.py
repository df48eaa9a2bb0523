"""Cluster training: the rendered RayJob validates against KubeRay's CRD, and the launcher creates it, follows
it and takes its result, against a fake Kubernetes API whose 'operator' runs the real entrypoint."""

import json

import pytest
import yaml

from repotune.config import RunConfig
from repotune.core.errors import StepError
from repotune.core.step import StepContext
from repotune.core.store import open_store
from repotune.train import rayjob
from tests.crds import validate_custom_resource
from tests.k8s_fake import FakeKubernetes

EXAMPLES = [{"messages": [{"role": "user", "content": f"Write the docstring of:\ndef f{i}(x): return x * {i}"},
                          {"role": "assistant", "content": f"Return x times {i}."}]} for i in range(6)]


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    monkeypatch.setenv("REPOTUNE_CACHE", str(tmp_path / "cache"))
    config = RunConfig.model_validate({
        "run_id": "kfp-1234abcd", "store": {"url": f"file://{tmp_path / 'store'}"},
        "train": {"launcher": "rayjob", "num_workers": 2, "max_steps": 2, "token_budget": 128, "warmup_steps": 0,
                  "rayjob": {"namespace": "ml", "image": "registry.local/repotune-train:1", "poll_interval_s": 0.01}}})
    store = open_store(config.store)
    store.put_bytes("runs/kfp-1234abcd/dataset/train.jsonl", "\n".join(json.dumps(e) for e in EXAMPLES).encode())
    return StepContext(config=config, store=store, step="train")


def test_rendered_rayjob_validates_and_runs_the_loop_on_gpu_workers(ctx, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-value-for-the-test")
    job = rayjob.render_rayjob(ctx)
    validate_custom_resource(job)
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] == 3600
    assert spec["entrypoint"] == "python -m repotune.train.rayjob"
    worker = spec["rayClusterSpec"]["workerGroupSpecs"][0]
    assert worker["replicas"] == 2
    pod = worker["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.local/repotune-train:1"
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "repotune-s3"}}]
    head = spec["rayClusterSpec"]["headGroupSpec"]
    assert "nvidia.com/gpu" not in head["template"]["spec"]["containers"][0]["resources"]["limits"]
    env = yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]
    job_config = yaml.safe_load(env[rayjob.CONFIG_ENV])
    assert job_config["train"]["launcher"] == "inprocess" and job_config["train"]["use_ray"] is True
    assert job_config["train"]["use_gpu"] is True and job_config["ray"]["address"] == "auto"
    assert job_config["run_id"] == "kfp-1234abcd"
    assert "fake-secret-value" not in json.dumps(job)


def test_a_wrong_rayjob_fails_validation(ctx):
    job = rayjob.render_rayjob(ctx)
    job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] = "two"
    with pytest.raises(Exception, match="is not of type"):
        validate_custom_resource(job)


def _kuberay(entrypoint_runs: list) -> callable:
    """Plays KubeRay: first GET → RUNNING; the next runs the entrypoint (in one process: no Ray cluster here)."""
    def operator(job: dict) -> None:
        status = job.setdefault("status", {})
        if not status:
            status.update(jobStatus="RUNNING", jobDeploymentStatus="Running")
            return
        if status["jobStatus"] == "RUNNING":
            env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]
            doc = yaml.safe_load(env[rayjob.CONFIG_ENV])
            doc["train"]["use_ray"] = False
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv(rayjob.CONFIG_ENV, yaml.safe_dump(doc))
                entrypoint_runs.append(rayjob.main())
            status.update(jobStatus="SUCCEEDED", jobDeploymentStatus="Complete")
    return operator


def test_launch_creates_follows_and_returns_the_entrypoints_result(ctx):
    runs: list = []
    with FakeKubernetes() as k8s:
        k8s.operators["rayjobs"] = _kuberay(runs)
        api = rayjob.custom_objects_api(k8s.api_client())
        result = rayjob.launch(ctx, api=api, timeout_s=120)
    assert runs == [0]
    assert [m for m, _, _ in k8s.requests].count("POST") == 1
    assert result.outputs["adapter"] == "runs/kfp-1234abcd/train/adapter/"
    assert ctx.store.exists("runs/kfp-1234abcd/train/adapter/adapter_model.safetensors")
    assert result.counts["steps"] == 2 and result.extra["rayjob"].startswith("ml/repotune-train-kfp-1234abcd-")


def test_a_retried_task_follows_the_existing_rayjob(ctx):
    with FakeKubernetes() as k8s:
        existing = rayjob.render_rayjob(ctx)
        existing["status"] = {"jobStatus": "FAILED", "jobDeploymentStatus": "Failed", "message": "OOMKilled"}
        k8s.objects[("rayjobs", "ml", existing["metadata"]["name"])] = existing
        with pytest.raises(StepError, match="ended with job status FAILED.*OOMKilled"):
            rayjob.launch(ctx, api=rayjob.custom_objects_api(k8s.api_client()), timeout_s=5)
    assert [m for m, _, _ in k8s.requests][:2] == ["POST", "GET"]


def test_a_job_that_never_finishes_times_out_with_its_status(ctx):
    with FakeKubernetes() as k8s:
        k8s.operators["rayjobs"] = lambda job: job.setdefault("status", {"jobStatus": "PENDING",
                                                                          "jobDeploymentStatus": "Initializing"})
        with pytest.raises(StepError, match="did not finish within 0s.*PENDING.*Initializing"):
            rayjob.launch(ctx, api=rayjob.custom_objects_api(k8s.api_client()), timeout_s=0.2)


def test_a_forbidden_create_is_a_clear_error(ctx):
    with FakeKubernetes() as k8s:
        k8s.handle = lambda method, path, body: (403, {"kind": "Status", "code": 403, "reason": "Forbidden",
                                                       "message": "rayjobs.ray.io is forbidden"})
        with pytest.raises(StepError, match="cannot create RayJob ml/.*403.*forbidden"):
            rayjob.launch(ctx, api=rayjob.custom_objects_api(k8s.api_client()), timeout_s=1)
