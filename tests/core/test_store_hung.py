"""A hung S3 endpoint (it accepts connections and never answers) fails within store.timeout_s, retries included:
as a StoreError from the store, and as exit 3 with one line from the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from repotune.core.errors import StoreError
from repotune.core.store import StoreConfig, open_store


@pytest.fixture
def hung_endpoint():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])  # held open, never read from or written to
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}", accepted
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_a_hung_endpoint_fails_the_store_within_its_timeout(hung_endpoint, monkeypatch):
    endpoint, accepted = hung_endpoint
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "fake-access")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-for-the-test")
    t0 = time.monotonic()
    with pytest.raises(StoreError, match=f"cannot reach the S3 endpoint {endpoint}"):
        open_store(StoreConfig(url="s3://bucket", endpoint=endpoint, secure=False, timeout_s=1.5))
    waited = time.monotonic() - t0
    assert accepted, "the client reached the endpoint"
    assert waited < 1.5 + 1.5, f"waited {waited:.1f}s for a 1.5 s bound"


def test_the_cli_exits_3_with_one_line_on_a_hung_endpoint(hung_endpoint, tmp_path):
    endpoint, _ = hung_endpoint
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200",
           "AWS_ACCESS_KEY_ID": "fake-access", "AWS_SECRET_ACCESS_KEY": "fake-secret-for-the-test"}
    t0 = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "repotune", "run", "--steps", "analyze", "store.url=s3://bucket",
                             f"store.endpoint={endpoint}", "store.secure=false", "store.timeout_s=2"],
                            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert result.returncode == 3, result.stderr[-2000:]
    assert time.monotonic() - t0 < 30  # start-up included; the store's own wait is about 2 s
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach the S3 endpoint" in lines[0] and "fake-secret" not in result.stderr
