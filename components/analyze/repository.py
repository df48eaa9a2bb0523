"""From per-file analyses to the repository's units and graph: stable ids, call resolution, assembled context,
directory and repository units, duplicates, and secret redaction of every text field."""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from datasketch import MinHash, MinHashLSH

from repotune.analyze.extract import FileAnalysis, Unit, content_hash
from repotune.analyze.facts import TEST_PATH
from repotune.analyze.secrets import redact

STDLIB = set(sys.stdlib_module_names)
NODE_BUILTINS = {"fs", "path", "http", "https", "os", "url", "crypto", "util", "events", "stream", "child_process"}


@dataclass
class RepositoryAnalysis:
    units: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    stats: dict[str, Any] = field(default_factory=dict)


def unit_id(repository: str, path: str, qualified_name: str, chash: str) -> str:
    return hashlib.sha256(f"{repository}\0{path}\0{qualified_name}\0{chash}".encode()).hexdigest()[:24]


def _module_names(path: str) -> set[str]:
    """Names under which other files may import this one (python dotted, js relative-less, go/rust dirs)."""
    stem = path.rsplit(".", 1)[0]
    names = {stem.replace("/", "."), stem.rsplit("/", 1)[-1]}
    if stem.endswith("/__init__"):
        names |= {stem[: -len("/__init__")].replace("/", "."), stem[: -len("/__init__")].rsplit("/", 1)[-1]}
    if "/" in path:
        names.add(path.rsplit("/", 1)[0].replace("/", "."))
    return names


def classify_import(module: str, language: str | None, internal_modules: set[str]) -> str:
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


def minhash(text: str, num_perm: int = 64) -> MinHash:
    """MinHash of a text's word 3-shingles: the one similarity signature of units, pairs and examples."""
    tokens = text.split()
    shingles = {" ".join(tokens[i:i + 3]) for i in range(max(len(tokens) - 2, 1))}
    m = MinHash(num_perm=num_perm, seed=1)
    for s in shingles:
        m.update(s.encode())
    return m


def assemble(repository: str, files: list[FileAnalysis], *, context_tokens: int = 512,
             near_duplicate_threshold: float = 0.9, num_perm: int = 64, readme: str | None = None) -> RepositoryAnalysis:
    """The repository's units and edges, deterministic for the same input."""
    files = sorted(files, key=lambda f: f.path)
    internal = set().union(*(_module_names(f.path) for f in files)) if files else set()
    by_name: dict[str, list[Unit]] = defaultdict(list)
    for f in files:
        for u in f.units:
            if u.kind in ("function", "method", "class"):
                by_name[u.name].append(u)

    ids: dict[int, str] = {}
    for f in files:
        for u in f.units:
            ids[id(u)] = unit_id(repository, u.path, u.qualified_name, content_hash(u.code))
    qualified_to_id = {(u.path, u.qualified_name): ids[id(u)] for f in files for u in f.units}

    def resolve(callee: str, caller: Unit) -> Unit | None:
        name = callee.rsplit(".", 1)[-1].rsplit("::", 1)[-1]
        candidates = by_name.get(name, [])
        same_file = [c for c in candidates if c.path == caller.path]
        return (same_file or candidates or [None])[0]

    edges: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    secrets: Counter = Counter()
    languages: Counter = Counter()
    kinds: Counter = Counter()
    for f in files:
        languages[f.language or "unknown"] += 1
        secrets.update(f.secrets)
        import_kinds = {m: classify_import(m, f.language, internal) for m in f.imports}
        file_id = ids[id(f.units[0])]
        for m, k in import_kinds.items():
            edges.append({"src": file_id, "dst": m, "kind": "import", "internal": k == "internal", "order": 0})
        for u in f.units:
            uid = ids[id(u)]
            facts = u.facts
            if u.kind == "file":
                facts.setdefault("dependencies", {})["module"] = {
                    "imports": f.imports, "internal": sorted(m for m, k in import_kinds.items() if k == "internal"),
                    "stdlib": sorted(m for m, k in import_kinds.items() if k == "stdlib"),
                    "third_party": sorted(m for m, k in import_kinds.items() if k == "third_party")}
            context = ""
            if u.kind in ("function", "method"):
                resolved = []
                for order, callee in enumerate(u.calls):
                    target = resolve(callee, u)
                    dst = ids[id(target)] if target is not None else callee
                    edges.append({"src": uid, "dst": dst, "kind": "call", "internal": target is not None,
                                  "order": order})
                    if target is not None:
                        resolved.append(target)
                facts["dependencies"]["functional"]["internal_calls"] = sorted(
                    {r.qualified_name for r in resolved})
                for var, reads in facts["dependencies"]["variable"]["assignments"].items():
                    for r in reads:
                        edges.append({"src": uid, "dst": f"{var}<-{r}", "kind": "defuse", "internal": True,
                                      "order": 0})
                context = _context(u, f, resolved, context_tokens)
            kinds[u.kind] += 1
            rows.append(_row(repository, u, uid, qualified_to_id.get((u.path, u.parent)) if u.parent else None,
                             facts, context))

    rows.extend(_directory_units(repository, files, rows, readme))
    for row in rows:  # defence in depth: files were redacted before parsing, so this normally finds nothing
        for key in ("code", "docstring", "signature", "context", "facts"):
            row[key] = redact(row[key])
    dups = _mark_duplicates(rows, near_duplicate_threshold, num_perm)
    kinds.update({k: sum(1 for r in rows if r["kind"] == k) for k in ("directory", "repository")})
    return RepositoryAnalysis(rows, edges, {
        "units_by_kind": dict(sorted(kinds.items())), "files_by_language": dict(sorted(languages.items())),
        "duplicates": dups, "secrets_by_kind": dict(sorted(secrets.items())), "edges": len(edges)})


def _context(u: Unit, f: FileAnalysis, resolved: list[Unit], budget_tokens: int) -> str:
    parts = []
    imports = [m for m in f.imports if m.rsplit(".", 1)[-1].rsplit("/", 1)[-1] in u.referenced]
    if imports:
        parts.append("# imports: " + ", ".join(imports))
    globals_used = [line for name, line in f.globals.items() if name in u.referenced]
    parts.extend(globals_used)
    if u.kind == "method":
        owner = [x for x in f.units if x.qualified_name == u.parent]
        if owner:
            parts.append(owner[0].signature or "")
    for callee in resolved:
        if callee is not u and callee.signature:
            doc = (callee.docstring or "").split("\n", 1)[0]
            parts.append(f"{callee.signature}  # {callee.path}" + (f": {doc}" if doc else ""))
    text, budget = [], budget_tokens * 4  # about four characters per token
    for p in dict.fromkeys(parts):
        if len(p) + 1 > budget:
            break
        text.append(p)
        budget -= len(p) + 1
    return "\n".join(text)


def _row(repository: str, u: Unit, uid: str, parent_id: str | None, facts: dict, context: str) -> dict[str, Any]:
    return {
        "unit_id": uid, "kind": u.kind, "repository": repository, "language": u.language, "path": u.path,
        "name": u.name, "qualified_name": u.qualified_name, "parent_id": parent_id, "start_line": u.start_line,
        "end_line": u.end_line, "signature": u.signature, "docstring": u.docstring, "code": u.code,
        "content_hash": content_hash(u.code), "context": context, "facts": json.dumps(facts, sort_keys=True),
        "duplicate_of": None, "is_test": bool(TEST_PATH.search(u.path)),
    }


def _directory_units(repository: str, files: list[FileAnalysis], rows: list[dict], readme: str | None) -> list[dict]:
    dirs: dict[str, list[dict]] = defaultdict(list)
    file_rows = [r for r in rows if r["kind"] == "file"]
    for r in file_rows:
        path = r["path"]
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            dirs[path].append(r)
    repo_id = unit_id(repository, "", repository, "")
    out = []
    for d in sorted(dirs):
        members = dirs[d]
        direct = [r for r in members if r["path"].rsplit("/", 1)[0] == d]
        subdirs = sorted({r["path"][len(d) + 1:].split("/", 1)[0] for r in members if r not in direct})
        parent = d.rsplit("/", 1)[0] if "/" in d else None
        roles = Counter(json.loads(r["facts"])["structure"]["file_role"]["role"] for r in members)
        facts = {"structure": {"directory_organisation": {
            "files": [r["path"].rsplit("/", 1)[-1] for r in direct], "subdirectories": subdirs,
            "languages": dict(Counter(r["language"] or "unknown" for r in members)), "file_roles": dict(roles)}}}
        out.append({**_row(repository, Unit("directory", d.rsplit("/", 1)[-1], d, d, None, None, None, ""), "", None,
                           facts, ""),
                    "unit_id": unit_id(repository, d, d, ""), "parent_id": unit_id(repository, parent, parent, "")
                    if parent else repo_id, "content_hash": content_hash(d)})
    for r in file_rows:
        parent = r["path"].rsplit("/", 1)[0] if "/" in r["path"] else None
        r["parent_id"] = unit_id(repository, parent, parent, "") if parent else repo_id
    entry_points = [r["path"] for r in file_rows if json.loads(r["facts"])["structure"]["file_role"]["entry_point"]]
    third_party = sorted({m.split(".")[0] for r in file_rows
                          for m in json.loads(r["facts"]).get("dependencies", {}).get("module", {}).get("third_party", [])})
    facts = {"structure": {
        "directory_organisation": {"top_level": sorted({r["path"].split("/", 1)[0] for r in file_rows}),
                                   "files": len(file_rows)},
        "core_task": {"entry_points": entry_points, "readme": (readme or "")[:1000],
                      "languages": dict(Counter(r["language"] or "unknown" for r in file_rows))}},
        "dependencies": {"module": {"third_party": third_party}}}
    out.append({**_row(repository, Unit("repository", repository, repository, "", None, None, None, ""), "", None,
                       facts, ""), "unit_id": repo_id, "content_hash": content_hash(repository)})
    return out


def _mark_duplicates(rows: list[dict], threshold: float, num_perm: int) -> dict[str, int]:
    """Exact (normalised hash) then near (MinHash LSH) duplicates among callables; the first seen stays."""
    exact = near = 0
    seen: dict[str, str] = {}
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    for r in rows:
        if r["kind"] not in ("function", "method", "class") or len(r["code"]) < 40:
            continue
        if r["content_hash"] in seen:
            r["duplicate_of"] = seen[r["content_hash"]]
            exact += 1
            continue
        seen[r["content_hash"]] = r["unit_id"]
        m = minhash(r["code"], num_perm)
        similar = lsh.query(m)
        if similar:
            r["duplicate_of"] = sorted(similar)[0]
            near += 1
            continue
        lsh.insert(r["unit_id"], m)
    return {"exact": exact, "near": near}
