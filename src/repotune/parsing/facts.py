"""Static facts for the aspects that need no tree walk: format, I/O hints, design-pattern hints, file role.

The 14 aspects (first patent, [0025]-[0029]) in four groups:
structure: elements, file_role, directory_organisation, core_task · dependencies: variable, functional, module ·
architecture: design_pattern, data_structures, exceptions, inputs_outputs · format: style, indentation, comments.
"""

from __future__ import annotations

import functools
import math
import re
import operator
from operator import methodcaller
from typing import Any

import ahocorasick_rs
import numpy as np

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
# Literals that gate the file-level regexes, found in one pass (a substring search each was a scan each).
FILE_MARKER_SEARCH = ahocorasick_rs.AhoCorasick(
    [*CLI_WORDS, "__main__", "func main(", "fn main(", "static void main", "int main"])


@functools.lru_cache(maxsize=65536)
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
    if ":" not in doc and "@" not in doc and "---" not in doc:  # what each style below needs: most are plain
        return "plain"
    if re.search(r"^\s*(Args|Arguments|Returns|Raises|Yields|Attributes):\s*$", doc, re.M):
        return "google"
    if re.search(r"^\s*(Parameters|Returns)\s*\n\s*-{3,}", doc, re.M):
        return "numpy"
    if re.search(r":param\s|:returns?:|:raises?\s", doc):
        return "sphinx"
    if re.search(r"@(param|returns?|throws)\b", doc):
        return "jsdoc"
    return "plain"


# Line breaks str.splitlines() honours besides \n (and \x1f, which str.isspace() counts as blank): text
# without them can be split on \n alone. Single bytes: `in` is a memchr, far quicker than a regex class.
ODD_LINE_BREAKS = tuple(bytes([b]) for b in b"\r\x0b\x0c\x1c\x1d\x1e\x1f")


class LineStats:
    """Per-line facts of a whole file, computed once; a unit's format facts come from prefix sums over them, so a
    unit costs the same whatever its length (nested units would otherwise rescan their lines at every level)."""

    def __init__(self, text: str, language: str | None, data: bytes | None = None):
        hash_comments = language in ("python", "bash", "ruby", "yaml", "toml")
        data = text.encode("utf-8") if data is None else data
        if len(data) == len(text) and not any(b in data for b in ODD_LINE_BREAKS):
            columns = self._ascii_columns(data, hash_comments)
        else:
            columns = self._columns(text, hash_comments)
        lengths, spaces, nonblank, tabs, comments = map(np.asarray, columns)
        self.lengths: list[int] = lengths.tolist()
        self._spaces: list[int] = spaces.tolist()  # leading spaces of non-blank lines, else 0
        # the five prefix sums in one 2-D cumsum: numpy's cost per call outweighs its work on a file's lines
        counts = np.zeros((5, len(lengths) + 1), dtype=np.int64)
        counts[:, 1:] = (comments, nonblank, tabs, spaces > 0, lengths * nonblank)
        self._comments, self._nonblank, self._tabs, self._spaced, self._nonblank_chars = (
            np.cumsum(counts, axis=1).tolist())

    @staticmethod
    def _columns(text: str, hash_comments: bool) -> tuple[list, ...]:
        """Per line: length, leading spaces (0 when blank), non-blank, tab-indented, comment. Any text."""
        prefix = ("#",) if hash_comments else ("//", "/*", "*")
        lines = text.splitlines() or [""]
        stripped = list(map(str.lstrip, lines))
        nonblank = list(map(bool, stripped))
        lengths = list(map(len, lines))
        lead = map(operator.sub, lengths, map(len, map(methodcaller("lstrip", " "), lines)))
        tabs = list(map(operator.and_, map(methodcaller("startswith", "\t"), lines), nonblank))
        comments = list(map(methodcaller("startswith", prefix), stripped))
        return lengths, list(map(operator.mul, lead, nonblank)), nonblank, tabs, comments

    @staticmethod
    def _ascii_columns(data: bytes, hash_comments: bool) -> tuple[np.ndarray, ...]:
        """The same columns with numpy over the bytes, for ASCII text whose only line break is \\n (the usual
        case): one vectorised pass instead of several Python-level passes over the lines."""
        size = len(data)
        chars = np.frombuffer(data + b"\0\0", dtype=np.uint8)  # two pad bytes: look-ahead never runs off
        newlines = np.flatnonzero(chars[:size] == 10)
        starts = np.concatenate(([0], newlines + 1))
        ends = np.append(newlines, size)
        if size and data[-1] == 10:  # like str.splitlines: a final newline ends the last line, it opens none
            starts, ends = starts[:-1], ends[:-1]
        blank_chars = (chars == 32) | (chars == 9)
        solid = np.append(np.flatnonzero(~blank_chars[:size] & (chars[:size] != 10)), size)
        first_solid = solid[np.searchsorted(solid, starts)]
        nonblank = first_solid < ends
        not_space = np.append(np.flatnonzero(chars[:size] != 32), size)
        lead = not_space[np.searchsorted(not_space, starts)] - starts
        tabs = (chars[starts] == 9) & nonblank
        head = chars[first_solid]
        if hash_comments:
            comments = head == 35  # '#'
        else:  # '//', '/*' or '*'
            comments = (head == 42) | ((head == 47) & ((chars[first_solid + 1] == 47) | (chars[first_solid + 1] == 42)))
        comments &= nonblank
        return ends - starts, lead * nonblank, nonblank, tabs, comments

    def format_facts(self, first: int, last: int, docstring: str | None, names: list[str]) -> dict[str, Any]:
        """Format facts of lines first..last (1-based, inclusive) and the names the unit defines."""
        a, b = first - 1, max(min(last, len(self.lengths)), first - 1)
        lengths = self.lengths[a:b] or [0]
        nonblank = self._nonblank[b] - self._nonblank[a]
        tabs = self._tabs[b] - self._tabs[a]
        space_lines = self._spaced[b] - self._spaced[a]
        comment_lines = self._comments[b] - self._comments[a]
        spaces = set(self._spaces[a:b]) if space_lines else ()  # 0 (blank, tab-indented) leaves the gcd as is
        conventions: dict[str, int] = {}
        for name in names:
            convention = naming_convention(name)
            conventions[convention] = conventions.get(convention, 0) + 1
        return {
            "style": {"naming": dict(sorted(conventions.items())), "max_line_length": max(lengths),
                      "mean_line_length": round((self._nonblank_chars[b] - self._nonblank_chars[a]) / max(nonblank, 1), 1),
                      "lines": len(lengths)},
            "indentation": {"unit": "tabs" if tabs > space_lines else "spaces" if space_lines else "none",
                            "width": math.gcd(*spaces) or None,
                            "mixed": bool(tabs and space_lines)},
            "comments": {"comment_lines": comment_lines,
                         "density": round(comment_lines / max(nonblank, 1), 3),
                         "has_docstring": bool(docstring), "docstring_style": docstring_style(docstring)},
        }


DEFINED_NAME = re.compile(r"\b(?:def|function|func|fn|class|let|const|var)\s+([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=65536)
def _call_io(callee: str) -> tuple[bool, bool, bool]:
    """(file, network, stdout) for one callee; callees repeat a lot, so each is classified once."""
    return bool(FILE_IO.search(callee)), bool(NETWORK_IO.search(callee)), bool(STDOUT_IO.match(callee))


# Patterns that open with their literal word (the \b check moved into a look-behind) let the regex engine jump
# between occurrences of the word instead of trying every position: 9x quicker on CPython's Lib/.
RETURN_VALUE = re.compile(r"return(?<=\breturn)\s+[^;\s]")
YIELD = re.compile(r"yield(?<=\byield)\b")
INSTANCE = re.compile(r"\b_?instance\b")  # run only on classes with an instance hook: rare
OBSERVER_WORDS = {word: re.compile(rf"{word}(?<=\b{word})\b")
                  for word in ("observer", "subscribe", "listener", "emit")} | {"on_": re.compile(r"on_(?<=\bon_)\w")}


def io_facts(params: list[dict], returns: str | None, calls: list[str], code: str,
             language: str | None) -> dict[str, Any]:
    has_return_value = "return" in code and bool(RETURN_VALUE.search(code))
    file_io, network_io, stdout = [], [], []
    for callee in sorted(set(calls)):
        is_file, is_network, is_stdout = _call_io(callee)
        if is_file:
            file_io.append(callee)
        if is_network:
            network_io.append(callee)
        if is_stdout:
            stdout.append(callee)
    return {
        "parameters": params,
        "returns": returns or ("a value" if has_return_value else None),
        "file_io": file_io,
        "network_io": network_io,
        "environment": sorted(set(ENV_IO.findall(code))) if "env" in code else [],
        "stdout": stdout,
    }


def pattern_hints(kind: str, name: str, members: list[str], calls: list[str], code: str) -> list[dict[str, str]]:
    """Design-pattern hints, each with the evidence that suggested it (hints, not verdicts)."""
    hints = []
    if kind == "class":
        lower = name.lower()
        if ("__new__" in members or "getInstance" in members or "instance" in members) and INSTANCE.search(code):
            hints.append({"pattern": "singleton", "evidence": "a class-level instance returned by a constructor hook"})
        if lower.endswith(("client", "gateway", "adapter")):
            hints.append({"pattern": "client", "evidence": f"class {name!r} wraps a remote or external service"})
        if lower.endswith(("server", "handler", "service")):
            hints.append({"pattern": "server/handler", "evidence": f"class {name!r} serves requests"})
        if any(m.startswith(("visit_", "visit")) and m != "visit" for m in members):
            hints.append({"pattern": "visitor", "evidence": "visit_* methods"})
        if "__enter__" in members or "__aenter__" in members:
            hints.append({"pattern": "context manager", "evidence": "__enter__/__exit__"})
        if "__iter__" in members or "__next__" in members:
            hints.append({"pattern": "iterator", "evidence": "__iter__/__next__"})
        if INTERFACE.search(code[:200].split("\n", 1)[0]):
            hints.append({"pattern": "interface", "evidence": "abstract base / protocol declaration"})
        return hints
    if kind not in ("function", "method"):
        return hints
    if FACTORY_NAME.match(name):
        hints.append({"pattern": "factory", "evidence": f"name {name!r} builds and returns objects"})
    if "yield" in code and YIELD.search(code):
        hints.append({"pattern": "generator", "evidence": "yield"})
    if name in calls:
        hints.append({"pattern": "recursion", "evidence": f"{name} calls itself"})
    if any(word in code and pattern.search(code) for word, pattern in OBSERVER_WORDS.items()):
        hints.append({"pattern": "observer", "evidence": "subscribe/emit/listener names"})
    return hints


FACTORY_NAME = re.compile(r"(create|make|build|new)_?[A-Za-z]")
INTERFACE = re.compile(r"\b(Protocol|ABC|interface)\b")


def has_entry_point(text: str, markers: set[str] | None = None) -> bool:
    """markers: which of FILE_MARKERS occur in text, when already known."""
    markers = set(FILE_MARKER_SEARCH.find_matches_as_strings(text, overlapping=True)) if markers is None else markers
    return ("__main__" in markers and bool(PY_MAIN.search(text))) or "func main(" in markers \
        or "fn main(" in markers or "static void main" in markers or ("int main" in markers and bool(C_MAIN.search(text)))


def file_role(path: str, entry_point: bool) -> str:
    if TEST_PATH.search(path):
        return "test"
    if CONFIG_NAMES.search(path):
        return "config"
    if entry_point or path.rsplit("/", 1)[-1] in ("__main__.py", "main.go", "main.rs", "cli.py"):
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
    markers = set(FILE_MARKER_SEARCH.find_matches_as_strings(text, overlapping=True))
    entry = has_entry_point(text, markers)
    role = file_role(path, entry)
    cli = not markers.isdisjoint(CLI_WORDS) and bool(CLI_MARKERS.search(text))
    return {
        "structure": {
            "elements": {"kind": "file", "functions": [u.name for u in callables if u.kind == "function"],
                         "methods": [u.qualified_name.split("::", 1)[-1] for u in callables if u.kind == "method"],
                         "classes": [u.name for u in callables if u.kind == "class"], "lines": text.count("\n") + 1},
            "file_role": {"role": role, "entry_point": entry, "cli": cli},
            "core_task": {"exported_api": exported_api(language, callables, text)},
        },
        "dependencies": {"module": {"imports": imports}},
    }
