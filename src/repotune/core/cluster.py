"""Cluster names every part shares: the pipeline, the step configs and the KServe/KubeRay renderers read them
here, so a rename in Python is one edit. The kustomize base's S3 ServiceAccount is rendered from them
(tests/manifests keeps it equal); the Helm chart still spells them out."""

NAMESPACE = "repotune"
S3_SECRET = "repotune-s3"  # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the store
LLM_SECRET = "repotune-llm"  # OPENAI_API_KEY of the labelling endpoint (optional)
S3_SERVICE_ACCOUNT = "repotune-s3"  # KServe's storage initializer reads the S3 secret through it
PIPELINE_SERVICE_ACCOUNT = "repotune-pipeline"
GPU_TAINT = "nvidia.com/gpu"
GPU_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}


def gpu_tolerations() -> list[dict[str, str]]:
    return [{"key": GPU_TAINT, "operator": "Exists", "effect": "NoSchedule"}]
