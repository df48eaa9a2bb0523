"""The pipeline's steps as KFP lightweight components: thin shims over repotune.pipelines.runtime, run on our
own images (the package is installed there; the KFP SDK is not re-installed: install_kfp_package=False).
Imports live inside each body because KFP ships only the function's source to the pod."""

from kfp import dsl
from kfp.dsl import HTML, Markdown, Metrics, Output

from repotune._image import PIPELINE_IMAGE, SERVE_IMAGE, TRAIN_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def analyze(config_yaml: str, overrides: list, run_id: str, job_id: str, metrics: Output[Metrics]) -> str:
    """Parse the source repository with tree-sitter on Ray Data: units, facts, duplicates, secrets redacted."""
    from repotune.pipelines.runtime import log_metrics, run_kfp_step

    run = run_kfp_step("analyze", config_yaml, overrides, run_id=run_id, job_id=job_id)
    log_metrics(metrics, run)
    return run.handoff


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def label(config_yaml: str, overrides: list, upstream: str, metrics: Output[Metrics]) -> str:
    """Interpret and label every unit bottom-up with the configured LLM (or the offline interpreter)."""
    from repotune.pipelines.runtime import log_metrics, run_kfp_step

    run = run_kfp_step("label", config_yaml, overrides, upstream=upstream)
    log_metrics(metrics, run)
    return run.handoff


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def synthesize(config_yaml: str, overrides: list, upstream: str, metrics: Output[Metrics]) -> str:
    """Fill the template queries with sampled domain tokens; quality-label the pairs."""
    from repotune.pipelines.runtime import log_metrics, run_kfp_step

    run = run_kfp_step("synthesize", config_yaml, overrides, upstream=upstream)
    log_metrics(metrics, run)
    return run.handoff


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def dataset(config_yaml: str, overrides: list, upstream: str, card: Output[Markdown],
            metrics: Output[Metrics]) -> str:
    """Build the leakage-free train/val/test chat dataset and its card."""
    from repotune.pipelines.runtime import log_metrics, run_kfp_step, write_markdown

    run = run_kfp_step("dataset", config_yaml, overrides, upstream=upstream)
    write_markdown(card.path, run, "card")
    log_metrics(metrics, run)
    return run.handoff


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def train(config_yaml: str, overrides: list, upstream: str, launcher: str, s3_secret: str,
          loss_curve: Output[HTML], metrics: Output[Metrics]) -> str:
    """Fine-tune the LoRA adapter: in this pod, or as a KubeRay RayJob on the GPU node pool (launcher)."""
    from repotune.pipelines.runtime import log_metrics, run_kfp_step, write_png_html

    # the RayJob's pods mount the same S3 Secret as this pipeline's pods
    run = run_kfp_step("train", config_yaml, overrides, upstream=upstream,
                       pinned=[f"train.launcher={launcher}", f"train.rayjob.s3_secret={s3_secret}"])
    write_png_html(loss_curve.path, run, "loss_curve", "Training loss")
    log_metrics(metrics, run)
    return run.handoff


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def evaluate(config_yaml: str, overrides: list, upstream: str, report: Output[Markdown],
             metrics: Output[Metrics]) -> str:
    """Base vs adapter on the test split (smoothed BLEU-4, exact match, parse rate); fails the run below the gate."""
    from repotune.pipelines.runtime import log_metrics, run_kfp_step, write_markdown

    run = run_kfp_step("evaluate", config_yaml, overrides, upstream=upstream)
    write_markdown(report.path, run, "report")
    log_metrics(metrics, run)
    return run.handoff


@dsl.component(base_image=SERVE_IMAGE, install_kfp_package=False)
def deploy(config_yaml: str, overrides: list, upstream: str, endpoint: Output[Markdown]) -> str:
    """Put the adapter behind the predictor (KServe InferenceService or local), smoke-test it, report the URL."""
    import json

    from repotune.pipelines.runtime import run_kfp_step

    run = run_kfp_step("deploy", config_yaml, overrides, upstream=upstream)
    report = json.loads(run.output_bytes("deploy"))
    with open(endpoint.path, "w", encoding="utf-8") as f:
        f.write("# Endpoint\n\n" + "\n".join(f"- **{k}**: `{v}`" for k, v in sorted(report.items())
                                               if isinstance(v, str | int | float)) + "\n")
    return run.handoff
