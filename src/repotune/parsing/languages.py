"""Which language a file is in: by extension, then by shebang."""

from __future__ import annotations

import re
from importlib import resources

# Languages with full unit extraction (functions, methods, classes) through packaged queries.
FULL_LANGUAGES = ("python", "javascript", "typescript", "tsx", "java", "go", "c", "cpp", "rust")

EXTENSIONS = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "javascript", ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".java": "java", ".go": "go", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp",
    ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp", ".rs": "rust",
    # file-level only
    ".rb": "ruby", ".php": "php", ".cs": "csharp", ".kt": "kotlin", ".scala": "scala", ".swift": "swift",
    ".sh": "bash", ".bash": "bash", ".lua": "lua", ".sql": "sql", ".yaml": "yaml", ".yml": "yaml",
    ".toml": "toml", ".json": "json", ".md": "markdown", ".html": "html", ".css": "css", ".proto": "proto",
}
SPECIAL_NAMES = {"Dockerfile": "dockerfile", "Makefile": "make", "CMakeLists.txt": "cmake"}
SHEBANG = re.compile(rb"^#!\s*(?:/usr/bin/env\s+(?:-S\s+)?)?\S*?(python|node|bash|sh|ruby|php)[\d.]*\b")
SHEBANG_LANGUAGES = {b"python": "python", b"node": "javascript", b"bash": "bash", b"sh": "bash",
                     b"ruby": "ruby", b"php": "php"}


def detect_language(path: str, head: bytes = b"") -> str | None:
    name = path.rsplit("/", 1)[-1]
    if name in SPECIAL_NAMES:
        return SPECIAL_NAMES[name]
    dot = name.rfind(".")
    if dot > 0 and (lang := EXTENSIONS.get(name[dot:].lower())):
        return lang
    if head.startswith(b"#!") and (m := SHEBANG.match(head)):
        return SHEBANG_LANGUAGES[m.group(1)]
    return None


# TSX's grammar extends TypeScript's: the same query serves both.
QUERY_FILES = {"tsx": "typescript"}


def query_source(language: str) -> str:
    name = QUERY_FILES.get(language, language)
    return resources.files("repotune.parsing").joinpath("queries", f"{name}.scm").read_text()
