"""Real code on this machine that no test uses, for the secret benchmarks: three repositories of different kinds.

- cpython: the installed Python's standard library (Lib/ without its tests and site-packages);
- transformers: the installed transformers package (Python, docstrings full of model ids and URLs);
- npm: the installed npm CLI with its bundled dependencies (JavaScript, Markdown and HTML docs, JSON).
Each is read through the analyze step's own discovery (lock files, binaries, generated files left out as the step
leaves them out); npm's node_modules are kept on purpose: they are the published code of its ~200 dependencies.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

from repotune.analyze.config import DEFAULT_VENDORED
from repotune.analyze.discover import discover


def repositories() -> dict[str, tuple[Path, list[str]]]:
    import importlib.util

    transformers = importlib.util.find_spec("transformers")  # its files, without importing it
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return {
        "cpython": (stdlib, [*DEFAULT_VENDORED, "site-packages/**", "dist-packages/**", "test/**", "**/test/**",
                            "**/tests/**", "idlelib/idle_test/**"]),
        "transformers": (Path(transformers.origin).parent if transformers else Path("transformers-not-installed"),
                         DEFAULT_VENDORED),
        "npm": (Path("/usr/lib/node_modules/npm"), [g for g in DEFAULT_VENDORED if "node_modules" not in g]),
    }


def load(name: str) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """(path, text) of every file the analyze step would read, and what it skipped by reason."""
    root, vendored = repositories()[name]
    if not root.is_dir():
        raise SystemExit(f"{name}: {root} is not here")
    found = discover(root, vendored, 1_000_000)
    texts = []
    for path, _language, data in found.files:
        try:
            texts.append((path, data.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return texts, dict(found.skipped)


def megabytes(texts: list[tuple[str, str]]) -> float:
    return sum(len(t.encode()) for _, t in texts) / 1e6
