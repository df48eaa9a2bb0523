"""What runs inside each pipeline component: build the run config from the pipeline's parameters, run one step
through the Runner (same manifest, same skip-if-unchanged as a local run), and turn its outputs in the store
into KFP UI artifacts. Components stay thin shims over this (and over the steps themselves).

Steps hand each other only a small JSON (`handoff`: run id, step, outputs hash); the data stays in the store.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from typing import Any

from repotune.config import RunConfig, load_config_text
from repotune.core.errors import StepError
from repotune.runs import Runner
from repotune.core.store import ObjectStore


def resolve_run_id(run_id: str, job_id: str, config: RunConfig) -> str:
    """An explicit run id wins; else a KFP run gets its own (`kfp-` + the job id); else the config's."""
    if run_id:
        return run_id
    if job_id and not job_id.startswith("{{"):
        return "kfp-" + job_id.replace("-", "")[:12]
    return config.run_id


@dataclass
class StepRun:
    config: RunConfig
    store: ObjectStore
    record: dict[str, Any]

    @property
    def handoff(self) -> str:
        return json.dumps({"run_id": self.config.run_id, "step": self.record["step"],
                           "outputs_hash": self.record["outputs_hash"]}, sort_keys=True)

    def output_bytes(self, name: str) -> bytes:
        return self.store.get_bytes(self.record["outputs"][name])


def run_kfp_step(step: str, config_yaml: str, overrides: list[str], *, upstream: str = "", run_id: str = "",
                 job_id: str = "", pinned: list[str] | None = None) -> StepRun:
    """Run one step of the run named by `upstream` (or, for the first step, by run_id / the KFP job id).
    `pinned` are overrides fixed when the pipeline was compiled (e.g. the train launcher)."""
    if not config_yaml.strip():
        from repotune.kfp.pipeline import default_config_yaml

        config_yaml = default_config_yaml()
    config = load_config_text(config_yaml, [*(overrides or []), *(pinned or [])], where="config_yaml parameter")
    if upstream:
        handed = json.loads(upstream)
        run = handed["run_id"]
    else:
        run = resolve_run_id(run_id, job_id, config)
    config = config.model_copy(update={"run_id": run})
    runner = Runner(config)
    manifest = runner.run([step])
    record = manifest["steps"].get(step)
    if not record or record.get("status") != "succeeded":
        raise StepError(f"{step}: did not succeed in run {run!r}")
    return StepRun(config=config, store=runner.store, record={**record, "step": step})


def write_markdown(path: str, run: StepRun, output: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(run.output_bytes(output).decode())


def write_png_html(path: str, run: StepRun, output: str, title: str) -> None:
    """A PNG from the store as a self-contained HTML page (the KFP UI shows HTML artifacts inline)."""
    data = base64.b64encode(run.output_bytes(output)).decode()
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"<html><body><h3>{html.escape(title)}</h3><img alt=\"{html.escape(title)}\" "
                f"src=\"data:image/png;base64,{data}\"/></body></html>")


def log_metrics(metrics: Any, run: StepRun) -> None:
    """The step's metrics and counts as KFP scalar metrics."""
    for name, value in sorted({**run.record.get("counts", {}), **run.record.get("metrics", {})}.items()):
        if isinstance(value, int | float) and not isinstance(value, bool):
            metrics.log_metric(name, float(value))
