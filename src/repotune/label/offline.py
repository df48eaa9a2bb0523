"""The offline interpreter: with no LLM endpoint, render the static facts as plain-language text.

Deterministic, free and grounded only in the facts; every record it makes says `source: offline`, so the
dataset card can tell these from LLM-written labels.
"""

from __future__ import annotations

import json
import re
from typing import Any

from repotune.label.prompts import level_of
from repotune.label.schema import Explanation, LabelAnswer, Labels


def _words(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.split(".")[-1].split("::")[-1]).replace("_", " ")
    return spaced.strip().lower() or name


def _list(items: list[str], limit: int = 6) -> str:
    items = [str(i) for i in items if i][:limit]
    return ", ".join(items) if items else "none"


def interpret(unit: dict[str, Any], children: list[str]) -> LabelAnswer:
    facts = json.loads(unit["facts"] or "{}")
    structure, deps = facts.get("structure", {}), facts.get("dependencies", {})
    arch, fmt = facts.get("architecture", {}), facts.get("format", {})
    kind, name = unit["kind"], unit["qualified_name"].split("::")[-1]
    doc_first = (unit.get("docstring") or "").strip().split("\n")[0]
    texts: dict[str, str] = {}
    if el := structure.get("elements"):
        params = [p["name"] for p in el.get("parameters", []) if p.get("name") not in ("self", "cls")]
        members = el.get("members") or el.get("functions", []) + el.get("classes", [])
        texts["elements"] = (f"{kind} {name}" + (f" taking {_list(params)}" if params else "")
                             + (f"; members: {_list(members)}" if members else "") + ".")
    if role := structure.get("file_role"):
        texts["file_role"] = f"A {role['role']} file" + (" with an entry point" if role.get("entry_point") else "") + "."
    if org := structure.get("directory_organisation"):
        if isinstance(org.get("files"), int):  # the repository: a file count and its top-level entries
            texts["directory_organisation"] = f"{org['files']} files; top level: {_list(org.get('top_level', []))}."
        else:
            texts["directory_organisation"] = (f"Holds files {_list(org.get('files', []))} and subdirectories "
                                               f"{_list(org.get('subdirectories', []))}.")
    if core := structure.get("core_task"):
        api = core.get("exported_api") or core.get("entry_points") or []
        texts["core_task"] = f"Exposes {_list(api)}." if api else "No exported API or entry point."
    if var := deps.get("variable"):
        assigned = list(var.get("assignments", {}))
        texts["variable"] = f"Assigns {_list(assigned)}; reads globals {_list(var.get('globals_used', []))}."
    if fn := deps.get("functional"):
        texts["functional"] = f"Calls, in order: {_list(fn.get('calls', []), 8)}."
    if mod := deps.get("module"):
        imports = mod.get("imports_used") or mod.get("imports") or mod.get("third_party") or []
        texts["module"] = f"Depends on modules {_list(imports)}."
    if patterns := arch.get("design_pattern"):
        texts["design_pattern"] = "Hints of " + _list([p["pattern"] for p in patterns]) + "."
    if ds := arch.get("data_structures"):
        texts["data_structures"] = "Uses " + _list([f"{k} ({v})" for k, v in ds.items()]) + "."
    if exc := arch.get("exceptions"):
        if exc.get("raised") or exc.get("caught"):
            texts["exceptions"] = f"Raises {_list(exc.get('raised', []))}; handles {_list(exc.get('caught', []))}."
    if io := arch.get("inputs_outputs"):
        effects = [k.replace("_", " ") for k in ("file_io", "network_io", "environment", "stdout") if io.get(k)]
        texts["inputs_outputs"] = (f"Returns {io.get('returns') or 'nothing'}"
                                   + (f"; side effects: {_list(effects)}" if effects else "") + ".")
    if style := fmt.get("style"):
        texts["style"] = f"Names: {_list(list(style.get('naming', {})))}; longest line {style.get('max_line_length')}."
    if ind := fmt.get("indentation"):
        texts["indentation"] = f"Indented with {ind.get('unit')}" + (f", width {ind['width']}" if ind.get("width") else "") + "."
    if com := fmt.get("comments"):
        texts["comments"] = f"Comment density {com.get('density')}; docstring style {com.get('docstring_style')}."
    words = _words(name)
    description = doc_first or f"The {words} {kind} of {unit.get('path') or unit['repository']}."
    tags = sorted({kind, unit.get("language") or "", *(p["pattern"] for p in arch.get("design_pattern", [])),
                   *(("io",) if any(arch.get("inputs_outputs", {}).get(k) for k in ("file_io", "network_io")) else ())}
                  - {""})
    domain = unit["repository"]
    return LabelAnswer(
        interpretations=texts,
        combined_interpretation=" ".join(texts.values()),
        explanation=Explanation(level=level_of(kind), abstract=description,
                                paraphrase=" ".join(list(texts.values())[:4]) + (
                                    f" Parts: {'; '.join(children[:5])}" if children else "")),
        labels=Labels(domain=domain, context=f"{kind} in {unit.get('path') or unit['repository']}", tags=tags[:8],
                      title=words.capitalize(), description=description[:200]),
    )
