"""A predictor process on 127.0.0.1 per test module: the tiny base model and two random LoRA adapters."""

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


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp("serve")
    make_adapter(tmp / "docs", 1)
    make_adapter(tmp / "tags", 2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp / "server.log", "w")  # a file, not a pipe: a full pipe nobody reads would block the server
    proc = subprocess.Popen([sys.executable, "-m", "repotune.serve", "--base", "tiny", "--adapter", f"docs={tmp/'docs'}",
                             "--adapter", f"tags={tmp/'tags'}", "--port", str(port), *getattr(request, "param", [])],
                            stdout=subprocess.DEVNULL, stderr=log, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/v1/models/repotune", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"predictor exited: {(tmp / 'server.log').read_text()[-2000:]}")
        time.sleep(0.2)
    yield url, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    log.close()


