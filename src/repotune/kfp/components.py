"""The pipeline's steps as KFP lightweight components: thin shims over repotune.kfp.runtime, run on our
own images (the package is installed there; the KFP SDK is not re-installed: install_kfp_package=False).
Imports live inside each body because KFP ships only the function's source to the pod.

Each is also published as components/<name>/component.yaml (with a README), for use in other pipelines:
`kfp.components.load_component_from_file("components/train/component.yaml")`. `repotune compile-components`
writes them; a test fails when they drift from these definitions."""

from kfp import dsl
from kfp.dsl import HTML, Markdown, Metrics, Output

from repotune.core.images import PIPELINE_IMAGE, SERVE_IMAGE, TRAIN_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def analyze(config_yaml: str, overrides: list, run_id: str, job_id: str, metrics: Output[Metrics]) -> str:
    """Parse the source repository with tree-sitter on Ray Data: units, facts, duplicates, secrets redacted.

    Reads analyze.source (a git URL#ref, an archive, store:<prefix> or sample:<name>) and writes units.parquet,
    graph.parquet and analyze.json.

    Args:
        config_yaml: The run config as YAML text (empty: the `cluster` preset shipped in the image).
        overrides: key=value overrides applied on top of config_yaml, e.g. ["train.max_steps=20"].
        run_id: The repotune run id (the store prefix runs/<run_id>/); empty: one per KFP run (job_id).
        job_id: The KFP run's id, used for run_id when that is empty.
        metrics: Counts and timings of the step (files, units, skipped by reason, redactions).

    Returns:
        Output: The hand-off for the next component: the run id and this step's output hashes; the step's files
        are in the object store under runs/<run_id>/analyze/.
    """
    from repotune.kfp.runtime import log_metrics, run_kfp_step

    run = run_kfp_step("analyze", config_yaml, overrides, run_id=run_id, job_id=job_id)
    log_metrics(metrics, run)
    return run.handoff


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def label(config_yaml: str, overrides: list, upstream: str, metrics: Output[Metrics]) -> str:
    """Interpret and label every unit bottom-up with the configured LLM (or the offline interpreter).

    Writes labels.parquet and label.json (requests, tokens, cost, failures by reason). The LLM key comes from the
    llm_secret the pipeline mounts as OPENAI_API_KEY, never from a parameter.

    Args:
        config_yaml: The run config as YAML text (empty: the `cluster` preset shipped in the image).
        overrides: key=value overrides applied on top of config_yaml, e.g. ["train.max_steps=20"].
        upstream: The previous component's Output (the run id and its output hashes); orders the tasks.
        metrics: Units labelled per level, requests, tokens and cost.

    Returns:
        Output: The hand-off for the next component: the run id and this step's output hashes; the step's files
        are in the object store under runs/<run_id>/label/.
    """
    from repotune.kfp.runtime import log_metrics, run_kfp_step

    run = run_kfp_step("label", config_yaml, overrides, upstream=upstream)
    log_metrics(metrics, run)
    return run.handoff


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def synthesize(config_yaml: str, overrides: list, upstream: str, metrics: Output[Metrics]) -> str:
    """Fill the template queries with sampled domain tokens; quality-label the pairs.

    Writes synthetic.parquet, template_weights.json and synthesize.json (pairs kept, skipped by reason).

    Args:
        config_yaml: The run config as YAML text (empty: the `cluster` preset shipped in the image).
        overrides: key=value overrides applied on top of config_yaml, e.g. ["train.max_steps=20"].
        upstream: The previous component's Output (the run id and its output hashes); orders the tasks.
        metrics: Pairs generated, passing the quality checks, skipped by reason.

    Returns:
        Output: The hand-off for the next component: the run id and this step's output hashes; the step's files
        are in the object store under runs/<run_id>/synthesize/.
    """
    from repotune.kfp.runtime import log_metrics, run_kfp_step

    run = run_kfp_step("synthesize", config_yaml, overrides, upstream=upstream)
    log_metrics(metrics, run)
    return run.handoff


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def dataset(config_yaml: str, overrides: list, upstream: str, card: Output[Markdown],
            metrics: Output[Metrics]) -> str:
    """Build the leakage-free train/val/test chat dataset (split by file) and its card.

    Writes train.jsonl, val.jsonl, test.jsonl, card.md and card.json.

    Args:
        config_yaml: The run config as YAML text (empty: the `cluster` preset shipped in the image).
        overrides: key=value overrides applied on top of config_yaml, e.g. ["train.max_steps=20"].
        upstream: The previous component's Output (the run id and its output hashes); orders the tasks.
        card: The dataset card (examples per split and task, sources, near-duplicates removed).
        metrics: Examples per split.

    Returns:
        Output: The hand-off for the next component: the run id and this step's output hashes; the step's files
        are in the object store under runs/<run_id>/dataset/.
    """
    from repotune.kfp.runtime import log_metrics, run_kfp_step, write_markdown

    run = run_kfp_step("dataset", config_yaml, overrides, upstream=upstream)
    write_markdown(card.path, run, "card")
    log_metrics(metrics, run)
    return run.handoff


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def train(config_yaml: str, overrides: list, upstream: str, launcher: str, s3_secret: str,
          loss_curve: Output[HTML], metrics: Output[Metrics]) -> str:
    """Fine-tune the LoRA adapter: in this pod, or as a KubeRay RayJob on the GPU node pool (launcher).

    Writes adapter/ (peft), metrics.json, loss.png and train.json.

    Args:
        config_yaml: The run config as YAML text (empty: the `cluster` preset shipped in the image).
        overrides: key=value overrides applied on top of config_yaml, e.g. ["train.max_steps=20"].
        upstream: The previous component's Output (the run id and its output hashes); orders the tasks.
        launcher: 'rayjob' to create a KubeRay RayJob with GPU workers, 'inprocess' to train in this pod.
        s3_secret: The Secret with the S3 keys; the RayJob's pods mount it as this pod does.
        loss_curve: The training (and validation) loss by step.
        metrics: Loss first/last, validation loss, tokens/s.

    Returns:
        Output: The hand-off for the next component: the run id and this step's output hashes; the step's files
        are in the object store under runs/<run_id>/train/.
    """
    from repotune.kfp.runtime import log_metrics, run_kfp_step, write_png_html

    # the RayJob's pods mount the same S3 Secret as this pipeline's pods
    run = run_kfp_step("train", config_yaml, overrides, upstream=upstream,
                       pinned=[f"train.launcher={launcher}", f"train.rayjob.s3_secret={s3_secret}"])
    write_png_html(loss_curve.path, run, "loss_curve", "Training loss")
    log_metrics(metrics, run)
    return run.handoff


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def evaluate(config_yaml: str, overrides: list, upstream: str, report: Output[Markdown],
             metrics: Output[Metrics]) -> str:
    """Base vs adapter on the whole test split; fails the run when the gate is not cleared.

    The headline is code2doc smoothed BLEU-4 with n, a bootstrap 95% interval and the paired differences
    adapter − base and adapter − retrieval (answers copied from the most similar train example, no model); the
    gate (evaluate.min_improvement, against evaluate.gate_against) needs its difference's lower end to clear it.
    Writes eval.json and eval.md.

    Args:
        config_yaml: The run config as YAML text (empty: the `cluster` preset shipped in the image).
        overrides: key=value overrides applied on top of config_yaml, e.g. ["train.max_steps=20"].
        upstream: The previous component's Output (the run id and its output hashes); orders the tasks.
        report: eval.md: every task with n, base, adapter, retrieval, intervals and the gate's verdict; code2doc per
            unit kind; where eval.json lists the adapter's weakest answers.
        metrics: The headline scores and both differences.

    Returns:
        Output: The hand-off for the next component: the run id and this step's output hashes; the step's files
        are in the object store under runs/<run_id>/evaluate/.
    """
    from repotune.kfp.runtime import log_metrics, run_kfp_step, write_markdown

    run = run_kfp_step("evaluate", config_yaml, overrides, upstream=upstream)
    write_markdown(report.path, run, "report")
    log_metrics(metrics, run)
    return run.handoff


@dsl.component(base_image=SERVE_IMAGE, install_kfp_package=False)
def deploy(config_yaml: str, overrides: list, upstream: str, endpoint: Output[Markdown]) -> str:
    """Put the adapter behind the predictor (a KServe InferenceService, or local), smoke-test it, report the URL.

    Writes deploy.json (URL, model name, the smoke request's answer and latency).

    Args:
        config_yaml: The run config as YAML text (empty: the `cluster` preset shipped in the image).
        overrides: key=value overrides applied on top of config_yaml, e.g. ["train.max_steps=20"].
        upstream: The previous component's Output (the run id and its output hashes); orders the tasks.
        endpoint: The endpoint: URL, model name, rollout state.

    Returns:
        Output: The hand-off for the next component: the run id and this step's output hashes; the step's files
        are in the object store under runs/<run_id>/deploy/.
    """
    import json

    from repotune.kfp.runtime import run_kfp_step

    run = run_kfp_step("deploy", config_yaml, overrides, upstream=upstream)
    report = json.loads(run.output_bytes("deploy"))
    with open(endpoint.path, "w", encoding="utf-8") as f:
        f.write("# Endpoint\n\n" + "\n".join(f"- **{k}**: `{v}`" for k, v in sorted(report.items())
                                               if isinstance(v, str | int | float)) + "\n")
    return run.handoff
