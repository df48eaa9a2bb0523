"""`repotune label` and `repotune label-testserver`."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command(help="Label the units of an analyzed run (runs/<run_id>/analyze/) into labels.parquet.")
    def label(
        overrides: Annotated[list[str] | None, typer.Argument(help="key=value overrides")] = None,
        config: Annotated[str | None, typer.Option("--config", "-c", help="Run config YAML file.")] = None,
    ) -> None:
        from rich.console import Console

        from repotune.cli import build_config
        from repotune.runs import Runner

        manifest = Runner(build_config(config, None, overrides)).run(["label"], force=["label"])
        Console().print(manifest["steps"]["label"]["summary"], markup=False, highlight=False)

    @app.command("label-testserver", help="Serve a fake OpenAI-compatible endpoint on 127.0.0.1 with injected "
                                          "faults (for trying label settings without a paid API).")
    def label_testserver(
        port: Annotated[int, typer.Option(help="Port (0: a free one).")] = 8089,
        fault_rate: Annotated[float, typer.Option(help="Share of requests that fail on purpose.")] = 0.0,
        latency_ms: Annotated[float, typer.Option(help="Latency added to every answer.")] = 0.0,
    ) -> None:
        import gc
        import time

        from repotune.llm.testserver import Faults, TestServer

        server = TestServer(Faults(rate=fault_rate), latency_s=latency_ms / 1000, port=port).start()
        gc.freeze()  # what start-up built lives on: full collections scanning it would pause answers (benchmarks)
        typer.echo(f"serving {server.url} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.stop()
