"""Adapters loaded and unloaded while the predictor serves (vLLM's routes): from the run store only, behind a
bearer token, at most serve.max_adapters with the least recently used unloaded, listed and ready under their
names everywhere."""

import json
import shutil
import time

import httpx
import pytest

from tests.serve.conftest import make_adapter, predictor

TOKEN = "test-admin-token-0"


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("admin")
    store = tmp / "store"
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        make_adapter(store / "runs" / "r1" / "train" / f"adapter-{name}", seed)
    shutil.copytree(store / "runs" / "r1" / "train" / "adapter-a", tmp / "outside")
    (tmp / "serve.json").write_text(json.dumps({"max_adapters": 2, "admin_token_env": "REPOTUNE_TEST_ADMIN",
                                                "store_url": f"file://{store}"}))
    with predictor(tmp, "--serve-config", str(tmp / "serve.json"), env={"REPOTUNE_TEST_ADMIN": TOKEN}) as (url, _):
        yield url, tmp


def admin(url, route, body, token=TOKEN):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{url}/v1/{route}_lora_adapter", json=body, headers=headers, timeout=120)


def served(url):
    openai = {m["id"] for m in httpx.get(f"{url}/openai/v1/models").json()["data"]}
    kserve = set(httpx.get(f"{url}/v1/models").json()["models"])
    return openai, kserve


def answer(url, model):
    r = httpx.post(f"{url}/openai/v1/completions", timeout=60, json={"model": model, "prompt": "def f():",
                                                                     "max_tokens": 8})
    return r.status_code, r.json()


def test_admin_routes_need_the_token(admin_server):
    url, _ = admin_server
    body = {"lora_name": "a", "lora_path": "store:runs/r1/train/adapter-a"}
    assert admin(url, "load", body, token=None).status_code == 401
    assert admin(url, "load", body, token="wrong").status_code == 401
    assert admin(url, "unload", {"lora_name": "a"}, token=None).status_code == 401


@pytest.mark.parametrize("path", ["/etc", "s3://elsewhere/adapter", "store:runs/../outside", "store:other/x",
                                  "file:///etc/passwd", "store:runs/r1/train/nothing-here"])
def test_paths_outside_the_prefixes_or_missing_are_refused_in_one_line(admin_server, path):
    url, _ = admin_server
    r = admin(url, "load", {"lora_name": "x", "lora_path": path})
    assert r.status_code == 400 and "\n" not in r.json()["error"]["message"], r.text
    assert "x" not in served(url)[0]


def test_load_serve_evict_and_unload(admin_server):
    url, _ = admin_server
    assert served(url) == ({"repotune"}, {"repotune"})
    t0 = time.perf_counter()
    r = admin(url, "load", {"lora_name": "a", "lora_path": "store:runs/r1/train/adapter-a"})
    load_s = time.perf_counter() - t0
    assert r.status_code == 200 and "added successfully" in r.text, r.text
    assert served(url) == ({"repotune", "a"}, {"repotune", "a"})
    assert httpx.get(f"{url}/v2/models/a/ready").status_code == 200
    status, base = answer(url, "repotune")
    status_a, with_a = answer(url, "a")
    assert status == status_a == 200 and base["choices"][0]["text"] != with_a["choices"][0]["text"]
    v1 = httpx.post(f"{url}/v1/models/a:predict", json={"instances": [{"prompt": "def f():", "max_tokens": 8}]})
    assert v1.json()["predictions"][0] == with_a["choices"][0]["text"]  # the adapter's own route uses it
    assert admin(url, "load", {"lora_name": "a", "lora_path": "store:runs/r1/train/adapter-a"}).status_code == 400

    assert admin(url, "load", {"lora_name": "b", "lora_path": "store:runs/r1/train/adapter-b"}).status_code == 200
    answer(url, "a")  # a is now the more recently used
    r = admin(url, "load", {"lora_name": "c", "lora_path": "store:runs/r1/train/adapter-c"})
    assert r.status_code == 200 and "least recently used: b" in r.text, r.text
    assert served(url) == ({"repotune", "a", "c"}, {"repotune", "a", "c"})
    assert httpx.get(f"{url}/v2/models/b/ready").status_code == 404
    assert answer(url, "b")[0] == 400

    assert admin(url, "unload", {"lora_name": "c"}).status_code == 200
    assert admin(url, "unload", {"lora_name": "c"}).status_code == 404
    assert admin(url, "unload", {"lora_name": "a"}).status_code == 200
    assert served(url) == ({"repotune"}, {"repotune"})
    assert answer(url, "repotune") == (200, base) or answer(url, "repotune")[1]["choices"] == base["choices"]
    assert load_s < 60
