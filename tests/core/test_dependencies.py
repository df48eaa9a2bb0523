"""Every third-party module a step imports at module level is declared in the extra a user installs to run
that step (or in the base dependencies): a missing one fails only in a container that lacks it, late."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "src" / "repotune"
# the installs that run each part of the library (evaluate runs in the train image): a shared module must work
# in every install of a step that uses it; what is not listed needs the base dependencies only
EXTRAS_OF = {"analyze": [["analyze"]], "label": [["label"]], "synthesize": [["synthesize"]],
             "dataset": [["dataset"]], "train": [["train"]], "evaluate": [["train"]], "serve": [["serve"]],
             "deploy": [["deploy"]], "kfp": [["kfp"]],
             "parsing": [["analyze"], ["synthesize"]], "llm": [["label"], ["synthesize"]],
             "llm/testserver.py": [["label"]],  # `repotune label-testserver`, installed with label
             "similarity.py": [["analyze"], ["dataset"], ["synthesize"]],
             "models.py": [["train"], ["serve"], ["label"], ["dataset"]]}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0]).lower()


def _module_level_imports(path: Path) -> set[str]:
    tops = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            tops |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return {t for t in tops if t not in sys.stdlib_module_names and t != "repotune"}


def test_each_step_declares_what_it_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_name(r) for r in project["dependencies"]}
    extras = {k: {_name(r) for r in v} for k, v in project["optional-dependencies"].items()}
    distributions = metadata.packages_distributions()
    missing = []
    for path in sorted(LIBRARY.rglob("*.py")):
        relative = path.relative_to(LIBRARY)
        if relative.parts[0] == "samples":  # the bundled sample repository is data, not the library
            continue
        for names in EXTRAS_OF.get(relative.as_posix(), EXTRAS_OF.get(relative.parts[0], [[]])):
            declared = base.union(*(extras[n] for n in names))
            for module in _module_level_imports(path):
                dists = {_name(d) for d in distributions.get(module, [module])}
                if not dists & declared:
                    missing.append(f"{path.relative_to(ROOT)} imports {module} ({', '.join(sorted(dists))}), "
                                   f"not in {names or 'the base dependencies'}")
    assert not missing, "\n".join(missing)


def test_the_check_sees_an_undeclared_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\nimport yaml\nfrom repotune import x\nfrom . import y\n")
    assert _module_level_imports(module) == {"yaml"}
