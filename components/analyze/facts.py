"""Static facts for the aspects that need no tree walk: format, I/O hints, design-pattern hints, file role.

The 14 aspects (first patent, [0025]-[0029]) in four groups:
structure: elements, file_role, directory_organisation, core_task · dependencies: variable, functional, module ·
architecture: design_pattern, data_structures, exceptions, inputs_outputs · format: style, indentation, comments.
"""

from __future__ import annotations

import functools
import math
import re
from functools import reduce
from typing import Any

ASPECTS = {
    "structure": ("elements", "file_role", "directory_organisation", "core_task"),
    "dependencies": ("variable", "functional", "module"),
    "architecture": ("design_pattern", "data_structures", "exceptions", "inputs_outputs"),
    "format": ("style", "indentation", "comments"),
}

FILE_IO = re.compile(r"(?:^|\.)(open|fopen|read_text|write_text|read_bytes|write_bytes|readFile|writeFile|"
                     r"readFileSync|writeFileSync|ReadFile|WriteFile|Open|Create|fread|fwrite|ifstream|ofstream)$")
NETWORK_IO = re.compile(r"(?i)(urlopen|requests\.|httpx\.|fetch|axios|http\.(Get|Post|NewRequest)|socket|"
                        r"HttpClient|reqwest|aiohttp|grpc|\.connect$|Request$)")
ENV_IO = re.compile(r"(os\.environ|getenv|process\.env|std::env|env::var|System\.getenv|os\.Getenv)")
STDOUT_IO = re.compile(r"^(print|console\.(log|error|warn)|printf|puts|fmt\.Print\w*|System\.out\.\w+|println!?|"
                       r"eprintln!?|std::cout)$")
TEST_PATH = re.compile(r"(^|/)(tests?|spec|__tests__)/|(^|/)test_[^/]+$|_test\.(py|go)$|\.(test|spec)\.[jt]sx?$|"
                       r"Test\.java$")
CONFIG_NAMES = re.compile(r"(^|/)(setup\.py|conftest\.py|settings\.py|config\.\w+|.*\.(ya?ml|toml|ini|cfg|json)|"
                          r"Dockerfile|Makefile|CMakeLists\.txt|package\.json|go\.mod|Cargo\.toml)$")
PY_MAIN = re.compile(r"if __name__ == ['\"]__main__['\"]")
C_MAIN = re.compile(r"\bint main\s*\(")
CLI_WORDS = ("argparse", "click", "typer", "docopt", "commander", "yargs", "flag.Parse", "clap", "cobra")
CLI_MARKERS = re.compile(r"\b(argparse|click|typer|docopt|commander|yargs|flag\.Parse|clap|cobra)\b")


def naming_convention(name: str) -> str:
    core = name.strip("_")
    if not core:
        return "other"
    if core.isupper() and "_" in core or core.isupper() and len(core) > 1:
        return "UPPER_CASE"
    if "_" in core and core == core.lower():
        return "snake_case"
    if core[0].isupper() and "_" not in core:
        return "PascalCase"
    if core[0].islower() and any(c.isupper() for c in core) and "_" not in core:
        return "camelCase"
    if core == core.lower():
        return "lowercase"
    return "mixed"


def docstring_style(doc: str | None) -> str:
    if not doc:
        return "none"
    if re.search(r"^\s*(Args|Arguments|Returns|Raises|Yields|Attributes):\s*$", doc, re.M):
        return "google"
    if re.search(r"^\s*(Parameters|Returns)\s*\n\s*-{3,}", doc, re.M):
        return "numpy"
    if re.search(r":param\s|:returns?:|:raises?\s", doc):
        return "sphinx"
    if re.search(r"@(param|returns?|throws)\b", doc):
        return "jsdoc"
    return "plain"


class LineStats:
    """Per-line facts of a whole file, computed once; a unit's format facts are slices of them."""

    def __init__(self, text: str, language: str | None):
        prefix = ("#",) if language in ("python", "bash", "ruby", "yaml", "toml") else ("//", "/*", "*")
        self.lengths: list[int] = []
        self.indents: list[int] = []  # leading spaces; -1 for a tab-indented line, -2 for a blank line
        self.comments: list[int] = []
        for line in text.splitlines() or [""]:
            stripped = line.lstrip()
            self.lengths.append(len(line))
            if not stripped:
                self.indents.append(-2)
                self.comments.append(0)
                continue
            self.indents.append(-1 if line[0] == "\t" else len(line) - len(line.lstrip(" ")))
            self.comments.append(1 if stripped.startswith(prefix) else 0)

    def format_facts(self, first: int, last: int, docstring: str | None, names: list[str]) -> dict[str, Any]:
        """Format facts of lines first..last (1-based, inclusive) and the names the unit defines."""
        lengths = self.lengths[first - 1:last] or [0]
        indents = self.indents[first - 1:last]
        nonblank = [i for i in indents if i != -2]
        spaces = {i for i in nonblank if i > 0}
        tabs = sum(1 for i in nonblank if i == -1)
        space_lines = sum(1 for i in nonblank if i > 0)
        comment_lines = sum(self.comments[first - 1:last])
        conventions: dict[str, int] = {}
        for name in names:
            convention = naming_convention(name)
            conventions[convention] = conventions.get(convention, 0) + 1
        nonblank_lengths = [n for n, i in zip(lengths, indents, strict=False) if i != -2]
        return {
            "style": {"naming": dict(sorted(conventions.items())), "max_line_length": max(lengths),
                      "mean_line_length": round(sum(nonblank_lengths) / max(len(nonblank_lengths), 1), 1),
                      "lines": len(lengths)},
            "indentation": {"unit": "tabs" if tabs > space_lines else "spaces" if space_lines else "none",
                            "width": reduce(math.gcd, spaces, 0) or None, "mixed": bool(tabs and space_lines)},
            "comments": {"comment_lines": comment_lines,
                         "density": round(comment_lines / max(len(nonblank), 1), 3),
                         "has_docstring": bool(docstring), "docstring_style": docstring_style(docstring)},
        }


def format_facts(code: str, docstring: str | None, language: str | None) -> dict[str, Any]:
    """Format facts of a piece of code on its own (files; units use LineStats slices)."""
    names = re.findall(r"\b(?:def|function|func|fn|class|let|const|var)\s+([A-Za-z_]\w*)", code)
    stats = LineStats(code, language)
    return stats.format_facts(1, len(stats.lengths), docstring, names)


@functools.lru_cache(maxsize=65536)
def _call_io(callee: str) -> tuple[bool, bool, bool]:
    """(file, network, stdout) for one callee; callees repeat a lot, so each is classified once."""
    return bool(FILE_IO.search(callee)), bool(NETWORK_IO.search(callee)), bool(STDOUT_IO.match(callee))


RETURN_VALUE = re.compile(r"\breturn\s+[^;\s]")


def io_facts(params: list[dict], returns: str | None, calls: list[str], code: str,
             language: str | None) -> dict[str, Any]:
    has_return_value = "return" in code and bool(RETURN_VALUE.search(code))
    return {
        "parameters": params,
        "returns": returns or ("a value" if has_return_value else None),
        "file_io": sorted({c for c in calls if _call_io(c)[0]}),
        "network_io": sorted({c for c in calls if _call_io(c)[1]}),
        "environment": sorted(set(ENV_IO.findall(code))) if "env" in code else [],
        "stdout": sorted({c for c in calls if _call_io(c)[2]}),
    }


def pattern_hints(kind: str, name: str, members: list[str], calls: list[str], code: str) -> list[dict[str, str]]:
    """Design-pattern hints, each with the evidence that suggested it (hints, not verdicts)."""
    hints = []
    lower = name.lower()
    if kind in ("function", "method") and re.match(r"(create|make|build|new)_?[A-Za-z]", name):
        hints.append({"pattern": "factory", "evidence": f"name {name!r} builds and returns objects"})
    if kind == "class" and "instance" in code and re.search(r"\b_?instance\b", code) and ("__new__" in members or "getInstance" in members
                                                                     or "instance" in members):
        hints.append({"pattern": "singleton", "evidence": "a class-level instance returned by a constructor hook"})
    if kind == "class" and re.search(r"(client|gateway|adapter)$", lower):
        hints.append({"pattern": "client", "evidence": f"class {name!r} wraps a remote or external service"})
    if kind == "class" and re.search(r"(server|handler|service)$", lower):
        hints.append({"pattern": "server/handler", "evidence": f"class {name!r} serves requests"})
    if kind == "class" and any(m.startswith(("visit_", "visit")) and m != "visit" for m in members):
        hints.append({"pattern": "visitor", "evidence": "visit_* methods"})
    if kind == "class" and ("__enter__" in members or "__aenter__" in members):
        hints.append({"pattern": "context manager", "evidence": "__enter__/__exit__"})
    if kind == "class" and ("__iter__" in members or "__next__" in members):
        hints.append({"pattern": "iterator", "evidence": "__iter__/__next__"})
    if kind == "class" and re.search(r"\b(Protocol|ABC|interface)\b", code[:200].split("\n", 1)[0]):
        hints.append({"pattern": "interface", "evidence": "abstract base / protocol declaration"})
    if kind in ("function", "method") and "yield" in code and re.search(r"\byield\b", code):
        hints.append({"pattern": "generator", "evidence": "yield"})
    if kind in ("function", "method") and name in calls:
        hints.append({"pattern": "recursion", "evidence": f"{name} calls itself"})
    if kind in ("function", "method") and any(w in code for w in ("observer", "subscribe", "listener", "on_", "emit")) \
            and re.search(r"\b(observer|subscribe|listener|on_\w+|emit)\b", code):
        hints.append({"pattern": "observer", "evidence": "subscribe/emit/listener names"})
    return hints


def has_entry_point(text: str) -> bool:
    # literal checks: a regex alternation over the whole file was the costliest line of the step
    return ("__main__" in text and bool(PY_MAIN.search(text))) or "func main(" in text or "fn main(" in text \
        or "static void main" in text or ("int main" in text and bool(C_MAIN.search(text)))


def file_role(path: str, text: str) -> str:
    if TEST_PATH.search(path):
        return "test"
    if CONFIG_NAMES.search(path):
        return "config"
    if has_entry_point(text) or path.rsplit("/", 1)[-1] in ("__main__.py", "main.go", "main.rs", "cli.py"):
        return "entry_point"
    if path.lower().endswith((".md", ".rst", ".txt")):
        return "docs"
    return "library"


def exported_api(language: str | None, callables: list[Any], text: str) -> list[str]:
    top = [u for u in callables if u.parent == u.path]
    if language == "python":
        m = re.search(r"__all__\s*=\s*[\[(]([^\])]*)[\])]", text)
        if m:
            return re.findall(r"['\"]([^'\"]+)['\"]", m.group(1))
        return [u.name for u in top if not u.name.startswith("_")]
    if language in ("javascript", "typescript", "tsx"):
        return [u.name for u in top if re.search(rf"export\s+(default\s+)?(async\s+)?(function|class|const|let)\s+{re.escape(u.name)}\b", text)]
    if language == "go":
        return [u.name for u in top if u.name[:1].isupper()]
    if language == "rust":
        return [u.name for u in top if re.search(rf"pub\s+(fn|struct|enum|trait)\s+{re.escape(u.name)}\b", text)]
    if language == "java":
        return [u.name for u in callables if u.facts.get("structure", {}).get("elements", {}).get("decorators")
                and "public" in " ".join(u.facts["structure"]["elements"]["decorators"])]
    return [u.name for u in top]


def file_facts(path: str, text: str, language: str | None, imports: list[str],
               callables: list[Any]) -> dict[str, Any]:
    role = file_role(path, text)
    entry = has_entry_point(text)
    return {
        "structure": {
            "elements": {"kind": "file", "functions": [u.name for u in callables if u.kind == "function"],
                         "methods": [u.qualified_name.split("::", 1)[-1] for u in callables if u.kind == "method"],
                         "classes": [u.name for u in callables if u.kind == "class"], "lines": text.count("\n") + 1},
            "file_role": {"role": role, "entry_point": entry, "cli": any(m in text for m in CLI_WORDS) and bool(CLI_MARKERS.search(text))},
            "core_task": {"exported_api": exported_api(language, callables, text)},
        },
        "dependencies": {"module": {"imports": imports}},
    }
