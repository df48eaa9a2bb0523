"""Cluster labelling: the label RayJob validates against KubeRay's CRD, carries the run's labelling (on Ray, no
secrets), and the launcher creates it, follows it and takes its result, against a fake Kubernetes API whose
'operator' runs the real entrypoint."""

import json

import pytest
import yaml

from repotune.config import RunConfig
from repotune.core.errors import StepError
from repotune.core.k8s import custom_objects_api
from repotune.core.step import StepContext
from repotune.core.store import open_store, read_table, write_table
from repotune.label import rayjob
from tests.crds import validate_custom_resource
from tests.k8s_fake import FakeKubernetes


@pytest.fixture
def ctx(tmp_path, sample_units):
    config = RunConfig.model_validate({
        "run_id": "kfp-label-1", "store": {"url": f"file://{tmp_path / 'store'}"},
        "label": {"launcher": "rayjob", "backend": "vllm", "rayjob_workers": 2, "vllm": {"model": "/models/coder"},
                  "rayjob": {"namespace": "ml", "image": "registry.local/repotune-vllm:1", "poll_interval_s": 0.01,
                             "env_secrets": ["llm-key"]}}})
    store = open_store(config.store)
    write_table(store, "runs/kfp-label-1/analyze/units.parquet", sample_units)
    return StepContext(config=config, store=store, step="label")


def test_the_label_rayjob_validates_and_labels_on_ray_gpu_workers(ctx, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-key-value-for-the-test")
    job = rayjob.render_rayjob(ctx)
    validate_custom_resource(job)
    spec = job["spec"]
    assert spec["entrypoint"] == "python -m repotune.label.rayjob"
    assert job["metadata"]["name"].startswith("repotune-label-kfp-label-1-")
    worker = spec["rayClusterSpec"]["workerGroupSpecs"][0]
    assert worker["replicas"] == 2
    pod = worker["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.local/repotune-vllm:1"
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "repotune-s3"}},
                                               {"secretRef": {"name": "llm-key"}}]
    doc = yaml.safe_load(yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"][rayjob.CONFIG_ENV])
    assert doc["label"]["launcher"] == "inprocess" and doc["label"]["use_ray"] is True
    assert doc["label"]["backend"] == "vllm" and doc["ray"]["address"] == "auto"
    assert "sk-fake-key-value" not in json.dumps(job)


def _kuberay(entrypoint_runs: list) -> callable:
    """Plays KubeRay: first GET → RUNNING; the next runs the entrypoint in this process (offline backend, no Ray
    cluster here)."""
    def operator(job: dict) -> None:
        status = job.setdefault("status", {})
        if not status:
            status.update(jobStatus="RUNNING", jobDeploymentStatus="Running")
            return
        if status["jobStatus"] == "RUNNING":
            env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]
            doc = yaml.safe_load(env[rayjob.CONFIG_ENV])
            doc["label"].update(backend="offline", use_ray=False)
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv(rayjob.CONFIG_ENV, yaml.safe_dump(doc))
                entrypoint_runs.append(rayjob.main())
            status.update(jobStatus="SUCCEEDED", jobDeploymentStatus="Complete")
    return operator


def test_launch_creates_follows_and_returns_the_entrypoints_result(ctx, sample_units):
    from repotune.label.step import run_step

    runs: list = []
    with FakeKubernetes() as k8s:
        k8s.operators["rayjobs"] = _kuberay(runs)
        result = rayjob.launch(ctx, api=custom_objects_api(k8s.api_client()), timeout_s=60)
        assert runs == [0] and [m for m, _, _ in k8s.requests].count("POST") == 1
    assert result.counts["units"] == len(sample_units) and result.extra["rayjob"].startswith("ml/repotune-label-")
    assert len(read_table(ctx.store, result.outputs["labels"])) == len(sample_units)
    with FakeKubernetes() as k8s:  # the step itself goes through the launcher with label.launcher=rayjob
        k8s.handle = lambda method, path, body: (403, {"kind": "Status", "code": 403, "reason": "Forbidden",
                                                       "message": "rayjobs.ray.io is forbidden"})
        import repotune.core.k8s as k8s_module

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(k8s_module, "custom_objects_api", lambda api_client=None: custom_objects_api(k8s.api_client()))
            with pytest.raises(StepError, match="label: cannot create RayJob ml/.*403.*forbidden"):
                run_step(ctx)


def test_a_job_without_its_settings_exits_2(monkeypatch, capsys):
    monkeypatch.delenv(rayjob.CONFIG_ENV, raising=False)
    assert rayjob.main() == 2 and "REPOTUNE_LABEL_JOB_YAML is not set" in capsys.readouterr().err
    monkeypatch.setenv(rayjob.CONFIG_ENV, "run_id: [")
    assert rayjob.main() == 2
