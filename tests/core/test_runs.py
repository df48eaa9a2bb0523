"""The runner: manifest records, skipping unchanged steps, --force, failures. Uses stand-in step modules
registered under fake names so the core is tested alone (the real steps have their own tests)."""

import os
import sys
import time
import types

import pytest

from repotune import steps as steps_mod
from repotune.config import load_config
from repotune.core.errors import StepError
from repotune.runs import Runner, list_runs, load_manifest
from repotune.core.step import StepResult
from repotune.steps import StepSpec
from repotune.core.store import get_json, put_json

CALLS: list[str] = []


def _make_step(name: str, fail: bool = False):
    def run_step(ctx):
        CALLS.append(name)
        if fail:
            raise StepError(f"{name} failed on purpose")
        inputs = {s: get_json(ctx.store, ctx.input_key(s, "out.json")) for s in steps_mod.step_spec(name).inputs}
        put_json(ctx.store, ctx.key("out.json"), {"step": name, "inputs": inputs, "run": ctx.run_id})
        return StepResult(outputs={"out": ctx.key("out.json")}, counts={"items": 3})

    module = types.ModuleType(f"repotune.{name}")
    module.run_step = run_step
    return module


@pytest.fixture
def fake_steps(monkeypatch):
    CALLS.clear()
    specs = (StepSpec("analyze", (), ("analyze",)), StepSpec("label", ("analyze",), ("label", "ray")))
    monkeypatch.setattr(steps_mod, "STEPS", specs)
    monkeypatch.setattr(steps_mod, "STEP_NAMES", ("analyze", "label"))
    import repotune.runs as runs_mod

    monkeypatch.setattr(runs_mod, "STEP_NAMES", ("analyze", "label"))
    for name in ("analyze", "label"):
        monkeypatch.setitem(sys.modules, f"repotune.{name}", _make_step(name))
    return specs


def test_run_records_and_skips_unchanged(fake_steps, local_store):
    cfg = load_config(overrides=["run_id=r1"])
    manifest = Runner(cfg, local_store).run()
    assert CALLS == ["analyze", "label"]
    assert manifest["steps"]["label"]["status"] == "succeeded"
    assert manifest["steps"]["label"]["counts"] == {"items": 3}
    assert get_json(local_store, "runs/r1/label/out.json")["inputs"]["analyze"]["step"] == "analyze"
    Runner(cfg, local_store).run()
    assert CALLS == ["analyze", "label"], "unchanged steps must be skipped"
    Runner(cfg, local_store).run(force=["label"])
    assert CALLS == ["analyze", "label", "label"]


def test_config_change_reruns_only_affected_steps(fake_steps, local_store):
    Runner(load_config(overrides=["run_id=r2"]), local_store).run()
    Runner(load_config(overrides=["run_id=r2", "ray.num_cpus=1"]), local_store).run()
    assert CALLS == ["analyze", "label", "label"]


def test_changed_step_data_files_rerun_the_step(fake_steps, local_store, monkeypatch):
    """A step whose outputs depend on files it ships (synthesize's templates) declares a fingerprint; a new
    fingerprint reruns it (and what reads it), an unchanged one does not."""
    templates = {"text": "v3"}
    specs = (fake_steps[0], StepSpec("label", ("analyze",), ("label", "ray"), lambda config: templates["text"]))
    monkeypatch.setattr(steps_mod, "STEPS", specs)
    cfg = load_config(overrides=["run_id=r5"])
    Runner(cfg, local_store).run()
    Runner(cfg, local_store).run()
    assert CALLS == ["analyze", "label"]
    templates["text"] = "v4"
    Runner(cfg, local_store).run()
    assert CALLS == ["analyze", "label", "label"]


def test_changed_upstream_output_reruns_downstream(fake_steps, local_store):
    cfg = load_config(overrides=["run_id=r3"])
    Runner(cfg, local_store).run()
    Runner(cfg, local_store).run(force=["analyze"])  # rewrites analyze's output (new etag)
    assert CALLS == ["analyze", "label", "analyze", "label"]


def test_missing_output_reruns_step(fake_steps, local_store):
    cfg = load_config(overrides=["run_id=r4"])
    Runner(cfg, local_store).run()
    local_store.delete("runs/r4/label/out.json")
    Runner(cfg, local_store).run()
    assert CALLS == ["analyze", "label", "label"]


def test_failure_is_recorded_and_blocks_downstream(fake_steps, local_store, monkeypatch):
    monkeypatch.setitem(sys.modules, "repotune.analyze", _make_step("analyze", fail=True))
    cfg = load_config(overrides=["run_id=r5"])
    with pytest.raises(StepError, match="failed on purpose"):
        Runner(cfg, local_store).run()
    record = load_manifest(local_store, "r5")["steps"]["analyze"]
    assert record["status"] == "failed" and "failed on purpose" in record["error"]
    with pytest.raises(StepError, match="needs 'analyze'"):
        Runner(cfg, local_store).run(["label"])


def test_unknown_step(fake_steps, local_store):
    with pytest.raises(StepError, match="unknown step 'nope'"):
        Runner(load_config(), local_store).run(["nope"])


def test_list_runs(fake_steps, local_store):
    for run_id in ("a", "b"):
        Runner(load_config(overrides=[f"run_id={run_id}"]), local_store).run(["analyze"])
    assert [r["run_id"] for r in list_runs(local_store)] == ["a", "b"]


def test_default_run_covers_implemented_steps_and_names_the_rest(fake_steps, local_store, monkeypatch):
    monkeypatch.setitem(sys.modules, "repotune.label", types.ModuleType("repotune.label"))  # no run_step
    events = []
    Runner(load_config(overrides=["run_id=r6"]), local_store,
           on_event=lambda step, event, record: events.append((step, event))).run()
    assert ("label", "unavailable") in events and ("analyze", "succeeded") in events
    with pytest.raises(StepError, match="not implemented in this version"):
        Runner(load_config(overrides=["run_id=r6"]), local_store).run(["label"])


def test_a_step_whose_runner_died_reads_as_interrupted_not_running(tmp_path):
    import socket
    import subprocess

    from repotune.core.store import open_store
    from repotune.runs import manifest_key

    store = open_store(f"file://{tmp_path}/s")
    dead = subprocess.Popen(["true"])
    dead.wait()
    here = socket.gethostname()
    put_json(store, manifest_key("r"), {"run_id": "r", "steps": {
        "analyze": {"status": "running", "runner": {"host": here, "pid": dead.pid}},
        "label": {"status": "running", "runner": {"host": here, "pid": os.getpid()}},
        "train": {"status": "running", "runner": {"host": "a-kfp-pod", "pid": 7, "lease_until": time.time() + 60}},
        "evaluate": {"status": "running", "runner": {"host": "a-kfp-pod", "pid": 7, "lease_until": time.time() - 1}}}})
    steps = load_manifest(store, "r")["steps"]
    assert steps["analyze"]["status"] == "interrupted" and f"pid {dead.pid}" in steps["analyze"]["error"]
    assert steps["label"]["status"] == "running"  # this very process: alive
    assert steps["train"]["status"] == "running"  # another host's runner, its lease still valid
    assert steps["evaluate"]["status"] == "interrupted" and "on a-kfp-pod stopped renewing" in steps["evaluate"]["error"]


def test_a_running_step_renews_its_lease(local_store, monkeypatch):
    import repotune.runs as runs

    monkeypatch.setattr(runs, "LEASE_S", 0.6)
    seen = []

    def slow_step(ctx):
        first = get_json(ctx.store, "runs/local/manifest.json")["steps"]["analyze"]["runner"]["lease_until"]
        time.sleep(1.0)  # five renewal periods
        seen.append(get_json(ctx.store, "runs/local/manifest.json")["steps"]["analyze"]["runner"]["lease_until"] - first)
        return StepResult(outputs={})

    monkeypatch.setitem(sys.modules, "repotune.analyze", types.SimpleNamespace(run_step=slow_step))
    manifest = Runner(load_config(), local_store).run(["analyze"])
    assert manifest["steps"]["analyze"]["status"] == "succeeded" and seen[0] > 0.3
