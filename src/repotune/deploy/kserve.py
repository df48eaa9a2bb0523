"""KServe objects for the repotune predictor: the ServingRuntime, the InferenceService of an adapter (with
canary traffic, GPU node selection), and KServe's annotated S3 Secret + ServiceAccount for a MinIO store.

These are plain dicts (what `kubectl apply` or the kubernetes client takes); tests validate them against the
published CRD schemas.
"""

from __future__ import annotations

from typing import Any

from repotune.core import cluster
from repotune.core.images import SERVE_IMAGE

MODEL_FORMAT = "repotune-lora"
RUNTIME = "repotune-predictor"


def serving_runtime(namespace: str, image: str = SERVE_IMAGE, base_model: str = "smollm2") -> dict[str, Any]:
    """The runtime: KServe's storage initializer puts the adapter at /mnt/models; the predictor serves it."""
    return {
        "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
        "metadata": {"name": RUNTIME, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "repotune"}},
        "spec": {
            "supportedModelFormats": [{"name": MODEL_FORMAT, "version": "1", "autoSelect": True}],
            "protocolVersions": ["v1", "v2"],
            "containers": [{
                "name": "kserve-container", "image": image,
                "command": ["python", "-m", "repotune.serve"],
                "args": ["--base", base_model, "--name", "{{.Name}}", "--adapter", "{{.Name}}-lora=/mnt/models",
                         "--host", "0.0.0.0", "--port", "8080"],
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}},
                "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
            }],
        },
    }


def _resources(gpus: int, cpu: tuple[str, str] = ("1", "4"), memory: tuple[str, str] = ("4Gi", "8Gi")) -> dict:
    resources: dict[str, Any] = {"requests": {"cpu": cpu[0], "memory": memory[0]},
                                 "limits": {"cpu": cpu[1], "memory": memory[1]}}
    if gpus:
        resources["requests"]["nvidia.com/gpu"] = str(gpus)
        resources["limits"]["nvidia.com/gpu"] = str(gpus)
    return resources


def _service(name: str, namespace: str, predictor: dict[str, Any], *, service_account: str,
             node_selector: dict[str, str] | None, tolerations: list[dict[str, Any]] | None,
             canary_traffic_percent: int | None, min_replicas: int) -> dict[str, Any]:
    predictor = {"serviceAccountName": service_account, "minReplicas": min_replicas, **predictor}
    if node_selector:
        predictor["nodeSelector"] = node_selector
    if tolerations:
        predictor["tolerations"] = tolerations
    if canary_traffic_percent is not None:
        predictor["canaryTrafficPercent"] = canary_traffic_percent
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "repotune"}},
            "spec": {"predictor": predictor}}


def inference_service(name: str, namespace: str, adapter_uri: str, *, service_account: str = cluster.S3_SERVICE_ACCOUNT,
                      gpus: int = 0, node_selector: dict[str, str] | None = None,
                      tolerations: list[dict[str, Any]] | None = None, canary_traffic_percent: int | None = None,
                      min_replicas: int = 1) -> dict[str, Any]:
    """The InferenceService of one adapter; a canary percentage sends that share to the newest revision."""
    model = {"modelFormat": {"name": MODEL_FORMAT}, "runtime": RUNTIME, "storageUri": adapter_uri,
             "resources": _resources(gpus)}
    return _service(name, namespace, {"model": model}, service_account=service_account, node_selector=node_selector,
                    tolerations=tolerations, canary_traffic_percent=canary_traffic_percent, min_replicas=min_replicas)


def vllm_inference_service(name: str, namespace: str, base_uri: str, adapters: dict[str, str], *,
                           service_account: str = cluster.S3_SERVICE_ACCOUNT, gpus: int = 1, max_lora_rank: int = 64,
                           node_selector: dict[str, str] | None = None,
                           tolerations: list[dict[str, Any]] | None = None,
                           canary_traffic_percent: int | None = None, min_replicas: int = 1) -> dict[str, Any]:
    """For GPU fleets: KServe's Hugging Face runtime on vLLM, the base model and every adapter fetched by the
    storage initializer (storageUris) and served with --enable-lora --lora-modules NAME=PATH; a request picks an
    adapter by its model name on the OpenAI routes."""
    storage = [{"uri": base_uri, "mountPath": "/mnt/models/base"}]
    storage += [{"uri": uri, "mountPath": f"/mnt/models/adapters/{adapter}"} for adapter, uri in adapters.items()]
    args = ["--model_name", name, "--model_dir", "/mnt/models/base", "--backend", "vllm", "--enable-lora",
            "--max-lora-rank", str(max_lora_rank), "--lora-modules",
            *[f"{adapter}=/mnt/models/adapters/{adapter}" for adapter in adapters]]
    model = {"modelFormat": {"name": "huggingface"}, "args": args,
             "resources": _resources(gpus, cpu=("4", "8"), memory=("16Gi", "32Gi"))}
    return _service(name, namespace, {"storageUris": storage, "model": model}, service_account=service_account,
                    node_selector=node_selector, tolerations=tolerations,
                    canary_traffic_percent=canary_traffic_percent, min_replicas=min_replicas)


def s3_secret_and_service_account(namespace: str, endpoint: str, *, use_https: bool = False,
                                  region: str = "us-east-1", secret_name: str = cluster.S3_SECRET,
                                  existing_secret: str | None = None) -> list[dict[str, Any]]:
    """KServe's pattern for S3-compatible storage: a Secret annotated with the endpoint, referenced by the
    ServiceAccount the predictor runs as. Keys are never rendered: with existing_secret the Secret is yours;
    otherwise it is rendered with empty values to be filled by your secret manager."""
    objects: list[dict[str, Any]] = []
    name = existing_secret or secret_name
    if existing_secret is None:
        objects.append({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": secret_name, "namespace": namespace, "annotations": {
                "serving.kserve.io/s3-endpoint": endpoint, "serving.kserve.io/s3-usehttps": "1" if use_https else "0",
                "serving.kserve.io/s3-region": region, "serving.kserve.io/s3-useanoncredential": "false"}},
            "type": "Opaque", "stringData": {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
        })
    objects.append({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": secret_name, "namespace": namespace}, "secrets": [{"name": name}]})
    return objects
