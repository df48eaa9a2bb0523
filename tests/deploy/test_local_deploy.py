"""The whole pipeline on the bundled sample with embedded defaults, ending with a local deploy and a smoke request."""

import json

import pytest

from repotune.config import load_config
from repotune.core.errors import StepError
from repotune.runs import Runner
from repotune.steps import STEP_NAMES


def test_full_run_serves_the_adapter_and_answers(tmp_path):
    cfg = load_config(overrides=[f"store.url=file://{tmp_path}/s", "analyze.use_ray=false", "train.max_steps=6",
                                 "evaluate.max_examples=4", "evaluate.max_new_tokens=8"])
    runner = Runner(cfg)
    manifest = runner.run()
    assert [s for s in STEP_NAMES if manifest["steps"][s]["status"] == "succeeded"] == list(STEP_NAMES)
    report = json.loads(runner.store.get_bytes("runs/local/deploy/deploy.json"))
    assert report["mode"] == "local" and report["smoke"]["status"] == 200
    assert report["url"].startswith("http://127.0.0.1:") and report["smoke"]["usage"]["completion_tokens"] > 0
    again = runner.run()  # nothing changed: every step is skipped
    assert again["steps"]["deploy"]["finished"] == manifest["steps"]["deploy"]["finished"]


def test_every_serve_setting_reaches_the_local_predictor(tmp_path):
    # serve.max_new_tokens=3 bounds the predictor: the smoke request asks for no more and gets no more
    cfg = load_config(overrides=[f"store.url=file://{tmp_path}/s", "analyze.use_ray=false", "train.max_steps=2",
                                 "evaluate.max_examples=2", "evaluate.max_new_tokens=4", "serve.max_new_tokens=3",
                                 "deploy.smoke_prompt=Say something long about this code, please."])
    runner = Runner(cfg)
    runner.run()
    report = json.loads(runner.store.get_bytes("runs/local/deploy/deploy.json"))
    assert report["smoke"]["status"] == 200
    assert 0 < report["smoke"]["usage"]["completion_tokens"] <= 3
    # and serve.max_prompt_tokens=5 reaches it too: the smoke prompt is refused (the default limit is 2048)
    strict = cfg.model_copy(update={"serve": cfg.serve.model_copy(update={"max_prompt_tokens": 5})})
    with pytest.raises(StepError, match="HTTP 400.*more than the limit 5"):
        Runner(strict).run(["deploy"])


def test_the_predictor_needs_a_base_model(tmp_path, capsys):
    from repotune.serve.server import main

    (tmp_path / "serve.json").write_text(json.dumps({"max_new_tokens": 3}))
    with pytest.raises(SystemExit) as exit_info:
        main(["--serve-config", str(tmp_path / "serve.json")])
    assert exit_info.value.code == 2 and "--base is required" in capsys.readouterr().err
