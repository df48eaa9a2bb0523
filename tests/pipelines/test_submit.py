"""`repotune submit` against a fake Kubeflow Pipelines API (the v2beta1 REST routes kfp.Client calls): it finds
or creates the experiment and creates a run with the compiled pipeline and the run config as parameters."""

import json
from urllib.parse import parse_qs, urlparse

import pytest
from typer.testing import CliRunner

from repotune.cli import app
from tests.json_http import JsonServer


class FakeKfp:
    """The v2beta1 routes kfp.Client calls to create an experiment and a run; every request recorded."""

    def __init__(self):
        self.requests = []
        self.http = JsonServer(self._handle)
        self.url = self.http.url

    def _handle(self, method, path, body):
        url = urlparse(path)
        self.requests.append((method, url.path, body if method == "POST" else parse_qs(url.query)))
        if method == "GET" and url.path.endswith("/healthz"):
            return 200, {"multi_user": False}
        if method == "GET" and url.path.endswith("/experiments"):
            return 200, {"experiments": []}
        if method == "POST" and url.path.endswith("/experiments"):
            return 200, {"experiment_id": "exp-1", "display_name": body["display_name"]}
        if method == "POST" and url.path.endswith("/runs"):
            return 200, {"run_id": "run-42", "display_name": body["display_name"],
                         "experiment_id": body.get("experiment_id"), "state": "PENDING"}
        return 404, {"error": "not found"}


@pytest.fixture
def kfp_api(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # kfp.Client reads ~/.config/kfp/context.json
    fake = FakeKfp()
    yield fake
    fake.http.close()


def test_submit_creates_the_experiment_and_a_run_with_the_config(kfp_api, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-for-the-test")
    config = tmp_path / "run.yaml"
    config.write_text("analyze:\n  source: https://example.com/org/repo.git#main\ntrain:\n  max_steps: 10\n")
    result = CliRunner().invoke(app, ["submit", "--host", kfp_api.url, "--config", str(config),
                                      "--run-name", "nightly", "train.lora_r=8"])
    assert result.exit_code == 0, result.output
    assert f"submitted run run-42: {kfp_api.url}/#/runs/details/run-42" in result.output
    posts = [(path, body) for method, path, body in kfp_api.requests if method == "POST"]
    assert posts[0][0] == "/apis/v2beta1/experiments" and posts[0][1]["display_name"] == "repotune"
    path, run = posts[1]
    assert path == "/apis/v2beta1/runs" and run["display_name"] == "nightly" and run["experiment_id"] == "exp-1"
    params = run["runtime_config"]["parameters"]
    assert params["config_yaml"] == config.read_text() and params["overrides"] == ["train.lora_r=8"]
    spec = run["pipeline_spec"]
    assert spec["pipeline_spec"]["pipelineInfo"]["name"] == "repotune"  # with the platform spec beside it
    assert "kubernetes" in spec["platform_spec"]["platforms"]
    assert "fake-secret-for-the-test" not in json.dumps(kfp_api.requests)


def test_submit_rejects_a_bad_config_before_contacting_the_api(kfp_api, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("train:\n  max_steps: -1\n")
    result = CliRunner().invoke(app, ["submit", "--host", kfp_api.url, "--config", str(config)])
    assert result.exit_code != 0
    assert "train.max_steps" in str(result.exception) + result.output
    assert kfp_api.requests == []
