"""From every file's rows to the repository's units and graph: call resolution, assembled context, directory
and repository units, duplicates. The per-file work (ids, facts JSON, signatures) is done in `rows`."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from repotune.parsing.extract import content_hash
from repotune.parsing.facts import TEST_PATH
from repotune.analyze.rows import (CALLABLE_KINDS, INTERNAL_CALLS, INTERNAL_CALLS_JSON, UNIT_SCHEMA, directory_id,
                                   dumps_facts, unit_id)
from repotune.parsing.secrets import redact

# Columns link() reads into Python; the large ones (code, docstrings, signatures) stay in Arrow.
LINK_COLUMNS = ["unit_id", "kind", "language", "path", "name", "qualified_name", "content_hash", "facts", "_skip",
                "_parse_errors", "_secrets", "_imports", "_calls", "_context_parts", "_defuse", "_callee_line",
                "_signature", "_fix_facts"]


@dataclass
class RepositoryAnalysis:
    table: pa.Table  # units.parquet (UNIT_SCHEMA)
    edges: list[dict[str, Any]]
    stats: dict[str, Any] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)  # files the analysis could not read, by reason
    files_with_parse_errors: int = 0
    skipped_paths: dict[str, list[str]] = field(default_factory=dict)  # the paths of those files, by reason

    @cached_property
    def units(self) -> list[dict[str, Any]]:
        return self.table.to_pylist()


def link(repository: str, table: pa.Table, *, context_tokens: int = 512, near_duplicate_threshold: float = 0.9,
         num_perm: int = 64, readme: str | None = None) -> RepositoryAnalysis:
    """Finish the rows of every file (ROW_SCHEMA, any order): resolve calls, write contexts and internal calls,
    mark duplicates, add directory and repository units."""
    table = table.take(pc.sort_indices(table, sort_keys=[("_file", "ascending"), ("_order", "ascending")]))
    skipped_rows = pc.is_valid(table["_skip"])
    skipped_table = table.filter(skipped_rows)
    skipped_paths: dict[str, list[str]] = {}
    for reason, path in zip(skipped_table["_skip"].to_pylist(), skipped_table["path"].to_pylist(), strict=True):
        skipped_paths.setdefault(reason, []).append(path)
    skipped = Counter({reason: len(paths) for reason, paths in skipped_paths.items()})
    table = table.filter(pc.invert(skipped_rows))
    rows = table.select(LINK_COLUMNS).to_pylist()

    first_of_name: dict[str, int] = {}
    first_in_file: dict[tuple[str, str], int] = {}
    for i, r in enumerate(rows):
        if r["kind"] in CALLABLE_KINDS:
            first_of_name.setdefault(r["name"], i)
            first_in_file.setdefault((r["name"], r["path"]), i)

    edges: list[dict[str, Any]] = []
    facts, contexts = [], []
    budget_chars = context_tokens * 4  # about four characters per token
    for i, r in enumerate(rows):
        uid = r["unit_id"]
        for imported in r["_imports"] or ():
            edges.append({"src": uid, "dst": imported["dst"], "kind": "import", "internal": imported["internal"],
                          "order": 0})
        if r["kind"] not in ("function", "method"):
            facts.append(r["facts"])
            contexts.append("")
            continue
        resolved = []
        for order, callee in enumerate(r["_calls"]):
            name = callee.rsplit(".", 1)[-1].rsplit("::", 1)[-1]
            target = first_in_file.get((name, r["path"]), first_of_name.get(name))
            edges.append({"src": uid, "dst": rows[target]["unit_id"] if target is not None else callee, "kind": "call",
                          "internal": target is not None, "order": order})
            if target is not None:
                resolved.append(target)
        edges.extend({"src": uid, "dst": d, "kind": "defuse", "internal": True, "order": 0} for d in r["_defuse"])
        internal_calls = sorted({rows[t]["qualified_name"] for t in resolved})
        facts.append(_with_internal_calls(r["facts"], internal_calls, r["_fix_facts"]))
        parts = r["_context_parts"] + [rows[t]["_callee_line"] for t in resolved if t != i and rows[t]["_callee_line"]]
        contexts.append(redact(_within_budget(parts, budget_chars)))

    duplicate_of, duplicates = _duplicates(rows, near_duplicate_threshold, num_perm)
    units = table.select(UNIT_SCHEMA.names)
    for name, values in (("facts", facts), ("context", contexts), ("duplicate_of", duplicate_of)):
        units = units.set_column(UNIT_SCHEMA.get_field_index(name), name, pa.array(values, pa.string()))
    file_rows_ = [r for r in rows if r["kind"] == "file"]
    extra = _directory_units(repository, file_rows_, readme)
    units = pa.concat_tables([units, pa.Table.from_pylist(extra, schema=UNIT_SCHEMA)])

    kinds = Counter(r["kind"] for r in rows)
    kinds.update({k: sum(1 for r in extra if r["kind"] == k) for k in ("directory", "repository")})
    secrets: Counter = Counter()
    for r in file_rows_:
        secrets.update(json.loads(r["_secrets"]))
    stats = {"units_by_kind": dict(sorted(kinds.items())),
             "files_by_language": dict(sorted(Counter(r["language"] or "unknown" for r in file_rows_).items())),
             "duplicates": duplicates, "secrets_by_kind": dict(sorted(secrets.items())), "edges": len(edges)}
    return RepositoryAnalysis(units, edges, stats, skipped, sum(1 for r in file_rows_ if r["_parse_errors"]),
                              skipped_paths)


def _with_internal_calls(facts_json: str, internal_calls: list[str], parse: bool) -> str:
    if not parse:  # the placeholder occurs once: a string replacement, no JSON round trip
        return facts_json.replace(INTERNAL_CALLS_JSON, dumps_facts(internal_calls))
    facts = json.loads(facts_json)
    functional = facts["dependencies"]["functional"]
    if functional.get("internal_calls") == INTERNAL_CALLS:
        functional["internal_calls"] = internal_calls
    return dumps_facts(facts)


def _within_budget(parts: list[str], budget: int) -> str:
    text = []
    for p in dict.fromkeys(parts):
        if len(p) + 1 > budget:
            break
        text.append(p)
        budget -= len(p) + 1
    return "\n".join(text)


def _duplicates(rows: list[dict], threshold: float, num_perm: int) -> tuple[list[str | None], dict[str, int]]:
    """Exact (normalised hash) then near (MinHash LSH) duplicates among callables, in row order: the first seen
    stays. Only callables with a signature (long enough) take part.

    Near duplicates are MinHashLSH's candidates (a unit that shares a band with a kept unit; the smallest such
    id is its representative), with datasketch's bands for the threshold, but the band keys are cut for all
    signatures at once with numpy and kept in one dict per band: a MinHash object, an insert and a query per
    unit cost a third of the whole link on large repositories."""
    from datasketch import MinHashLSH  # here, not at the top: the analysis workers import this module too

    duplicate_of: list[str | None] = [None] * len(rows)
    exact = near = 0
    seen: dict[str, str] = {}
    signed = [i for i, r in enumerate(rows) if r["_signature"] is not None]
    if not signed:
        return duplicate_of, {"exact": 0, "near": 0}
    bands = MinHashLSH(threshold=threshold, num_perm=num_perm).hashranges
    values = np.frombuffer(b"".join(rows[i]["_signature"] for i in signed), dtype=np.uint32).reshape(len(signed), -1)
    # each band of each signature as one bytes key (a void view: one tolist() per band)
    keys = [np.ascontiguousarray(values[:, a:b]).view(f"V{4 * (b - a)}").ravel().tolist() for a, b in bands]
    kept: list[dict[bytes, list[str]]] = [{} for _ in bands]
    for n, i in enumerate(signed):
        r = rows[i]
        if r["content_hash"] in seen:
            duplicate_of[i] = seen[r["content_hash"]]
            exact += 1
            continue
        seen[r["content_hash"]] = r["unit_id"]
        similar = [uid for band, band_keys in zip(kept, keys, strict=True) for uid in band.get(band_keys[n], ())]
        if similar:
            duplicate_of[i] = min(similar)
            near += 1
            continue
        for band, band_keys in zip(kept, keys, strict=True):
            band.setdefault(band_keys[n], []).append(r["unit_id"])
    return duplicate_of, {"exact": exact, "near": near}


def _unit_row(repository: str, kind: str, name: str, path: str, qualified_name: str, parent_id: str | None,
              facts: dict, chash: str) -> dict[str, Any]:
    return {"unit_id": unit_id(repository, path, qualified_name, ""), "kind": kind, "repository": repository,
            "language": None, "path": path, "name": name, "qualified_name": qualified_name, "parent_id": parent_id,
            "start_line": None, "end_line": None, "signature": None, "docstring": None, "code": "",
            "content_hash": chash, "context": "", "facts": redact(dumps_facts(facts)),
            "duplicate_of": None, "is_test": bool(TEST_PATH.search(path))}


def _directory_units(repository: str, file_rows_: list[dict], readme: str | None) -> list[dict]:
    file_facts = [json.loads(r["facts"]) for r in file_rows_]
    dirs: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(file_rows_):
        path = r["path"]
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            dirs[path].append(i)
    out = []
    for d in sorted(dirs):
        members = dirs[d]
        direct = [i for i in members if file_rows_[i]["path"].rsplit("/", 1)[0] == d]
        subdirs = sorted({file_rows_[i]["path"][len(d) + 1:].split("/", 1)[0] for i in members
                          if file_rows_[i]["path"].rsplit("/", 1)[0] != d})
        parent = d.rsplit("/", 1)[0] if "/" in d else None
        roles = Counter(file_facts[i]["structure"]["file_role"]["role"] for i in members)
        facts = {"structure": {"directory_organisation": {
            "files": [file_rows_[i]["path"].rsplit("/", 1)[-1] for i in direct], "subdirectories": subdirs,
            "languages": dict(Counter(file_rows_[i]["language"] or "unknown" for i in members)),
            "file_roles": dict(roles)}}}
        out.append(_unit_row(repository, "directory", d.rsplit("/", 1)[-1], d, d, directory_id(repository, parent),
                             facts, content_hash(d)))
    entry_points = [r["path"] for r, f in zip(file_rows_, file_facts, strict=True)
                    if f["structure"]["file_role"]["entry_point"]]
    third_party = sorted({m.split(".")[0] for f in file_facts
                          for m in f.get("dependencies", {}).get("module", {}).get("third_party", [])})
    facts = {"structure": {
        "directory_organisation": {"top_level": sorted({r["path"].split("/", 1)[0] for r in file_rows_}),
                                   "files": len(file_rows_)},
        "core_task": {"entry_points": entry_points, "readme": (readme or "")[:1000],
                      "languages": dict(Counter(r["language"] or "unknown" for r in file_rows_))}},
        "dependencies": {"module": {"third_party": third_party}}}
    out.append(_unit_row(repository, "repository", repository, "", repository, None, facts, content_hash(repository)))
    return out
