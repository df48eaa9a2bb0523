"""deploy.mode=hot: the run's adapter joins a predictor that is already serving, under its own name; a failed
smoke request unloads it again and leaves what was served untouched."""

import json

import httpx
import pytest

from repotune.config import RunConfig
from repotune.core.errors import StepError
from repotune.core.step import StepContext
from repotune.core.store import open_store
from repotune.deploy.step import run_step
from tests.serve.conftest import make_adapter, predictor


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hot")
    store = tmp / "store"
    for run, seed in (("r1", 1), ("r3", 3)):
        make_adapter(store / "runs" / run / "train" / "adapter", seed)
    (tmp / "serve.json").write_text(json.dumps({"admin_token_env": "HOT_ADMIN", "store_url": f"file://{store}"}))
    with predictor(tmp, "--serve-config", str(tmp / "serve.json"), env={"HOT_ADMIN": "hot-token-0"}) as (url, _):
        yield url, store


def _ctx(store, run_id, url, monkeypatch, **deploy):
    monkeypatch.setenv("HOT_ADMIN", "hot-token-0")
    config = RunConfig.model_validate({"run_id": run_id, "store": {"url": f"file://{store}"}, "deploy": {
        "mode": "hot", "predictor_url": url, "admin_token_env": "HOT_ADMIN", "adapter_name": "docs", **deploy}})
    return StepContext(config=config, store=open_store(config.store), step="deploy")


def _served(url):
    return {m["id"] for m in httpx.get(f"{url}/openai/v1/models").json()["data"]}


def test_the_adapter_joins_the_running_predictor(running, monkeypatch):
    url, store = running
    ctx = _ctx(store, "r1", url, monkeypatch)
    result = run_step(ctx)
    report = json.loads(ctx.store.get_bytes("runs/r1/deploy/deploy.json"))
    assert report["mode"] == "hot" and report["model"] == "docs-r1" and report["smoke"]["status"] == 200
    assert report["adapter_path"] == "store:runs/r1/train/adapter" and result.counts == {"smoke_requests": 1}
    assert "docs-r1" in _served(url) and httpx.get(f"{url}/v2/models/docs-r1/ready").status_code == 200


def test_a_failed_smoke_request_unloads_the_new_adapter_only(running, monkeypatch):
    url, store = running
    before = _served(url)
    ctx = _ctx(store, "r3", url, monkeypatch, smoke_prompt="word " * 5000)  # longer than the predictor takes
    with pytest.raises(StepError, match="smoke request failed with HTTP 400"):
        run_step(ctx)
    assert _served(url) == before and "docs-r3" not in _served(url)


def test_a_missing_adapter_or_token_is_a_clear_error(running, monkeypatch):
    url, store = running
    with pytest.raises(StepError, match="refused to load 'docs-r9'.*HTTP 400"):
        run_step(_ctx(store, "r9", url, monkeypatch))
    ctx = _ctx(store, "r1", url, monkeypatch)
    monkeypatch.setenv("HOT_ADMIN", "wrong")
    with pytest.raises(StepError, match="HTTP 401"):
        run_step(ctx)
    with pytest.raises(StepError, match="needs deploy.predictor_url"):
        run_step(_ctx(store, "r1", None, monkeypatch))
