"""A predictor process on 127.0.0.1 per test module: the tiny base model and two random LoRA adapters."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
import torch


def make_adapter(path, seed):
    from peft import LoraConfig, get_peft_model

    from repotune.models import load_base_model

    base, tokenizer = load_base_model("tiny")
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:  # non-zero B: the adapter changes the output
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    model.save_pretrained(path)


@contextlib.contextmanager
def predictor(folder, *args: str, env: dict[str, str] | None = None):
    """`python -m repotune.serve --base tiny ARGS` on a free port of 127.0.0.1, ready; stopped with SIGTERM after.
    Its log goes to folder/server.log: a file, not a pipe (a full pipe nobody reads would block the server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(folder / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "repotune.serve", "--base", "tiny", "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"predictor exited: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    make_adapter(tmp / "docs", 1)
    make_adapter(tmp / "tags", 2)
    with predictor(tmp, "--adapter", f"docs={tmp / 'docs'}", "--adapter", f"tags={tmp / 'tags'}") as running:
        yield running
