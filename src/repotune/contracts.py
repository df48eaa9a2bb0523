"""Facts several steps agree on: the 14 aspects a unit is described by (grouped as the patent does), and how the
dataset's chat records are read back (train and evaluate)."""

from __future__ import annotations

import json
from typing import Any

ASPECTS = {
    "structure": ("elements", "file_role", "directory_organisation", "core_task"),
    "dependencies": ("variable", "functional", "module"),
    "architecture": ("design_pattern", "data_structures", "exceptions", "inputs_outputs"),
    "format": ("style", "indentation", "comments"),
}


def read_jsonl(data: bytes) -> list[dict[str, Any]]:
    """The records of a JSON-lines file (blank lines skipped)."""
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]
