"""`repotune analyze SOURCE`: analyze one source and print a readable summary."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command(help="Analyze a source (directory, git URL#ref, .tar.gz/.zip, store:<prefix>, sample:<name>) "
                      "into units.parquet, graph.parquet and analyze.json under runs/<run_id>/analyze/.")
    def analyze(
        source: Annotated[str, typer.Argument(help="What to analyze.")],
        overrides: Annotated[list[str] | None, typer.Argument(help="key=value overrides")] = None,
        config: Annotated[str | None, typer.Option("--config", "-c", help="Run config YAML file.")] = None,
        ray_address: Annotated[str | None, typer.Option("--ray-address", help="Ray cluster address.")] = None,
    ) -> None:
        from rich.console import Console

        from repotune.cli import build_config
        from repotune.runs import Runner

        extra = [f"analyze.source={source}"] + ([f"ray.address={ray_address}"] if ray_address else [])
        cfg = build_config(config, None, [*(overrides or []), *extra])
        manifest = Runner(cfg).run(["analyze"], force=["analyze"])
        Console().print(manifest["steps"]["analyze"]["summary"], markup=False, highlight=False)
