"""The whole Kubeflow pipeline through kfp.local's SubprocessRunner on a small fixture repository: every step
runs as a KFP component in its own subprocess, hands the next one its run, and leaves UI artifacts."""

import json
import shutil
from pathlib import Path

import pytest

from repotune.config import load_config
from repotune.kfp.local import run_kfp_local

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "repotune" / "samples" / "tinyshop"
STEPS = ["analyze", "label", "synthesize", "dataset", "train", "evaluate", "deploy"]


def test_the_pipeline_runs_end_to_end_on_kfp_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPOTUNE_CACHE", str(tmp_path / "cache"))
    repo = shutil.copytree(SAMPLE, tmp_path / "fixture-repo")
    config = load_config(preset="default", overrides=[
        "run_id=kfp-local-test", f"store.url=file://{tmp_path / 'store'}", f"analyze.source={repo}",
        "train.max_steps=3", "evaluate.max_examples=4"])
    manifest = run_kfp_local(config, pipeline_root=tmp_path / "kfp")
    assert {step: manifest["steps"][step]["status"] for step in STEPS} == dict.fromkeys(STEPS, "succeeded")
    assert manifest["steps"]["train"]["counts"]["steps"] == 3

    runs = list((tmp_path / "kfp").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("repotune-gpu-pod-")
    card = (runs[0] / "dataset" / "card").read_text()
    assert card.startswith("#") and "train" in card
    loss = (runs[0] / "train" / "loss_curve").read_text()
    assert '<img alt="Training loss" src="data:image/png;base64,' in loss
    executor = json.loads((runs[0] / "train" / "executor_output.json").read_text())
    handoff = json.loads(executor["parameterValues"]["Output"])
    assert handoff["run_id"] == "kfp-local-test" and handoff["step"] == "train"
    report = (runs[0] / "evaluate" / "report").read_text()
    assert "BLEU" in report
    assert "openai/v1" in (runs[0] / "deploy" / "endpoint").read_text()


def test_a_bad_run_config_fails_the_first_component_with_its_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(preset="default", overrides=[f"store.url=file://{tmp_path / 'store'}",
                                                      f"analyze.source={tmp_path / 'missing'}"])
    with pytest.raises(RuntimeError, match="analyze"):
        run_kfp_local(config, pipeline_root=tmp_path / "kfp")
