"""The compiled Kubeflow pipeline: matches the checked-in YAML (golden), and carries the images, secrets, GPU
settings and caching choices we mean it to."""

import os
from pathlib import Path

import pytest
import yaml

from repotune.core.images import PIPELINE_IMAGE, SERVE_IMAGE, TRAIN_IMAGE
from repotune.kfp.pipeline import compile_pipeline, default_config_yaml

COMPILED = Path(__file__).resolve().parents[2] / "pipelines" / "compiled"
REGENERATE = ("repotune compile pipelines/compiled/repotune.yaml && "
              "repotune compile --train-on pod pipelines/compiled/repotune-gpu-pod.yaml")
VARIANTS = {"rayjob": "repotune.yaml", "pod": "repotune-gpu-pod.yaml"}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("compiled")
    return {variant: compile_pipeline(out / name, variant) for variant, name in VARIANTS.items()}


@pytest.mark.parametrize("variant", VARIANTS)
def test_compiled_pipeline_matches_the_checked_in_yaml(compiled, variant):
    if os.environ.get("REPOTUNE_IMAGE_REGISTRY") or os.environ.get("REPOTUNE_IMAGE_TAG"):
        pytest.skip("image overrides in the environment change the compiled images")
    golden = COMPILED / VARIANTS[variant]
    assert compiled[variant].read_text() == golden.read_text(), f"the pipeline changed; regenerate: {REGENERATE}"


def _doc(path: Path) -> dict:
    """The pipeline spec with the Kubernetes platform spec (the compiler writes them as two YAML documents)."""
    spec, platform = yaml.safe_load_all(path.read_text())
    return {**spec, **platform}


def _executors(doc: dict) -> dict[str, dict]:
    return {name.removeprefix("exec-"): e["container"] for name, e in doc["deploymentSpec"]["executors"].items()}


def _k8s(doc: dict) -> dict[str, dict]:
    config = doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    return {name.removeprefix("exec-"): c for name, c in config.items()}


def test_each_step_runs_on_its_image_without_installing_kfp(compiled):
    executors = _executors(_doc(compiled["rayjob"]))
    assert list(executors) == ["analyze", "dataset", "deploy", "evaluate", "label", "synthesize", "train"]
    images = {step: e["image"] for step, e in executors.items()}
    assert images == {"analyze": PIPELINE_IMAGE, "label": PIPELINE_IMAGE, "synthesize": PIPELINE_IMAGE,
                      "dataset": PIPELINE_IMAGE, "train": TRAIN_IMAGE, "evaluate": TRAIN_IMAGE, "deploy": SERVE_IMAGE}
    for step, e in executors.items():
        command = " ".join(e["command"])
        assert "pip install" not in command, step
        assert f'run_kfp_step("{step}"' in e["command"][-1], step


def test_every_step_gets_the_store_secret_and_llm_steps_the_optional_llm_key(compiled):
    doc = _doc(compiled["rayjob"])
    k8s = _k8s(doc)
    for step in ("analyze", "label", "synthesize", "dataset", "train", "evaluate", "deploy"):
        secrets = {s["secretNameParameter"]["componentInputParameter"]: s for s in k8s[step]["secretAsEnv"]}
        assert {k["envVar"] for k in secrets["s3_secret"]["keyToEnv"]} == {"AWS_ACCESS_KEY_ID",
                                                                           "AWS_SECRET_ACCESS_KEY"}
        assert not secrets["s3_secret"].get("optional")
        assert ("llm_secret" in secrets) == (step in ("label", "synthesize"))
        if "llm_secret" in secrets:
            assert secrets["llm_secret"]["optional"] is True
    params = doc["root"]["inputDefinitions"]["parameters"]
    assert params["s3_secret"]["defaultValue"] == "repotune-s3"
    assert params["llm_secret"]["defaultValue"] == "repotune-llm"
    # the RayJob's pods get the same Secret as the pipeline's
    train_inputs = doc["root"]["dag"]["tasks"]["train"]["inputs"]["parameters"]
    assert train_inputs["s3_secret"]["componentInputParameter"] == "s3_secret"


def test_gpu_settings_on_in_pod_training_only(compiled):
    pod = _doc(compiled["pod"])
    resources = _executors(pod)["train"]["resources"]
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu" and resources["accelerator"]["resourceCount"] == "1"
    train_k8s = _k8s(pod)["train"]
    assert train_k8s["nodeSelector"]["labels"] == {"nvidia.com/gpu.present": "true"}
    assert train_k8s["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    rayjob = _doc(compiled["rayjob"])
    assert "accelerator" not in _executors(rayjob)["train"].get("resources", {})
    launcher = rayjob["root"]["dag"]["tasks"]["train"]["inputs"]["parameters"]["launcher"]
    assert launcher["runtimeValue"]["constant"] == "rayjob"
    assert pod["root"]["dag"]["tasks"]["train"]["inputs"]["parameters"]["launcher"]["runtimeValue"]["constant"] \
        == "inprocess"


def test_caching_is_off_and_parameters_are_the_run_config(compiled):
    doc = _doc(compiled["rayjob"])
    for name, task in doc["root"]["dag"]["tasks"].items():
        assert not task["cachingOptions"].get("enableCache"), name
    params = doc["root"]["inputDefinitions"]["parameters"]
    assert set(params) == {"config_yaml", "overrides", "run_id", "s3_secret", "llm_secret"}
    assert params["config_yaml"]["defaultValue"] == ""  # empty: the image's `cluster` preset
    assert "s3://repotune" in default_config_yaml()


def test_ui_artifacts_are_declared(compiled):
    comps = _doc(compiled["rayjob"])["components"]
    def artifacts(step):
        return {n: a["artifactType"]["schemaTitle"]
                for n, a in comps[f"comp-{step}"]["outputDefinitions"]["artifacts"].items()}
    assert artifacts("dataset") == {"card": "system.Markdown", "metrics": "system.Metrics"}
    assert artifacts("train") == {"loss_curve": "system.HTML", "metrics": "system.Metrics"}
    assert artifacts("evaluate") == {"report": "system.Markdown", "metrics": "system.Metrics"}
