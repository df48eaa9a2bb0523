"""The import layers hold (import-linter, contracts in pyproject.toml): interfaces (CLI, KFP) over the run
assembly, over the steps, over the shared layer (models, llm, parsing, similarity, contracts), over the core;
the steps never import each other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.argv[0] = 'lint-imports'; lint_imports_command()"]


def _lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*LINT, "--no-cache", "--no-logo", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_the_import_contracts_are_kept():
    result = _lint()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_the_linter_sees_a_real_import(tmp_path):
    # the same engine on a contract the code breaks on purpose (label uses the shared LLM client)
    config = tmp_path / "contracts.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["repotune"]\n\n[[tool.importlinter.contracts]]\n'
                      'name = "label without llm"\ntype = "forbidden"\nsource_modules = ["repotune.label"]\n'
                      'forbidden_modules = ["repotune.llm"]\n')
    result = _lint("--config", str(config))
    assert result.returncode != 0 and "repotune.label" in result.stdout and "repotune.llm" in result.stdout
