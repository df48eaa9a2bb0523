"""The import layers hold (import-linter, contracts in pyproject.toml): interfaces (CLI, KFP) over the run
assembly, over the steps, over the shared layer (models, llm, parsing, similarity, contracts), over the core;
the steps never import each other."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_are_kept(capsys):
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert "0 broken" in out


def test_the_linter_sees_a_real_import(tmp_path, capsys):
    # the same engine on a contract the code breaks on purpose (label uses the shared LLM client)
    config = tmp_path / "contracts.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["repotune"]\n\n[[tool.importlinter.contracts]]\n'
                      'name = "label without llm"\ntype = "forbidden"\nsource_modules = ["repotune.label"]\n'
                      'forbidden_modules = ["repotune.llm"]\n')
    code = lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code != 0 and "repotune.label" in out and "repotune.llm" in out
