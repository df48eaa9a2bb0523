"""The whole pipeline on the bundled sample with embedded defaults, ending with a local deploy and a smoke request."""

import json

from repotune.config import load_config
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
