"""Rendered KServe objects validate against the published CRD schemas (../shared/crds)."""

import functools
from pathlib import Path

import jsonschema
import pytest
import yaml

from repotune.deploy.kserve import inference_service, s3_secret_and_service_account, serving_runtime

CRDS = Path(__file__).resolve().parents[3] / "shared" / "crds"


@functools.lru_cache(maxsize=None)
def _crd(file: str) -> dict:
    return yaml.load((CRDS / file).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.lru_cache(maxsize=None)
def _validator(file: str, version: str) -> jsonschema.Draft7Validator:
    # jsonschema.validate() re-checks the (2 MB) schema itself on every call; build the validator once
    doc = _crd(file)
    return jsonschema.Draft7Validator(
        next(v for v in doc["spec"]["versions"] if v["name"] == version)["schema"]["openAPIV3Schema"])


def validate(obj: dict, file: str, version: str) -> None:
    if not CRDS.is_dir():
        pytest.skip("../shared/crds is absent")
    _validator(file, version).validate(obj)


def test_inference_service_validates_with_gpu_canary_and_tolerations():
    isvc = inference_service("tinyshop", "repotune", "s3://models/runs/r1/train/adapter", gpus=1,
                             node_selector={"nvidia.com/gpu.present": "true"},
                             tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                             canary_traffic_percent=10)
    validate(isvc, "serving.kserve.io_inferenceservices.yaml", "v1beta1")
    model = isvc["spec"]["predictor"]["model"]
    assert model["storageUri"] == "s3://models/runs/r1/train/adapter" and model["runtime"] == "repotune-predictor"
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 10


def test_serving_runtime_validates_and_runs_the_predictor():
    runtime = serving_runtime("repotune", image="registry.local/repotune-serve:0.1.0")
    validate(runtime, "serving.kserve.io_servingruntimes.yaml", "v1alpha1")
    container = runtime["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "repotune.serve"] and "/mnt/models" in " ".join(container["args"])
    assert container["securityContext"]["runAsNonRoot"] is True


def test_a_wrong_object_fails_validation():
    isvc = inference_service("x", "ns", "s3://b/a", canary_traffic_percent=10)
    isvc["spec"]["predictor"]["canaryTrafficPercent"] = "ten"
    with pytest.raises(jsonschema.ValidationError):
        validate(isvc, "serving.kserve.io_inferenceservices.yaml", "v1beta1")


def test_s3_secret_pattern_never_renders_keys():
    objects = s3_secret_and_service_account("repotune", "minio.repotune:9000")
    secret, account = objects
    assert secret["metadata"]["annotations"]["serving.kserve.io/s3-endpoint"] == "minio.repotune:9000"
    assert set(secret["stringData"].values()) == {""}
    assert account["secrets"] == [{"name": "repotune-s3"}]
    [only_account] = s3_secret_and_service_account("repotune", "minio:9000", existing_secret="my-keys")
    assert only_account["secrets"] == [{"name": "my-keys"}]


def test_vllm_huggingface_runtime_serves_the_base_and_every_adapter():
    from repotune.deploy.kserve import vllm_inference_service

    isvc = vllm_inference_service("fleet", "repotune", "s3://models/base/qwen2-0.5b",
                                  {"docs": "s3://models/runs/r1/train/adapter", "tags": "s3://models/runs/r2/train/adapter"},
                                  gpus=1, node_selector={"nvidia.com/gpu.present": "true"}, canary_traffic_percent=10)
    validate(isvc, "serving.kserve.io_inferenceservices.yaml", "v1beta1")
    predictor = isvc["spec"]["predictor"]
    assert [s["uri"] for s in predictor["storageUris"]] == ["s3://models/base/qwen2-0.5b",
                                                           "s3://models/runs/r1/train/adapter",
                                                           "s3://models/runs/r2/train/adapter"]
    args = predictor["model"]["args"]
    assert predictor["model"]["modelFormat"] == {"name": "huggingface"} and "--enable-lora" in args
    modules = args[args.index("--lora-modules") + 1:]
    assert modules == ["docs=/mnt/models/adapters/docs", "tags=/mnt/models/adapters/tags"]
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
