"""Units for label tests: the real analyze output of a small repository (analyze is pure and fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from repotune.analyze.discover import discover
from repotune.analyze.step import analyze_repository

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "repotune" / "samples" / "tinyshop"


def units_of(root: Path, name: str = "repo") -> list[dict]:
    files = discover(root, [], 1_000_000).files
    return analyze_repository([f for f in files if f[1]], name).units


@pytest.fixture(scope="session")
def sample_units() -> list[dict]:
    return units_of(SAMPLE, "tinyshop")
