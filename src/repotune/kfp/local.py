"""`repotune run --kfp-local`: the same compiled pipeline, run on this machine by kfp.local's SubprocessRunner
(each component in a subprocess of this Python, artifacts under a local pipeline root). Kubernetes settings
(secrets, GPU, node selector) only warn here; training runs in-process (the `gpu-pod` variant)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import yaml

from repotune.config import RunConfig
from repotune.runs import load_manifest
from repotune.core.store import open_store


def run_kfp_local(config: RunConfig, pipeline_root: str | Path | None = None) -> dict[str, Any]:
    """Run the pipeline through kfp.local; returns the run manifest the steps wrote to the store."""
    from kfp import local

    from repotune.kfp.pipeline import build_pipeline

    root = Path(pipeline_root or Path.cwd() / ".repotune" / "kfp-local").resolve()
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    config_yaml = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    with warnings.catch_warnings():
        # our images' names carry no "python"; kfp.local warns about that and about Kubernetes-only settings
        warnings.filterwarnings("ignore", message=".*(non-Python base image|kubernetes).*")
        build_pipeline("pod")(config_yaml=config_yaml, overrides=[], run_id=config.run_id)
    manifest = load_manifest(open_store(config.store), config.run_id)
    manifest["kfp_pipeline_root"] = str(root)
    return manifest
