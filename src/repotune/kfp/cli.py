"""`repotune compile` and `repotune submit`: the Kubeflow pipeline as a file for the dashboard, or a run on a
Kubeflow Pipelines API (a developer's port-forward, or a GitOps Job in the cluster)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
import yaml

from repotune.core import cluster

VariantOpt = Annotated[str, typer.Option("--train-on", help="'rayjob': train as a KubeRay RayJob (default); "
                                         "'pod': train in the pipeline pod on a GPU node.")]
# where Kubeflow mounts a projected ServiceAccount token for in-cluster clients (KFP multi-user mode)
SA_TOKEN_PATH = "/var/run/secrets/kubeflow/pipelines/token"


def _check_variant(train_on: str) -> None:
    from repotune.core.errors import ConfigError

    if train_on not in ("rayjob", "pod"):
        raise ConfigError(f"--train-on must be 'rayjob' or 'pod', got {train_on!r}")


def compile_cmd(output: Annotated[Path, typer.Argument(help="Where to write the pipeline YAML.")] = Path(
                    "repotune-pipeline.yaml"), train_on: VariantOpt = "rayjob") -> None:
    from repotune.kfp.pipeline import compile_pipeline

    _check_variant(train_on)
    typer.echo(str(compile_pipeline(output, train_on)))  # type: ignore[arg-type]


def submit_cmd(
    host: Annotated[str, typer.Option(help="Kubeflow Pipelines API URL, e.g. http://localhost:8888 after "
                                      "`kubectl -n kubeflow port-forward svc/ml-pipeline 8888`.")],
    config: Annotated[str | None, typer.Option("--config", "-c", help="Run config YAML (e.g. from Git).")] = None,
    overrides: Annotated[list[str] | None, typer.Argument(help="key=value overrides")] = None,
    experiment: Annotated[str, typer.Option(help="KFP experiment.")] = "repotune",
    run_name: Annotated[str | None, typer.Option(help="Display name of the run.")] = None,
    run_id: Annotated[str, typer.Option(help="repotune run id (store prefix); empty: one per KFP run.")] = "",
    namespace: Annotated[str | None, typer.Option(help="Kubeflow profile namespace (multi-user).")] = None,
    s3_secret: Annotated[str, typer.Option(help="Secret with the S3 keys in the run's namespace.")] = cluster.S3_SECRET,
    llm_secret: Annotated[str, typer.Option(help="Secret with OPENAI_API_KEY (optional).")] = cluster.LLM_SECRET,
    train_on: VariantOpt = "rayjob",
) -> None:
    import kfp

    from repotune.config import load_config
    from repotune.kfp.pipeline import compile_pipeline, default_config_yaml

    _check_variant(train_on)
    # validated here so a bad config fails before anything reaches the cluster
    if config:
        load_config(config, overrides)
        config_yaml = Path(config).read_text()
    else:
        config_yaml = default_config_yaml()
        load_config(preset="cluster", overrides=overrides)
    credentials = None
    token_path = os.environ.get("KF_PIPELINES_SA_TOKEN_PATH", SA_TOKEN_PATH)
    if Path(token_path).is_file():
        credentials = kfp.client.ServiceAccountTokenVolumeCredentials(path=token_path)
    client = kfp.Client(host=host, namespace=namespace or "kubeflow", credentials=credentials)
    with tempfile.TemporaryDirectory() as tmp:
        package = compile_pipeline(Path(tmp) / "pipeline.yaml", train_on)  # type: ignore[arg-type]
        result = client.create_run_from_pipeline_package(
            str(package), arguments={"config_yaml": config_yaml, "overrides": list(overrides or []),
                                     "run_id": run_id, "s3_secret": s3_secret, "llm_secret": llm_secret},
            run_name=run_name or f"repotune {yaml.safe_load(config_yaml).get('analyze', {}).get('source', '')}",
            experiment_name=experiment, namespace=namespace)
    typer.echo(f"submitted run {result.run_id}: {host.rstrip('/')}/#/runs/details/{result.run_id}")


def compile_components_cmd(
        output: Annotated[Path, typer.Argument(help="The folder of the components (one sub-folder each).")] = Path(
            "components")) -> None:
    from repotune.kfp.publish import write_components

    for path in write_components(output):
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command(name="compile", help="Write the compiled Kubeflow pipeline (import it in the dashboard).")(compile_cmd)
    app.command(name="compile-components", help="Write each KFP component as <folder>/<name>/component.yaml with "
                "a README (for reuse in other pipelines).")(compile_components_cmd)
    app.command(name="submit", help="Submit a pipeline run to Kubeflow Pipelines (kfp.Client).")(submit_cmd)
