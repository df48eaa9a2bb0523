"""A JSON-over-HTTP server on 127.0.0.1 for the tests' fakes (Kubernetes API, Kubeflow Pipelines API, a
predictor): `handle(method, path, body) -> (status, document)` answers every request."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handle = Callable[[str, str, Any], tuple[int, Any]]


class JsonServer:
    def __init__(self, handle: Handle):
        self.content_types: list[tuple[str, str | None]] = []  # (method, Content-Type) of every request
        content_types = self.content_types

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                content_types.append((self.command, self.headers.get("Content-Type")))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                code, doc = handle(self.command, self.path, body)
                data = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
