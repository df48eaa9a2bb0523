"""The deploy step. Local mode: serve the trained adapter with the repotune predictor on 127.0.0.1, wait for
readiness, send one chat request through the OpenAI route, and report the endpoint. KServe mode: roll the
adapter out as an InferenceService (repotune.deploy.rollout). Hot mode: add the adapter to a predictor that is
already serving (local or KServe: the same route through the InferenceService URL), smoke it, unload on failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from repotune.core.errors import StepError
from repotune.core.step import StepContext, StepResult
from repotune.core.store import get_dir, put_json


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_name(cfg: Any) -> str:
    return cfg.service_name or cfg.adapter_name.removesuffix("-lora")


def adapter_uri(ctx: StepContext) -> str:
    """The trained adapter as a storageUri KServe's storage initializer can fetch."""
    cfg = ctx.config.deploy
    if cfg.storage_uri:
        return cfg.storage_uri
    if not ctx.store.url.startswith("s3://"):
        raise StepError(f"deploy.mode=kserve needs the adapter where the cluster can fetch it: use an S3 store "
                        f"(store.url=s3://...) or set deploy.storage_uri; the store is {ctx.store.url}")
    return f"{ctx.store.url.rstrip('/')}/{ctx.input_key('train', 'adapter')}"


def run_kserve(ctx: StepContext, api: Any = None) -> StepResult:
    from repotune.deploy.kserve import inference_service, vllm_inference_service
    from repotune.deploy.rollout import KServeRollout, smoke_request
    from repotune.core.k8s import custom_objects_api

    cfg = ctx.config.deploy
    name = service_name(cfg)
    placement = {"service_account": cfg.service_account, "node_selector": cfg.node_selector or None,
                 "tolerations": cfg.tolerations or None}
    if cfg.runtime == "vllm":
        if not cfg.base_model_uri:
            raise StepError("deploy.runtime=vllm serves the base model from storage: set deploy.base_model_uri")
        model = cfg.adapter_name  # vLLM serves each --lora-modules entry under its own name
        isvc = vllm_inference_service(name, cfg.namespace, cfg.base_model_uri, {model: adapter_uri(ctx)},
                                      gpus=max(cfg.gpus, 1), **placement)
    else:
        model = f"{name}-lora"  # the ServingRuntime serves the adapter as <service name>-lora
        isvc = inference_service(name, cfg.namespace, adapter_uri(ctx), gpus=cfg.gpus, **placement)
    rollout = KServeRollout(api or custom_objects_api(), cfg.namespace, name, timeout_s=cfg.ready_timeout_s,
                            poll_interval_s=cfg.poll_interval_s, log=ctx.log.info)
    done = rollout.apply(isvc, cfg.canary_percent, smoke_request(model, cfg.smoke_prompt))
    report = {"mode": "kserve", "runtime": cfg.runtime, "namespace": cfg.namespace, "name": name,
              "action": done.action, "url": f"{done.url}/openai/v1", "model": model, "adapter_uri": adapter_uri(ctx),
              "events": done.events, "smoke": done.smoke}
    put_json(ctx.store, ctx.key("deploy.json"), report)
    return StepResult(outputs={"deploy": ctx.key("deploy.json")}, counts={"smoke_requests": 1},
                      metrics={"smoke_seconds": done.smoke["seconds"]},
                      summary=f"  {done.action} InferenceService {cfg.namespace}/{name}: {done.url}/openai/v1 "
                              f"(model {model}); smoke answer: {done.smoke['answer'][:80]!r}")


def run_hot(ctx: StepContext) -> StepResult:
    """Add this run's adapter to a running predictor under a name of its own (<adapter_name>-<run id>), so the
    adapter it serves now stays untouched; a failed smoke request unloads the new one again."""
    cfg = ctx.config.deploy
    if not cfg.predictor_url:
        raise StepError("deploy.mode=hot needs deploy.predictor_url: the running predictor's base URL")
    url = cfg.predictor_url.rstrip("/")
    headers = {}
    if cfg.admin_token_env:
        token = os.environ.get(cfg.admin_token_env)
        if not token:
            raise StepError(f"deploy.admin_token_env names {cfg.admin_token_env}, which is not set")
        headers["authorization"] = f"Bearer {token}"
    name = f"{cfg.adapter_name}-{ctx.run_id}"
    path = cfg.storage_uri or f"store:{ctx.input_key('train', 'adapter')}"
    try:
        t0 = time.perf_counter()
        loaded = httpx.post(f"{url}/v1/load_lora_adapter", headers=headers, timeout=cfg.ready_timeout_s,
                            json={"lora_name": name, "lora_path": path})
        load_s = time.perf_counter() - t0
        if loaded.status_code != 200:
            raise StepError(f"deploy: the predictor refused to load {name!r} from {path!r}: HTTP "
                            f"{loaded.status_code}: {loaded.text[:300]}")
        try:
            smoke = _smoke(url, name, cfg.smoke_prompt, 32)
        except StepError:
            httpx.post(f"{url}/v1/unload_lora_adapter", headers=headers, timeout=60, json={"lora_name": name})
            raise
    except httpx.HTTPError as e:
        raise StepError(f"deploy: the predictor at {url} did not answer: {type(e).__name__}") from None
    report = {"mode": "hot", "url": f"{url}/openai/v1", "model": name, "adapter_path": path,
              "load_seconds": round(load_s, 3), "load_answer": loaded.text[:300], "smoke": smoke}
    put_json(ctx.store, ctx.key("deploy.json"), report)
    return StepResult(outputs={"deploy": ctx.key("deploy.json")}, counts={"smoke_requests": 1},
                      metrics={"smoke_seconds": smoke["seconds"], "load_seconds": load_s},
                      summary=f"  added {name} to the predictor at {url} in {load_s:.1f} s; smoke answer: "
                              f"{smoke['answer'][:80]!r}")


def _smoke(url: str, model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    response = httpx.post(f"{url}/openai/v1/chat/completions", timeout=120, json={
        "model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": prompt}]})
    if response.status_code != 200:
        raise StepError(f"deploy: the smoke request failed with HTTP {response.status_code}: {response.text[:300]}")
    answer = response.json()
    return {"status": response.status_code, "seconds": round(time.perf_counter() - t0, 3),
            "answer": answer["choices"][0]["message"]["content"], "usage": answer["usage"]}


def run_step(ctx: StepContext) -> StepResult:
    if ctx.config.deploy.mode == "hot":
        return run_hot(ctx)
    if ctx.config.deploy.mode == "kserve":
        return run_kserve(ctx)
    cfg, serve = ctx.config.deploy, ctx.config.serve
    base = serve.base_model or ctx.config.train.base_model
    adapter_dir = Path(tempfile.mkdtemp(prefix="repotune-deploy-"))
    get_dir(ctx.store, ctx.input_key("train", "adapter"), adapter_dir)
    port = serve.port if serve.port and cfg.keep_serving else _free_port()
    url = f"http://{serve.host}:{port}"
    # the whole serve config crosses to the predictor process as one file: every serve.* setting takes effect
    served = serve.model_copy(update={"base_model": base, "adapters": {cfg.adapter_name: str(adapter_dir)},
                                      "port": port})
    (adapter_dir / "serve.json").write_text(served.model_dump_json())
    log = open(adapter_dir / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "repotune.serve", "--serve-config", str(adapter_dir / "serve.json")],
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
        smoke = _smoke(url, cfg.adapter_name, cfg.smoke_prompt, min(32, serve.max_new_tokens))
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
