"""The `repotune` command line.

Exit codes: 0 ok · 1 unexpected error · 2 invalid config or usage · 3 object store error · 4 step failed ·
5 evaluation gate not passed · 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from repotune._version import __version__
from repotune.config import RunConfig, commented_yaml, field_docs, list_presets, load_config
from repotune.core.errors import RepotuneError
from repotune.steps import STEP_NAMES
from repotune.core.store import open_store

console = Console(stderr=True)
out = Console()


def _fields_help() -> str:
    from rich.markup import escape

    rows = [escape(f"{name} (default {default}): {desc}") for name, default, desc in field_docs()]
    return "Run config fields (set in --config YAML or as key=value overrides):\n\n" + "\n\n".join(rows)


app = typer.Typer(
    name="repotune",
    help="Turn source repositories into a fine-tuned, served code model (analyze → label → synthesize → "
    "dataset → train → evaluate → deploy). Exit codes: 0 ok, 2 bad config, 3 store error, 4 step failed, "
    "5 gate not passed.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="Run config YAML file.")]
PresetOpt = Annotated[str | None, typer.Option("--preset", "-p", help="A shipped preset (`repotune presets`).")]
OverridesArg = Annotated[list[str] | None, typer.Argument(help="key=value overrides, e.g. train.max_steps=20")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
StoreOpt = Annotated[str | None, typer.Option("--store", help="Store URL (overrides store.url).")]


def build_config(config: str | None, preset: str | None, overrides: list[str] | None,
                 store: str | None = None) -> RunConfig:
    overrides = list(overrides or [])
    if store:
        overrides.insert(0, f"store.url={store}")
    return load_config(config, overrides, preset=preset)


def _print_json(doc: Any) -> None:
    out.print_json(json.dumps(doc, default=str))


@app.command(help=f"Run the pipeline's steps in order, in-process (embedded defaults: the bundled sample, a local "
                  f"store, local Ray). Steps: {', '.join(STEP_NAMES)}.\n\n" + _fields_help())
def run(
    overrides: OverridesArg = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    steps: Annotated[str | None, typer.Option(help="Comma-separated steps to run (default: all).")] = None,
    force: Annotated[list[str] | None, typer.Option("--force", help="Rerun this step even if unchanged.")] = None,
    as_json: JsonOpt = False,
    kfp_local: Annotated[bool, typer.Option("--kfp-local", help="Run the Kubeflow pipeline itself on this machine "
                                            "(kfp.local SubprocessRunner) instead of the in-process runner.")] = False,
) -> None:
    cfg = build_config(config, preset, overrides)
    if kfp_local:
        if steps or force:
            raise typer.BadParameter("--kfp-local runs the whole pipeline; --steps/--force do not apply")
        from repotune.kfp.local import run_kfp_local

        manifest = run_kfp_local(cfg)
        if as_json:
            _print_json(manifest)
        else:
            for step in STEP_NAMES:
                if record := manifest["steps"].get(step):
                    console.print(escape(f"{step}: {record['status']} ({record.get('duration_s', 0):.1f}s)"))
            console.print(f"run [bold]{escape(cfg.run_id)}[/bold] in "
                          + escape(f"{open_store(cfg.store).url}/runs/{cfg.run_id}/; KFP artifacts under "
                                   f"{manifest['kfp_pipeline_root']}"))
        return
    from repotune.runs import Runner

    def on_event(step: str, event: str, record: dict[str, Any]) -> None:
        if as_json:
            return
        if event == "started":
            console.print(f"[bold]▶ {escape(step)}[/bold]")
        elif event == "skipped":
            console.print(f"[dim]• {escape(step)}: unchanged, skipped (use --force {escape(step)} to rerun)[/dim]")
        elif event == "succeeded":
            console.print(f"[green]✔ {escape(step)}[/green] in {record['duration_s']:.1f}s")
            if record.get("summary"):
                console.print(record["summary"], markup=False, highlight=False)
        elif event == "failed":
            console.print(f"[red]✘ {escape(step)}[/red]: {escape(str(record.get('error')))}")
        elif event == "unavailable":
            console.print(f"[yellow]– {escape(step)}: not implemented in this version yet[/yellow]")

    runner = Runner(cfg, on_event=on_event)
    manifest = runner.run(steps.split(",") if steps else None, force=force or ())
    if as_json:
        _print_json(manifest)
    else:
        console.print(f"run [bold]{escape(cfg.run_id)}[/bold] in {escape(f'{runner.store.url}/runs/{cfg.run_id}/')}")


@app.command(help="Show the status of each step of a run.")
def status(run_id: str, store: StoreOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    from repotune.runs import load_manifest
    from repotune.core.store import open_store

    cfg = build_config(config, None, None, store)
    manifest = load_manifest(open_store(cfg.store), run_id)
    if as_json:
        _print_json(manifest)
        return
    if not manifest["steps"]:
        raise RepotuneError(f"no run {run_id!r} in {cfg.store.url}")
    prefix = f"runs/{run_id}/"
    table = Table(title=escape(f"run {run_id} in {cfg.store.url}/{prefix}"))
    for col in ("step", "status", "duration", "counts", f"outputs (under {prefix})"):
        table.add_column(escape(col), overflow="fold")
    for step in STEP_NAMES:
        rec = manifest["steps"].get(step)
        if rec:
            counts = ", ".join(f"{k}={v}" for k, v in list(rec.get("counts", {}).items())[:6])
            outputs = ", ".join(key.removeprefix(prefix) for key in (rec.get("outputs") or {}).values())
            table.add_row(*(escape(str(cell)) for cell in (step, rec["status"], f"{rec.get('duration_s', 0):.1f}s", counts,
                                                             outputs)))
        else:
            table.add_row(step, "[dim]not run[/dim]", "", "", "")
    out.print(table)


@app.command(name="ls", help="List the runs in the store.")
def list_runs_cmd(store: StoreOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    from repotune.runs import list_runs
    from repotune.core.store import open_store

    cfg = build_config(config, None, None, store)
    runs = list_runs(open_store(cfg.store))
    if as_json:
        _print_json([{"run_id": r["run_id"], "updated": r.get("updated"),
                      "steps": {k: v["status"] for k, v in r["steps"].items()}} for r in runs])
        return
    table = Table(title=escape(f"runs in {cfg.store.url}"))
    for col in ("run", "updated", "steps"):
        table.add_column(col)
    for r in runs:
        table.add_row(*(escape(str(cell)) for cell in (r["run_id"], r.get("updated", ""),
                                                       " ".join(f"{k}:{v['status']}" for k, v in r["steps"].items()))))
    out.print(table)


@app.command(help="Show one step of a run: its record and its outputs in the store.")
def show(run_id: str, step: str, store: StoreOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    from repotune.runs import load_manifest
    from repotune.core.store import open_store

    cfg = build_config(config, None, None, store)
    manifest = load_manifest(open_store(cfg.store), run_id)
    rec = manifest["steps"].get(step)
    if rec is None:
        raise RepotuneError(f"run {run_id!r} has no step {step!r} in {cfg.store.url}")
    if as_json:
        _print_json(rec)
        return
    out.print(f"[bold]{escape(step)}[/bold] " + escape(f"of run {run_id}: {rec['status']} "
                                                      f"({rec.get('duration_s', 0):.1f}s)"))
    lines = [*(f"  {name}: {key}" for name, key in rec.get("outputs", {}).items()),
             *(f"  {k} = {v}" for k, v in rec.get("counts", {}).items()),
             *(f"  {k} = {v}" for k, v in rec.get("metrics", {}).items()),
             *([rec["summary"]] if rec.get("summary") else [])]
    for line in lines:
        out.print(line, markup=False, highlight=False)
    if rec.get("error"):
        out.print(f"[red]{escape(str(rec['error']))}[/red]")


@app.command(help="Print the effective run config as commented YAML (a starting point for --config).")
def config(overrides: OverridesArg = None, config: ConfigOpt = None, preset: PresetOpt = None) -> None:
    out.print(commented_yaml(build_config(config, preset, overrides)), markup=False, highlight=False)


@app.command(help="List the shipped presets.")
def presets() -> None:
    for name in list_presets():
        out.print(name)


@app.command(name="render-manifests", help="Write the kustomize base's rendered files (the ServingRuntime and the "
             "S3 ServiceAccount, from the deploy step's renderer) into FOLDER.")
def render_manifests(folder: Annotated[str, typer.Argument(help="The kustomize base.")] = "manifests/base") -> None:
    from repotune.deploy.manifests import write_base

    for path in write_base(folder):
        out.print(str(path), markup=False, highlight=False)


@app.command(help="Print the version.")
def version() -> None:
    out.print(__version__)


# Subcommands of their own: one step alone (analyze, label), the label test server and the predictor (serve),
# and the Kubeflow pipeline (compile, submit, run on kfp.local).
from repotune.cli import analyze as _analyze_cli, label as _label_cli, serve as _serve_cli  # noqa: E402
from repotune.kfp import cli as _kfp_cli  # noqa: E402

for _mod in (_analyze_cli, _label_cli, _serve_cli, _kfp_cli):
    _mod.register(app)


SERVING_COMMANDS = {"serve", "label-testserver"}


def main() -> None:
    global console
    from repotune.core.logs import route_output, terminal

    # long-running servers keep their access logs on the console; every other command routes library noise
    log_path = None if set(sys.argv[1:2]) & SERVING_COMMANDS else route_output()
    console = Console(file=terminal())
    from repotune.core.ray_setup import reap_orphaned_ray

    reap_orphaned_ray()  # what a killed run's Ray left behind goes at the next command, whichever it is (~ms)
    try:
        app()
    except RepotuneError as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", markup=True, highlight=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]")
        sys.exit(130)
    except Exception as e:  # a bug: one line here, the traceback in the log
        logging.getLogger().error("unexpected error", exc_info=True)
        where = f"; the traceback is in {log_path}" if log_path else ""
        console.print(f"[red]unexpected error:[/red] {escape(f'{type(e).__name__}: {e}')}{escape(where)}",
                      highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
