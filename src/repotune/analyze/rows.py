"""One file's rows of units.parquet, finished where the file was analysed (a Ray worker, or this process).

Everything that needs only the file is done here: unit ids, parent ids, import classes, the facts JSON, the
secret defence pass, content hashes, MinHash signatures, import and def-use edges. What needs every file (call
resolution, assembled context, duplicates, directories) is left to `repository.link`, which then handles only
small columns: the driver never decodes a unit's code or rebuilds its facts.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import Counter
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from repotune.parsing.extract import FileAnalysis, content_hash, gc_paused
from repotune.parsing.facts import TEST_PATH
from repotune.parsing.secrets import redact
from repotune.similarity import Words
from repotune.similarity import signatures as minhash_signatures

STDLIB = set(sys.stdlib_module_names)
NODE_BUILTINS = {"fs", "path", "http", "https", "os", "url", "crypto", "util", "events", "stream", "child_process"}
CALLABLE_KINDS = ("function", "method", "class")
MIN_DUPLICATE_CHARS = 40  # shorter callables (one-line stubs) are never marked as duplicates

# Stands for the resolved internal calls inside a function's facts JSON until link() knows them.
INTERNAL_CALLS = "\x00internal_calls\x00"
INTERNAL_CALLS_JSON = orjson.dumps(INTERNAL_CALLS).decode()

UNIT_SCHEMA = pa.schema([
    ("unit_id", pa.string()), ("kind", pa.string()), ("repository", pa.string()), ("language", pa.string()),
    ("path", pa.string()), ("name", pa.string()), ("qualified_name", pa.string()), ("parent_id", pa.string()),
    ("start_line", pa.int64()), ("end_line", pa.int64()), ("signature", pa.string()), ("docstring", pa.string()),
    ("code", pa.string()), ("content_hash", pa.string()), ("context", pa.string()), ("facts", pa.string()),
    ("duplicate_of", pa.string()), ("is_test", pa.bool_()),
])
# Working columns for link(), dropped before units.parquet is written.
WORK_SCHEMA = pa.schema([
    ("_file", pa.int64()), ("_order", pa.int64()),  # the file's place in path order, the row's in its file
    ("_skip", pa.string()),  # a file that could not be analysed: its reason (the row is not a unit)
    ("_parse_errors", pa.int64()), ("_secrets", pa.string()),  # file rows: JSON {kind: count}
    ("_seconds", pa.float64()), ("_finished", pa.float64()),  # file rows: analysis time, wall clock at its end
    ("_imports", pa.list_(pa.struct([("dst", pa.string()), ("internal", pa.bool_())]))),  # file rows
    ("_calls", pa.list_(pa.string())), ("_context_parts", pa.list_(pa.string())),  # functions and methods
    ("_defuse", pa.list_(pa.string())),
    ("_callee_line", pa.string()),  # how this callable appears in a caller's context
    ("_signature", pa.binary()),  # MinHash, for callables long enough to be duplicates
    ("_fix_facts", pa.bool_()),  # the placeholder is not unique in this facts JSON: link() patches it parsed
])
ROW_SCHEMA = pa.schema(list(UNIT_SCHEMA) + list(WORK_SCHEMA))


def unit_id(repository: str, path: str, qualified_name: str, chash: str) -> str:
    return hashlib.sha256(f"{repository}\0{path}\0{qualified_name}\0{chash}".encode()).hexdigest()[:24]


def directory_id(repository: str, path: str | None) -> str:
    """Id of a directory unit, or of the repository unit for None (a top-level entry's parent)."""
    return unit_id(repository, path, path, "") if path else unit_id(repository, "", repository, "")


def module_names(path: str) -> set[str]:
    """Names under which other files may import this one (python dotted, js relative-less, go/rust dirs)."""
    stem = path.rsplit(".", 1)[0]
    names = {stem.replace("/", "."), stem.rsplit("/", 1)[-1]}
    if stem.endswith("/__init__"):
        names |= {stem[: -len("/__init__")].replace("/", "."), stem[: -len("/__init__")].rsplit("/", 1)[-1]}
    if "/" in path:
        names.add(path.rsplit("/", 1)[0].replace("/", "."))
    return names


def internal_module_names(paths: list[str]) -> frozenset[str]:
    return frozenset().union(*map(module_names, paths))


def classify_import(module: str, language: str | None, internal_modules: frozenset[str] | set[str]) -> str:
    head = module.lstrip(".").split(".")[0].split("/")[0].split("::")[0]
    if module.startswith((".", "crate", "self", "super")) or module in internal_modules or head in internal_modules:
        return "internal"
    if language == "python" and head in STDLIB:
        return "stdlib"
    if language in ("javascript", "typescript", "tsx") and (head in NODE_BUILTINS or head.startswith("node:")):
        return "stdlib"
    if language == "go" and "." not in head:
        return "stdlib"
    if language == "rust" and head in ("std", "core", "alloc"):
        return "stdlib"
    if language == "java" and head in ("java", "javax"):
        return "stdlib"
    if language in ("c", "cpp") and "." not in module and "/" not in module:
        return "stdlib"
    return "third_party"


@gc_paused
def file_rows(fa: FileAnalysis, repository: str, file_index: int, internal_modules: frozenset[str] | set[str],
              num_perm: int = 64) -> list[dict[str, Any]]:
    """The rows of one analysed file (ROW_SCHEMA): its file unit first, then its classes, functions, methods."""
    if fa.skip_reason:
        return [{"kind": "file", "path": fa.path, "language": fa.language, "_file": file_index, "_order": 0,
                 "_skip": fa.skip_reason}]
    words = Words(fa.data)
    hashes = _content_hashes(fa, words)
    ids = [unit_id(repository, u.path, u.qualified_name, h) for u, h in zip(fa.units, hashes, strict=True)]
    id_of = {u.qualified_name: i for u, i in zip(fa.units, ids, strict=True)}
    signatures: dict[str, str | None] = {}  # the first unit of a name, as the class a method belongs to
    for u in fa.units:
        signatures.setdefault(u.qualified_name, u.signature)
    import_kinds = {m: classify_import(m, fa.language, internal_modules) for m in fa.imports}
    directory = fa.path.rsplit("/", 1)[0] if "/" in fa.path else None
    signed = [u.kind in CALLABLE_KINDS and len(u.code) >= MIN_DUPLICATE_CHARS for u in fa.units]
    minhashes = iter(minhash_signatures(words, [u.span for u, s in zip(fa.units, signed, strict=True) if s],
                                        num_perm))
    is_test = bool(TEST_PATH.search(fa.path))
    imported = [(m, m.rsplit(".", 1)[-1].rsplit("/", 1)[-1]) for m in fa.imports]
    rows = []
    for order, (u, uid, chash) in enumerate(zip(fa.units, ids, hashes, strict=True)):
        facts = u.facts
        row: dict[str, Any] = {}
        if u.kind == "file":
            facts.setdefault("dependencies", {})["module"] = {
                "imports": fa.imports, "internal": sorted(m for m, k in import_kinds.items() if k == "internal"),
                "stdlib": sorted(m for m, k in import_kinds.items() if k == "stdlib"),
                "third_party": sorted(m for m, k in import_kinds.items() if k == "third_party")}
            row.update(_parse_errors=fa.parse_errors, _secrets=json.dumps(fa.secrets, sort_keys=True),
                       _imports=[{"dst": m, "internal": k == "internal"} for m, k in import_kinds.items()])
            parent_id = directory_id(repository, directory)
        else:
            parent_id = id_of.get(u.parent) if u.parent else None
        if u.kind in ("function", "method"):
            facts["dependencies"]["functional"]["internal_calls"] = INTERNAL_CALLS
            row.update(_calls=u.calls, _context_parts=_local_context(u, fa, signatures, imported),
                       _defuse=[f"{var}<-{r}" for var, reads in facts["dependencies"]["variable"]["assignments"].items()
                                for r in reads])
        if u.kind in CALLABLE_KINDS and u.signature:
            doc = (u.docstring or "").split("\n", 1)[0]
            row["_callee_line"] = f"{u.signature}  # {u.path}" + (f": {doc}" if doc else "")
        facts_json = dumps_facts(facts)
        if u.kind in ("function", "method") and facts_json.count(INTERNAL_CALLS_JSON) != 1:
            row["_fix_facts"] = True
        if signed[order]:
            row["_signature"] = next(minhashes)
        row.update(
            unit_id=uid, kind=u.kind, repository=repository, language=u.language, path=u.path, name=u.name,
            qualified_name=u.qualified_name, parent_id=parent_id, start_line=u.start_line, end_line=u.end_line,
            signature=u.signature, docstring=u.docstring, code=u.code, content_hash=chash, facts=facts_json,
            is_test=is_test, _file=file_index, _order=order)
        rows.append(row)
    _redact_rewritten(rows)
    return rows


# Texts rewritten from the code rather than sliced from it: a signature's whitespace is collapsed, a comment's
# markers are stripped and its lines joined, which can bring a keyword and a value together.
REWRITTEN_TEXTS = ("signature", "docstring")
SEPARATOR = "\n\0\n"  # no secret pattern matches across it (none spans a NUL)


def _redact_rewritten(rows: list[dict[str, Any]]) -> None:
    """Defence in depth for the rewritten texts. The file was redacted before parsing, so every unit's code (a
    slice of it) is clean, and so are the facts but for the signature they repeat: slices of the code (parameters,
    decorators, callees with their argument lists elided), names and fixed words. Signatures and docstrings are
    rewritten, so they are checked once, joined; only if that finds anything are they and the facts redacted
    field by field."""
    joined = SEPARATOR.join(t for r in rows for name in REWRITTEN_TEXTS if (t := r.get(name)))
    found: Counter = Counter()
    redact(joined, found)
    if not found:
        return
    for r in rows:
        for name in (*REWRITTEN_TEXTS, "facts"):
            if r.get(name):
                r[name] = redact(r[name])


def dumps_facts(facts: dict[str, Any]) -> str:
    """Facts as JSON, keys sorted (orjson: the encoding was a tenth of the per-file work with json)."""
    return orjson.dumps(facts, option=orjson.OPT_SORT_KEYS).decode()


# What str.split() splits on beyond bytes.split()'s ASCII whitespace, in UTF-8: \x1c-\x1f, NEL, NBSP, and
# the Unicode spaces (U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
OTHER_WHITESPACE = re.compile(rb"[\x1c-\x1f]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]|\xe2\x81\x9f|\xe3\x80\x80")


def _other_whitespace(data: bytes) -> bool:
    if data.isascii():  # the usual case: four memchr scans instead of the regex over every byte
        return any(separator in data for separator in (b"\x1c", b"\x1d", b"\x1e", b"\x1f"))
    return OTHER_WHITESPACE.search(data) is not None


def _content_hashes(fa: FileAnalysis, words: Words) -> list[str]:
    """content_hash(u.code) of every unit, the whitespace normalised once for the whole file: a unit that starts
    and ends on word boundaries hashes a slice of it (nested units no longer split and join their code again)."""
    if _other_whitespace(fa.data):  # words would differ from str.split()'s: each unit on its own
        return [content_hash(u.code) for u in fa.units]
    normal = b" ".join(fa.data.split())
    sizes = words.end - words.start
    offsets = (np.cumsum(sizes + 1) - (sizes + 1)).tolist()  # where each word starts in `normal`
    sizes = sizes.tolist()
    starts = np.array([u.span[0] for u in fa.units], dtype=np.int64)
    ends = np.array([u.span[1] for u in fa.units], dtype=np.int64)
    first, last, whole = (column.tolist() for column in words.locate(starts, ends))
    hashes = []
    for u, a, b, aligned in zip(fa.units, first, last, whole, strict=True):
        if not aligned:
            hashes.append(content_hash(u.code))
        elif a == b:
            hashes.append(hashlib.sha256(b"").hexdigest())
        else:
            hashes.append(hashlib.sha256(normal[offsets[a]:offsets[b - 1] + sizes[b - 1]]).hexdigest())
    return hashes


def _local_context(u: Any, fa: FileAnalysis, signatures: dict[str, str | None],
                   imported: list[tuple[str, str]]) -> list[str]:
    """The parts of a function's assembled context its own file gives: imports, globals, its class.
    imported: the file's imports with the name each binds."""
    parts = []
    if u.referenced:
        imports = [module for module, name in imported if name in u.referenced]
        if imports:
            parts.append("# imports: " + ", ".join(imports))
        parts.extend(line for name, line in fa.globals.items() if name in u.referenced)
    if u.kind == "method" and u.parent in signatures:
        parts.append(signatures[u.parent] or "")
    return parts


def rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=ROW_SCHEMA)
