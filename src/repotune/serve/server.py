"""Start the predictor: kserve's ModelServer data plane and REST app, bound to a chosen host (127.0.0.1 locally).

    python -m repotune.serve --base tiny --adapter docs=./adapter --port 8080
    python -m repotune.serve --serve-config serve.json     # a whole serve config (the deploy step writes one)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import threading
import sys
from pathlib import Path
from typing import Any

from repotune.core.errors import RepotuneError
from repotune.serve.config import ServeConfig
from repotune.serve.predictor import RepotunePredictor


def serve(cfg: ServeConfig, base_model: str, store: Any = None) -> None:
    import kserve.model_server
    from kserve import ModelServer
    from kserve.model_server import FASTAPI_APP_IMPORT_STRING
    from kserve.protocol.rest.server import RESTServer

    from repotune.serve.admin_routes import register_admin_routes
    from repotune.serve.openai_routes import register_openai_routes

    if store is None and cfg.store_url:
        from repotune.core.store import open_store

        store = open_store(cfg.store_url)
    predictor = RepotunePredictor(cfg, base_model, store)
    predictor.load()
    server = ModelServer(http_port=cfg.port, enable_grpc=False, workers=1)
    server.register_model(predictor)
    predictor.repository = server.registered_models  # each adapter under its own name too (/v1/models, ready)
    for name in predictor.adapters:
        predictor._publish(name, [])
    register_openai_routes(kserve.model_server.app, predictor)
    register_admin_routes(kserve.model_server.app, predictor)
    rest = RESTServer(FASTAPI_APP_IMPORT_STRING, server.dataplane, server.model_repository_extension, cfg.port,
                      workers=1, grace_period=5)
    rest.config.host = cfg.host  # kserve binds 0.0.0.0; a local server should not be reachable from outside
    rest.config.timeout_graceful_shutdown = cfg.drain_s  # uvicorn cancels what is still running after this

    def graceful(signum: int, frame: Any) -> None:  # finish requests in flight (at most drain_s), then exit 0
        rest._server.should_exit = True
        # a backstop: whatever still holds the process (a generation that never returns) cannot keep it alive
        backstop = threading.Timer(cfg.drain_s + 5, os._exit, (0,))
        backstop.daemon = True
        backstop.start()

    signal.signal(signal.SIGTERM, graceful)
    signal.signal(signal.SIGINT, graceful)
    asyncio.run(rest.start())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m repotune.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve-config", type=Path, help="JSON of the whole serve config; the flags below override it (not --config: kserve's own "
                        "argument parser reads sys.argv and would take it for --configure_logging)")
    parser.add_argument("--base", help="base-model URI (required without a config that names one)")
    parser.add_argument("--adapter", action="append", default=[], help="NAME=URI (repeatable)")
    parser.add_argument("--name")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--store-url", help="the run store for store: adapter URIs (file://DIR or s3://bucket/prefix)")
    args = parser.parse_args(argv)
    fields = json.loads(args.serve_config.read_text()) if args.serve_config else {}
    if args.adapter:
        fields["adapters"] = dict(a.split("=", 1) for a in args.adapter)
    fields.update({k: v for k, v in (("name", args.name), ("host", args.host), ("port", args.port),
                                                   ("store_url", args.store_url)) if v is not None})
    cfg = ServeConfig.model_validate(fields)
    base = args.base or cfg.base_model
    if not base:
        parser.error("--base is required unless the config names serve.base_model")
    try:
        serve(cfg, base)
    except RepotuneError as e:  # a bad model or adapter: one line in the pod's log, not a traceback
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
