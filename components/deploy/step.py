"""The deploy step (local mode): serve the trained adapter with the repotune predictor on 127.0.0.1, wait for
readiness, send one chat request through the OpenAI route, and report the endpoint."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from repotune.errors import StepError
from repotune.steps import StepContext, StepResult
from repotune.store import get_dir, put_json


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_step(ctx: StepContext) -> StepResult:
    cfg, serve = ctx.config.deploy, ctx.config.serve
    base = serve.base_model or ctx.config.train.base_model
    adapter_dir = Path(tempfile.mkdtemp(prefix="repotune-deploy-"))
    get_dir(ctx.store, ctx.input_key("train", "adapter"), adapter_dir)
    port = serve.port if serve.port and cfg.keep_serving else _free_port()
    url = f"http://{serve.host}:{port}"
    log = open(adapter_dir / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "repotune.serve", "--base", base, "--name", serve.name,
                             "--adapter", f"{cfg.adapter_name}={adapter_dir}", "--host", serve.host, "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(), start_new_session=True)
    try:
        deadline = time.monotonic() + cfg.ready_timeout_s
        while True:
            if proc.poll() is not None:
                raise StepError(f"deploy: the predictor exited with {proc.returncode}: "
                                f"{(adapter_dir / 'server.log').read_text()[-500:]}")
            try:
                if httpx.get(f"{url}/v1/models/{serve.name}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StepError(f"deploy: the predictor was not ready after {cfg.ready_timeout_s:.0f}s")
            time.sleep(0.5)
        t0 = time.perf_counter()
        response = httpx.post(f"{url}/openai/v1/chat/completions", timeout=120, json={
            "model": cfg.adapter_name, "max_tokens": 32,
            "messages": [{"role": "user", "content": cfg.smoke_prompt}]})
        if response.status_code != 200:
            raise StepError(f"deploy: the smoke request failed with HTTP {response.status_code}: {response.text[:300]}")
        answer = response.json()
        smoke = {"status": response.status_code, "seconds": round(time.perf_counter() - t0, 3),
                 "answer": answer["choices"][0]["message"]["content"], "usage": answer["usage"]}
    finally:
        if not cfg.keep_serving:
            proc.terminate()
            proc.wait(30)
            log.close()
    report = {"mode": "local", "url": f"{url}/openai/v1", "model": cfg.adapter_name, "base_model": base,
              "serving": cfg.keep_serving, "smoke": smoke}
    put_json(ctx.store, ctx.key("deploy.json"), report)
    return StepResult(outputs={"deploy": ctx.key("deploy.json")}, counts={"smoke_requests": 1},
                      metrics={"smoke_seconds": smoke["seconds"]},
                      summary=f"  served {cfg.adapter_name} at {url}/openai/v1 "
                              f"({'still serving' if cfg.keep_serving else 'stopped after the smoke request'}); "
                              f"smoke answer: {smoke['answer'][:80]!r}")
