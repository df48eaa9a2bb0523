"""Runs in the store: runs/<run_id>/manifest.json records each step's status, config hash, input hashes,
outputs, counts and timings. Re-running a run skips steps whose config and inputs are unchanged."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from repotune.config import RunConfig
from repotune.core.errors import RepotuneError, StepError, StoreError
from repotune.core.processes import process_alive
from repotune.core.step import StepContext, StepResult
from repotune.steps import STEP_NAMES, step_spec
from repotune.core.store import ObjectStore, get_json, open_store, put_json

log = logging.getLogger("repotune")


def manifest_key(run_id: str) -> str:
    return f"runs/{run_id}/manifest.json"


def load_manifest(store: ObjectStore, run_id: str) -> dict[str, Any]:
    key = manifest_key(run_id)
    if not store.exists(key):
        return {"run_id": run_id, "steps": {}}
    return _settle_dead_runners(get_json(store, key))


LEASE_S = 300  # a running step's record is renewed every LEASE_S / 3; one not renewed for LEASE_S is stale


def _this_runner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "lease_until": time.time() + LEASE_S}


def _settle_dead_runners(manifest: dict[str, Any]) -> dict[str, Any]:
    """A step still 'running' whose runner ended without recording an outcome (killed, or its last manifest write
    failed) reads as 'interrupted': at once when the runner was a process on this host, and from any host (a KFP
    pod's) when its lease ran out, i.e. nobody renewed the record for LEASE_S."""
    here = socket.gethostname()
    for record in manifest.get("steps", {}).values():
        runner = record.get("runner") or {}
        if record.get("status") != "running" or not runner:
            continue
        if runner.get("host") == here and not process_alive(int(runner["pid"])):
            why = f"the runner (pid {runner['pid']}) ended"
        elif runner.get("lease_until", float("inf")) < time.time():
            why = f"its runner on {runner.get('host')} stopped renewing the record"
        else:
            continue
        record.update(status="interrupted", error=f"{why} without recording an outcome (killed, or the store was "
                      "unreachable at the end); rerun the step")
    return manifest


def list_runs(store: ObjectStore) -> list[dict[str, Any]]:
    runs = []
    for info in store.list("runs/"):
        if info.key.endswith("/manifest.json") and info.key.count("/") == 2:
            runs.append(get_json(store, info.key))
    return runs


def outputs_hash(store: ObjectStore, outputs: dict[str, str]) -> str:
    """Hash of a step's outputs as they are now in the store (keys, sizes, etags)."""
    h = hashlib.sha256()
    for name, key in sorted(outputs.items()):
        infos = list(store.list(key)) if key.endswith("/") else [store.stat(key)]
        for info in infos:
            h.update(f"{name}\0{info.key}\0{info.size}\0{info.etag}\n".encode())
    return h.hexdigest()[:16]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Runner:
    """Runs steps in order, in-process, recording each in the run manifest."""

    def __init__(self, config: RunConfig, store: ObjectStore | None = None,
                 on_event: Callable[[str, str, dict[str, Any]], None] | None = None):
        self.config = config
        self.store = store or open_store(config.store)
        self.on_event = on_event or (lambda step, event, info: None)
        self._saving = threading.Lock()

    @property
    def manifest(self) -> dict[str, Any]:
        return load_manifest(self.store, self.config.run_id)

    def _save(self, manifest: dict[str, Any]) -> None:
        with self._saving:  # the lease renewal saves from its own thread
            manifest["updated"] = _now()
            put_json(self.store, manifest_key(self.config.run_id), manifest)

    @contextlib.contextmanager
    def _lease(self, record: dict[str, Any], manifest: dict[str, Any]) -> Iterator[None]:
        """Renew the running step's lease every LEASE_S / 3 while it runs (a failed renewal is logged, not
        fatal: the step's own outcome decides)."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(LEASE_S / 3):
                with self._saving:
                    record["runner"]["lease_until"] = time.time() + LEASE_S
                try:
                    self._save(manifest)
                except RepotuneError as e:
                    log.warning("could not renew the lease of the running step: %s", e)

        thread = threading.Thread(target=renew, name="repotune-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def fingerprint(self, step: str, manifest: dict[str, Any]) -> tuple[str, dict[str, str]]:
        spec = step_spec(step)
        inputs = {}
        for upstream in spec.inputs:
            record = manifest["steps"].get(upstream)
            if not record or record.get("status") != "succeeded":
                raise StepError(f"step {step!r} needs {upstream!r}, which has not succeeded in run "
                                f"{self.config.run_id!r}; run it first (repotune run --steps {upstream},{step})")
            inputs[upstream] = record["outputs_hash"]
        config_hash = self.config.section_hash(*spec.sections)
        if spec.fingerprint is not None:
            config_hash += "+" + spec.fingerprint(self.config)
        return config_hash, inputs

    def is_fresh(self, step: str, manifest: dict[str, Any]) -> bool:
        record = manifest["steps"].get(step)
        if not record or record.get("status") != "succeeded":
            return False
        config_hash, inputs = self.fingerprint(step, manifest)
        if record.get("config_hash") != config_hash or record.get("input_hashes") != inputs:
            return False
        try:
            return outputs_hash(self.store, record["outputs"]) == record["outputs_hash"]
        except StoreError:
            return False  # an output was removed: redo the step

    def run(self, steps: Iterable[str] | None = None, force: Iterable[str] = ()) -> dict[str, Any]:
        requested = list(steps) if steps is not None else None
        steps = requested or list(STEP_NAMES)
        for s in [*steps, *force]:
            if s not in STEP_NAMES:
                raise StepError(f"unknown step {s!r}; steps are: {', '.join(STEP_NAMES)}")
        steps = [s for s in STEP_NAMES if s in steps]  # always in pipeline order
        missing = [s for s in steps if not step_spec(s).available()]
        if missing and requested is not None:
            raise StepError(f"step(s) {', '.join(missing)} not implemented in this version of repotune")
        for s in missing:  # the default run covers what exists and says what does not
            self.on_event(s, "unavailable", {})
        steps = [s for s in steps if s not in missing]
        manifest = self.manifest
        manifest.setdefault("created", _now())
        for step in steps:
            if step not in force and self.is_fresh(step, manifest):
                self.on_event(step, "skipped", manifest["steps"][step])
                continue
            manifest = self.run_step(step, manifest)
        return manifest

    def run_step(self, step: str, manifest: dict[str, Any]) -> dict[str, Any]:
        config_hash, inputs = self.fingerprint(step, manifest)
        record: dict[str, Any] = {"status": "running", "started": _now(), "config_hash": config_hash,
                                  "input_hashes": inputs, "runner": _this_runner()}
        manifest["steps"][step] = record
        self._save(manifest)
        self.on_event(step, "started", record)
        ctx = StepContext(config=self.config, store=self.store, step=step)
        t0 = time.perf_counter()
        try:
            with self._lease(record, manifest):
                result: StepResult = step_spec(step).function()(ctx)
        except BaseException as e:
            record.update(status="failed", finished=_now(), duration_s=round(time.perf_counter() - t0, 3),
                          error=str(e) if isinstance(e, RepotuneError) else f"{type(e).__name__}: {e}")
            if not isinstance(e, RepotuneError | KeyboardInterrupt):
                record["traceback"] = traceback.format_exc(limit=20)
            self._save(manifest)
            self.on_event(step, "failed", record)
            raise
        record.update(status="succeeded", finished=_now(), duration_s=round(time.perf_counter() - t0, 3),
                      outputs=result.outputs, outputs_hash=outputs_hash(self.store, result.outputs),
                      counts=result.counts, metrics=result.metrics, summary=result.summary, **result.extra)
        self._save(manifest)
        self.on_event(step, "succeeded", record)
        return manifest
