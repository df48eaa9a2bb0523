"""Units for label tests: the real analyze output of a small repository (analyze is pure and fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from repotune.analyze.discover import discover
from repotune.analyze.step import analyze_files
from repotune.analyze.repository import assemble

SAMPLE = Path(__file__).resolve().parents[2] / "components" / "core" / "samples" / "tinyshop"


def units_of(root: Path, name: str = "repo") -> list[dict]:
    files = discover(root, [], 1_000_000).files
    analyses = analyze_files([f for f in files if f[1]], use_ray=False, workers=None, batch_size=8)
    return assemble(name, analyses).units


@pytest.fixture(scope="session")
def sample_units() -> list[dict]:
    return units_of(SAMPLE, "tinyshop")
