"""Prompt rendering: packaged Jinja2 templates with a version (answers are cached under it)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jinja2

from repotune.contracts import ASPECTS
from repotune.label.schema import ASPECT_NAMES

PROMPT_VERSION = "unit-v1"
CHARS_PER_TOKEN = 4  # budgets are in tokens; text is cut by characters at this rough ratio


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("repotune.label", "prompts"), autoescape=False,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def level_of(kind: str) -> str:
    return "LLD" if kind in ("function", "method", "class") else "HLD"


def _cut(text: str | None, chars: int) -> str:
    text = text or ""
    return text if len(text) <= chars else text[:chars] + "\n… [truncated]"


def render_unit_prompt(unit: dict[str, Any], children: list[str], token_budget: int, *,
                       group: str | None = None, earlier: dict[str, str] | None = None) -> str:
    """The prompt for one unit; facts, context, children and code share the budget, code last.

    `group` asks only for one aspect group's interpretations (the per-aspect mode); `earlier` hands those to
    the final, collating request.
    """
    budget = token_budget * CHARS_PER_TOKEN
    facts_doc = json.loads(unit["facts"])
    if group is not None:
        facts_doc = {group: facts_doc.get(group, {})}
    facts = _cut(json.dumps(facts_doc, sort_keys=True, separators=(",", ":")), budget // 3)
    context = _cut(unit.get("context"), budget // 6)
    kids = [_cut(c, 300) for c in children][:40]
    used = len(facts) + len(context) + sum(len(c) for c in kids) + 1500
    code = _cut(unit.get("code"), max(budget - used, 400)) if unit["kind"] in ("function", "method", "class", "file") else ""
    return _env().get_template("unit.j2").render(unit=unit, level=level_of(unit["kind"]), facts=facts,
                                                 context=context, children=kids, code=code,
                                                 aspects=", ".join(ASPECT_NAMES),
                                                 focus=", ".join(ASPECTS[group]) if group else "",
                                                 earlier=json.dumps(earlier, indent=1) if earlier else "")
