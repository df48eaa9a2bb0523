"""repotune.deploy: put the adapter behind an endpoint (local predictor today), smoke-test it, report it."""

from repotune.deploy.step import run_step

__all__ = ["run_step"]
