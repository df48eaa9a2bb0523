"""Shared fixtures. The S3 fixtures (a real Ceph radosgw started by scripts/s3-server.sh) live in
tests/s3_fixtures.py; Ray fixtures start one local Ray for the whole session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from repotune.core.store import LocalStore

# Tests never reach a model hub (none is reachable here, and a hub timeout would only slow the suite down).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

pytest_plugins = ["tests.s3_fixtures"] if (Path(__file__).parent / "s3_fixtures.py").exists() else []

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture(scope="session")
def ray_local():
    """One small local Ray for the whole test session (starting Ray costs seconds)."""
    ray = pytest.importorskip("ray")
    from repotune.core.store_s3 import ray_runtime_env

    if not ray.is_initialized():
        env = ray_runtime_env()
        env["env_vars"].update(PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=env)
    yield ray
    ray.shutdown()
