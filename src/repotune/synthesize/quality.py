"""Quality labels of a generated pair: static checks (the code parses, the names it calls exist, it is not a
near duplicate, a condition's target is met)."""

from __future__ import annotations

import builtins
import re
from typing import Any

from datasketch import MinHashLSH

from repotune.parsing.extract import parses
from repotune.similarity import minhash

LOOP_OR_ALIAS = re.compile(r"\bfor\s*\(?\s*(?:const|let|var)?\s*([\w\s,()]+?)\s+(?:in|of)\b|\bas\s+(\w+)|"
                           r"\b(?:const|let|var)\s+(\w+)")
KNOWN_ROOTS = set(dir(builtins)) | {"self", "cls", "this", "super", "console", "Math", "JSON", "Object", "String",
                                    "Array", "Number", "Promise", "document", "window", "fmt", "std", "System"}


def unknown_names(code: str, language: str | None, known: set[str]) -> list[str]:
    """Roots of the calls in code that are neither defined in the repository, imported, built in nor local."""
    from repotune.parsing.extract import analyze_file

    analysis = analyze_file(code.encode(), "pair", language)
    local = set(re.findall(r"[A-Za-z_]\w*", " ".join(u.signature or "" for u in analysis.units)))
    local |= {name for u in analysis.units[1:] for name in u.facts["dependencies"]["variable"]["assignments"]}
    for groups in LOOP_OR_ALIAS.findall(code):  # for x, y in …; with … as f; except E as e; const x of …
        local |= set(re.findall(r"[A-Za-z_]\w*", " ".join(groups)))
    imported = {part for m in analysis.imports for part in re.split(r"[./:]+", m) if part}
    roots = {re.split(r"[.(:\[]", c, maxsplit=1)[0] for u in analysis.units[1:] for c in u.calls}
    return sorted(r for r in roots if r and r not in known | local | imported | KNOWN_ROOTS)


class NearDuplicates:
    def __init__(self, threshold: float, num_perm: int = 64):
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.num_perm = num_perm
        self.count = 0

    def seen(self, text: str) -> bool:
        """True when text is a near duplicate of an earlier one; otherwise remember it."""
        m = minhash(text, self.num_perm)
        if self.lsh.query(m):
            return True
        self.lsh.insert(str(self.count), m)
        self.count += 1
        return False


def label_quality(pair: dict[str, Any], language: str | None, known: set[str], dups: NearDuplicates) -> dict[str, Any]:
    checks: dict[str, Any] = {"non_empty": bool(pair["response"].strip())}
    if pair["task"] == "doc2code":
        checks["parses"] = parses(pair["response"], language)
        checks["unknown_names"] = unknown_names(pair["response"], language, known)
    if pair.get("target"):
        checks["target_met"] = pair["target"] in pair["response"]
    checks["near_duplicate"] = dups.seen(pair["instruction"] + "\n" + pair["response"])
    ok = (checks["non_empty"] and checks.get("parses") is not False and not checks.get("unknown_names")
          and checks.get("target_met", True) and not checks["near_duplicate"])
    return {"checks": checks, "ok": bool(ok)}
