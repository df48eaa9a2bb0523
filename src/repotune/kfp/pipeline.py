"""The repotune Kubeflow pipeline: analyze → label → synthesize → dataset → train → evaluate → deploy.

Two compiled variants share every component:
- `repotune` (default): train launches a KubeRay RayJob with the GPU worker group (GPU settings live in the
  RayJob, rendered from train.rayjob); the pipeline pod itself needs no GPU.
- `repotune-gpu-pod`: train runs in the pipeline pod, which asks for a GPU on the GPU node pool (clusters
  without KubeRay).

Caching is off on purpose: a step's cache key in KFP is its inputs as text, but what a step depends on is the
content behind them (a moving git ref, the LLM's answers, the store). repotune's run manifest already skips a
step whose config and input contents are unchanged, so re-running a run id costs only what changed.
"""


from importlib import resources
from pathlib import Path
from typing import Literal

from kfp import compiler, dsl, kubernetes

from repotune.core import cluster
from repotune.kfp import components as c

# KFP reads the pipeline function's annotations at runtime: no `from __future__ import annotations` here
TrainOn = Literal["rayjob", "pod"]
S3_SECRET = cluster.S3_SECRET
LLM_SECRET = cluster.LLM_SECRET
S3_KEYS = {"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY"}
GPU_NODE_SELECTOR = next(iter(cluster.GPU_NODE_SELECTOR.items()))
GPU_TAINT = cluster.GPU_TAINT


def default_config_yaml() -> str:
    """The run config a run gets when config_yaml is left empty: the `cluster` preset shipped in the image
    (MinIO in the repotune namespace). Not a compiled-in default: KFP writes defaults into the YAML header
    comment, and a multi-line one breaks the file."""
    return resources.files("repotune.presets").joinpath("cluster.yaml").read_text()


def _store_access(task: dsl.PipelineTask, s3_secret, llm_secret=None) -> dsl.PipelineTask:
    kubernetes.use_secret_as_env(task, secret_name=s3_secret, secret_key_to_env=S3_KEYS)
    if llm_secret is not None:  # the hosted LLM's key; optional: offline labels and in-cluster servers need none
        kubernetes.use_secret_as_env(task, secret_name=llm_secret,
                                     secret_key_to_env={"OPENAI_API_KEY": "OPENAI_API_KEY"}, optional=True)
    task.set_caching_options(False)
    return task


def build_pipeline(train_on: TrainOn = "rayjob"):
    name = "repotune" if train_on == "rayjob" else "repotune-gpu-pod"

    @dsl.pipeline(name=name, description="Turn a source repository into a fine-tuned LoRA code model served by "
                  "KServe: analyze, label, synthesize, dataset, train, evaluate, deploy.")
    def repotune_pipeline(config_yaml: str = "", overrides: list = [], run_id: str = "",  # noqa: B006
                          s3_secret: str = S3_SECRET, llm_secret: str = LLM_SECRET):
        common = {"config_yaml": config_yaml, "overrides": overrides}
        s3 = {"s3_secret": s3_secret}
        analyze = _store_access(c.analyze(**common, run_id=run_id, job_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER), **s3)
        analyze.set_cpu_request("2").set_memory_request("4G")
        label = _store_access(c.label(**common, upstream=analyze.outputs["Output"]), **s3,
                              llm_secret=llm_secret)
        synthesize = _store_access(c.synthesize(**common, upstream=label.outputs["Output"]), **s3,
                                   llm_secret=llm_secret)
        dataset = _store_access(c.dataset(**common, upstream=synthesize.outputs["Output"]), **s3)
        train = _store_access(c.train(**common, upstream=dataset.outputs["Output"],
                                      launcher="rayjob" if train_on == "rayjob" else "inprocess",
                                      s3_secret=s3_secret), **s3)
        if train_on == "pod":
            train.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
            train.set_cpu_request("4").set_memory_request("32G")
            kubernetes.add_node_selector(train, *GPU_NODE_SELECTOR)
            kubernetes.add_toleration(train, key=GPU_TAINT, operator="Exists", effect="NoSchedule")
        evaluate = _store_access(c.evaluate(**common, upstream=train.outputs["Output"]), **s3)
        _store_access(c.deploy(**common, upstream=evaluate.outputs["Output"]), **s3)

    return repotune_pipeline


def compile_pipeline(path: str | Path, train_on: TrainOn = "rayjob") -> Path:
    """Write the compiled pipeline (IR YAML the Kubeflow dashboard imports)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(train_on), str(path))
    return path
