"""Template queries: packaged YAML files, validated on load (unknown placeholders and bad YAML are errors)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml

from repotune.core.errors import ConfigError

PLACEHOLDERS = {"unit", "label", "datum", "token", "token_kind"}
# unit.code_without_docstring: the code as a code→docstring prompt may show it (the answer is not in the prompt)
_DOCSTRING = re.compile(r"^[ \t]*[rRuU]{0,2}(\"\"\"|\'\'\'|\"|\')(.*?)\1[ \t]*\n?", re.S | re.M)


def code_without_docstring(code: str, docstring: str | None) -> str:
    """The code with its docstring literal removed (Python keeps docstrings inside the body, a module's on its
    first lines; other languages' leading comments sit before the unit's code and are not in it)."""
    if not docstring or not code:
        return code
    first = docstring.strip().splitlines()[0].strip()
    for match in _DOCSTRING.finditer(code):
        if first and first in match.group(2):
            rest = code[match.end():]
            if match.start() == 0:  # a module's docstring: its code starts at the next non-blank line
                rest = rest.lstrip("\n")
            return code[:match.start()] + rest
        break  # only the first statement of the body can be the docstring
    return code


def shorten_code(code: str, limit: int) -> str:
    """The code as a prompt shows it: cut at the last line break before `limit` characters, marked with a
    comment line (CodeXGLUE cuts its code-to-text sources at 256 tokens; the head — signature, first
    statements — says most of what a summary needs)."""
    if len(code) <= limit:
        return code
    cut = code.rfind("\n", 0, limit)
    return code[: cut if cut > 0 else limit] + "\n    ...  # (cut)"


TASKS = {"code2doc", "doc2code", "code2tags", "repo_qa"}
_env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass
class TemplateQuery:
    id: str
    task: str
    weight: float
    applies_to: list[str]
    dynamic: str
    response: str
    static: list[dict[str, str]] = field(default_factory=list)
    condition: str | None = None
    condition_tokens: str | None = None
    sample_tokens: list[str] = field(default_factory=list)
    generate: bool = False
    """With synthesize.generation=llm the model writes the response (the rendered response is not used)."""
    always: bool = False
    """Applied to every unit it fits, besides the templates sampled by weight (the headline task's pairs)."""
    needs_model_labels: bool = False
    """The response comes from labels only a model can write; skipped for the offline interpreter's labels."""
    shortened_code: bool = False
    """The prompt shows only code cut at synthesize.prompt_code_chars, so units longer than max_code_chars keep
    this template (the others skip them)."""

    def render(self, text: str, **values: Any) -> str:
        return _env.from_string(text).render(**values).strip()


def _check(doc: dict[str, Any], where: str) -> TemplateQuery:
    missing = {"id", "task", "dynamic", "response", "applies_to"} - set(doc)
    if missing:
        raise ConfigError(f"template {where}: missing {', '.join(sorted(missing))}")
    if doc["task"] not in TASKS:
        raise ConfigError(f"template {where}: task {doc['task']!r} is not one of {', '.join(sorted(TASKS))}")
    for part in ("dynamic", "response", "condition"):
        if doc.get(part) is None:
            continue
        try:
            names = jinja2.meta.find_undeclared_variables(_env.parse(doc[part]))
        except jinja2.TemplateSyntaxError as e:
            raise ConfigError(f"template {where}: {part} is not valid Jinja: {e.message}") from None
        unknown = names - PLACEHOLDERS
        if unknown:
            raise ConfigError(f"template {where}: unknown placeholder(s) {', '.join(sorted(unknown))} in {part}; "
                              f"allowed: {', '.join(sorted(PLACEHOLDERS))}")
    if doc.get("condition") and not doc.get("condition_tokens"):
        raise ConfigError(f"template {where}: a condition needs condition_tokens (the token kind of its datum)")
    unknown_keys = set(doc) - set(TemplateQuery.__dataclass_fields__)
    if unknown_keys:
        raise ConfigError(f"template {where}: unknown key(s) {', '.join(sorted(unknown_keys))}; "
                          f"allowed: {', '.join(TemplateQuery.__dataclass_fields__)}")
    return TemplateQuery(**doc)


def template_sources(extra_dir: str | None = None) -> list[tuple[str, str]]:
    """(where, YAML text) of the packaged templates, then those in extra_dir."""
    sources: list[tuple[str, str]] = [
        (p.name, p.read_text()) for p in sorted(resources.files("repotune.synthesize").joinpath("templates").iterdir(),
                                                key=lambda p: p.name) if p.name.endswith(".yaml")]
    if extra_dir:
        folder = Path(extra_dir)
        if not folder.is_dir():
            raise ConfigError(f"synthesize.templates_dir {extra_dir!r} is not a folder")
        sources += [(str(p), p.read_text()) for p in sorted(folder.glob("*.yaml"))]
    return sources


def templates_fingerprint(extra_dir: str | None = None) -> str:
    """A hash of every template's text: a run whose templates changed (an upgrade, an edited templates_dir)
    makes its pairs again instead of reusing the old ones."""
    digest = hashlib.sha256()
    for where, text in template_sources(extra_dir):
        digest.update(f"{Path(where).name}\0{text}\0".encode())
    return digest.hexdigest()[:16]


def load_templates(extra_dir: str | None = None) -> list[TemplateQuery]:
    """The packaged templates, replaced or extended by those in extra_dir (same id replaces)."""
    templates: dict[str, TemplateQuery] = {}
    for where, text in template_sources(extra_dir):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"template {where}: invalid YAML: {e}") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"template {where}: expected a mapping")
        template = _check(doc, where)
        templates[template.id] = template
    return list(templates.values())
