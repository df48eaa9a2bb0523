"""`repotune serve`: the predictor on this machine."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command(help="Serve a base model and LoRA adapters (KServe v1/v2 and OpenAI routes) on 127.0.0.1. "
                      "Adapters as NAME=URI (a folder, s3://, store:<prefix>).")
    def serve(
        adapters: Annotated[list[str] | None, typer.Argument(help="NAME=URI of each adapter")] = None,
        base: Annotated[str, typer.Option(help="Base-model URI.")] = "tiny",
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port.")] = 8080,
    ) -> None:
        from repotune.core.errors import ConfigError
        from repotune.serve.config import ServeConfig
        from repotune.serve.server import serve as start

        pairs = [a.split("=", 1) for a in adapters or []]
        if any(len(p) != 2 for p in pairs):
            raise ConfigError("adapters are NAME=URI, e.g. docs=./runs/local/train/adapter")
        start(ServeConfig(adapters=dict(pairs), host=host, port=port), base)
