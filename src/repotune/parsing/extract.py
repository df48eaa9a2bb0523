"""The pure core of analyze: one file's bytes → its units (file, classes, functions, methods) with facts.

No Ray, no store: `analyze_file(data, path, language)` is what the Ray Data stage wraps and what tests call.
Definitions and facts come from the packaged tree-sitter queries (queries/<language>.scm).
"""

from __future__ import annotations

import functools
import gc
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tree_sitter as ts
import tree_sitter_language_pack as tslp

from collections import Counter

from repotune.parsing.facts import DEFINED_NAME, LineStats, file_facts, io_facts, pattern_hints
from repotune.parsing.languages import FULL_LANGUAGES, query_source
from repotune.parsing.secrets import SecretScanTimeout, redact

MAX_NESTING = 200  # deeper than this is treated as generated/minified code, not walked further

# Node types that declare or assign a variable, and the field holding the target.
DEF_FIELDS = {
    "assignment": ("left", "right"), "augmented_assignment": ("left", "right"),
    "variable_declarator": ("name", "value"), "assignment_expression": ("left", "right"),
    "short_var_declaration": ("left", "right"), "let_declaration": ("pattern", "value"),
    "init_declarator": ("declarator", "value"), "local_variable_declaration": ("declarator", None),
}
COMMENT_TYPES = {"comment", "line_comment", "block_comment"}
DATA_STRUCTURES = {
    "dictionary": "dict", "dictionary_comprehension": "dict", "list": "list", "list_comprehension": "list",
    "set": "set", "set_comprehension": "set", "tuple": "tuple", "object": "object/map", "array": "array",
    "array_creation_expression": "array", "composite_literal": "composite literal", "struct_expression": "struct",
    "array_expression": "array", "initializer_list": "initializer list", "map_type": "map", "slice_type": "slice",
    "generic_type": "generic container",
}


@dataclass
class Unit:
    kind: str
    name: str
    qualified_name: str
    path: str
    language: str | None
    start_line: int | None
    end_line: int | None
    code: str
    signature: str | None = None
    docstring: str | None = None
    parent: str | None = None  # qualified name of the enclosing class/file-level unit, None for file units
    facts: dict[str, Any] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    referenced: set[str] = field(default_factory=set)  # the module-level names (globals, imports) it uses
    span: tuple[int, int] = (0, 0)  # the code's bytes in FileAnalysis.data


@dataclass
class FileAnalysis:
    path: str
    language: str | None
    units: list[Unit] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    globals: dict[str, str] = field(default_factory=dict)  # module-level name -> its defining line
    parse_errors: int = 0
    skip_reason: str | None = None
    secrets: dict[str, int] = field(default_factory=dict)  # redacted findings by kind
    data: bytes = b""  # the file as analysed (redacted, UTF-8): every unit's code is a span of it


@functools.lru_cache(maxsize=None)
def _parser(language: str) -> ts.Parser:
    return tslp.get_parser(language)


def parses(code: str, language: str | None) -> bool | None:
    """Whether tree-sitter parses the code without errors (None when the language has no grammar here)."""
    if language not in FULL_LANGUAGES:
        return None
    return not _parser(language).parse(code.encode()).root_node.has_error


@functools.lru_cache(maxsize=None)
def _query(language: str) -> ts.Query:
    return ts.Query(tslp.get_language(language), query_source(language))


def content_hash(code: str) -> str:
    """Hash of the code with whitespace normalised, so re-indented copies hash alike (split/join is the same as
    collapsing r"\s+" and stripping, both use str.isspace, at a fraction of a regex substitution's cost)."""
    return hashlib.sha256(" ".join(code.split()).encode()).hexdigest()


def _text(node: ts.Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def _body(node: ts.Node) -> ts.Node | None:
    body = node.child_by_field_name("body")
    if body is None and node.type == "variable_declarator":
        value = node.child_by_field_name("value")
        body = value.child_by_field_name("body") if value is not None else None
    return body


def _signature(node: ts.Node, source: bytes) -> str:
    body = _body(node)
    end = body.start_byte if body is not None else node.end_byte
    sig = source[node.start_byte:end].decode("utf-8", "replace").strip().rstrip("{:")
    return " ".join(sig.split())[:400]


def _python_docstring(node: ts.Node) -> str | None:
    """A def's or class's docstring, or a module's (`node` the tree's root): the body's first statement when it
    is a string literal (comments are not statements, so a licence header above a module docstring is passed)."""
    body = node if node.type == "module" else node.child_by_field_name("body")
    if body is None:
        return None
    first = next((c for c in body.named_children if c.type != "comment"), None)
    if first is None:
        return None
    if first.type == "expression_statement" and first.named_child_count:
        first = first.named_child(0)
    if first.type == "string":
        return _clean_doc(_unquote(_text(first)))
    return None


def _unquote(literal: str) -> str:
    """A Python string literal's text: its prefix letters and quotes removed (triple or single)."""
    start = len(literal) - len(literal.lstrip("rRbBuUfF"))
    for quote in ('"""', "'''", '"', "'"):
        if literal.startswith(quote, start):
            start += len(quote)
            break
    else:
        start = 0  # no quote after the letters: nothing is a prefix
    end = len(literal)
    for quote in ('"""', "'''", '"', "'"):
        if literal.endswith(quote):
            end -= len(quote)
            break
    return literal[start:max(end, start)]


def _leading_comment(node: ts.Node, parent: ts.Node | None) -> str | None:
    """parent: node.parent, already looked up (each lookup descends from the root)."""
    anchor = node
    while parent is not None and parent.type in ("export_statement", "decorated_definition", "lexical_declaration",
                                                  "variable_declaration"):
        anchor, parent = parent, parent.parent
    lines: list[str] = []
    prev = anchor.prev_sibling
    expected_row = anchor.start_point[0]
    while prev is not None and prev.type in COMMENT_TYPES and prev.end_point[0] >= expected_row - 1:
        lines.insert(0, _text(prev))
        expected_row = prev.start_point[0]
        prev = prev.prev_sibling
    if not lines:
        return None
    text = "\n".join(lines)
    text = re.sub(r"^\s*(/\*\*?|\*/|\*|//+|#)\s?", "", text, flags=re.M)
    return _clean_doc(text.replace("*/", ""))


def _clean_doc(text: str) -> str | None:
    lines = [ln.rstrip() for ln in text.strip("\n").splitlines()]
    indents = [len(ln) - len(ln.lstrip()) for ln in lines[1:] if ln.strip()]
    cut = min(indents) if indents else 0
    text = "\n".join([lines[0].strip()] + [ln[cut:] for ln in lines[1:]]).strip() if lines else ""
    return text or None


def _decorators(node: ts.Node, parent: ts.Node | None) -> list[str]:
    """parent: node.parent, already looked up."""
    if parent is not None and parent.type == "decorated_definition":
        return [_text(c) for c in parent.named_children if c.type == "decorator"]
    modifiers = [c for c in node.children if c.type in ("modifiers", "attribute_item")]
    prev = node.prev_sibling
    while prev is not None and prev.type == "attribute_item":  # rust #[...]
        modifiers.insert(0, prev)
        prev = prev.prev_sibling
    return [_text(m) for m in modifiers]


def _parameters(node: ts.Node) -> list[dict[str, str | None]]:
    params = node.child_by_field_name("parameters")
    if params is None and node.type == "variable_declarator":
        value = node.child_by_field_name("value")
        params = value.child_by_field_name("parameters") if value is not None else None
    if params is None:
        declarator = node.child_by_field_name("declarator")
        while declarator is not None and declarator.type != "function_declarator":
            declarator = declarator.child_by_field_name("declarator")
        params = declarator.child_by_field_name("parameters") if declarator is not None else None
    out = []
    for p in params.named_children if params is not None else []:
        if p.type in COMMENT_TYPES:
            continue
        if p.type == "identifier":  # a bare name (most parameters): no fields to look up
            out.append({"name": _text(p), "type": None, "default": None})
            continue
        name = p.child_by_field_name("name") or p.child_by_field_name("pattern") or p.child_by_field_name("declarator")
        if name is None:
            idents = [c for c in p.named_children if c.type == "identifier"]
            name = p if p.type == "identifier" else idents[0] if idents else None
        typ = p.child_by_field_name("type")
        default = p.child_by_field_name("value")
        out.append({"name": _text(name) or _text(p), "type": _text(typ) or None, "default": _text(default) or None})
    return out


def _returns(node: ts.Node) -> str | None:
    ret = node.child_by_field_name("return_type") or node.child_by_field_name("result")
    if ret is None and node.type in ("method_declaration", "function_definition") and node.child_by_field_name("type"):
        ret = node.child_by_field_name("type")
    return _text(ret).lstrip("->: ").strip() or None


def _callee(node: ts.Node) -> str:
    """A callee as written, with argument lists of chained calls elided: requests.get().json."""
    text, previous = _text(node), None
    if "(" not in text and "\n" not in text:
        return text[:200]
    while previous != text:
        previous, text = text, re.sub(r"\([^()]*\)", "\x00", text)
    text = text.replace("\x00", "()")
    return re.sub(r"\s+", " ", text)[:200]


def _walk(node: ts.Node):
    """Iterative pre-order walk with depth (deep nesting must not overflow the Python stack)."""
    stack = [(node, 0)]
    while stack:
        current, depth = stack.pop()
        yield current, depth
        if depth < MAX_NESTING:
            stack.extend((c, depth + 1) for c in reversed(current.children))


def _unit_kind(def_kind: str, node: ts.Node, enclosing: list[tuple[ts.Node, Unit]], name: str) -> str:
    if def_kind == "class":
        return "class"
    if node.type == "method_declaration" and node.child_by_field_name("receiver") is not None:
        return "method"
    if enclosing and enclosing[-1][1].kind == "class":
        return "method"
    if "::" in name or (node.type == "function_item" and _impl_type(node)):
        return "method"
    return "function"


def _impl_type(node: ts.Node) -> str | None:
    if node.type != "function_item":  # only Rust functions live in impl blocks
        return None
    parent = node.parent
    while parent is not None:
        if parent.type == "impl_item":
            return _text(parent.child_by_field_name("type"))
        if parent.type in ("function_item", "source_file"):
            return None
        parent = parent.parent
    return None


def _go_receiver(node: ts.Node) -> str | None:
    if node.type != "method_declaration":
        return None
    receiver = node.child_by_field_name("receiver")
    if receiver is None:
        return None
    types = [n for n, _ in _walk(receiver) if n.type == "type_identifier"]
    return _text(types[0]) if types else None


# Bytes that can be part of an identifier kept, every other byte made a space: the identifiers of a span are
# then its words (bytes.split, C speed; a regex findall over every byte cost twice as much). Words that start
# with a digit are no identifiers, and no module-level name.
IDENTIFIER_ONLY = bytes(c if chr(c).isascii() and (chr(c).isalnum() or c == 95) else 32 for c in range(256))


def _sorted(items) -> list:
    return sorted(items) if items else []


def _referenced_names(data: bytes, units: list[Unit], spans: list[tuple[int, int]], nested_in: list[int],
                      keep: set[str]) -> None:
    """Set each unit's referenced names among `keep`, innermost first: a unit scans only the code outside its
    nested units and adds theirs, so every byte is scanned once however deep the nesting (a class no longer
    rescans its methods). Cuts fall on token boundaries, so no identifier is split. Identifiers are ASCII, so
    bytes and text agree."""
    words = data.translate(IDENTIFIER_ONLY)
    wanted = {name.encode() for name in keep}
    found: list[set[bytes]] = [set()] * len(units)
    inner: dict[int, list[int]] = {}
    for i, outer in enumerate(nested_in):
        if outer >= 0:
            inner.setdefault(outer, []).append(i)
    for i in range(len(units) - 1, -1, -1):
        start, end = spans[i]
        nested = [spans[k] for k in inner.get(i, ())]
        if not nested or any(s < start or e > end for s, e in nested):
            found[i] = wanted.intersection(words[start:end].split())
            continue
        names: set[bytes] = set()
        cursor = start
        for s, e in sorted(nested):
            if s > cursor:
                names.update(words[cursor:s].split())
            cursor = max(cursor, e)
        names.update(words[cursor:end].split())
        names &= wanted
        for k in inner[i]:
            names |= found[k]
        found[i] = names
    for unit, names in zip(units, found, strict=True):
        unit.referenced = {name.decode() for name in names}


FREE_NAME = re.compile(r"(?<![.\w])([A-Za-z_]\w*)(?!\s*[\w])")
STRING = re.compile(r"(['\"]).*?\1")
NOT_NAMES = frozenset({"True", "False", "None", "null", "true", "false", "nil", "self", "this", "new", "await"})


@functools.lru_cache(maxsize=65536)
def _member_free_names(text: str) -> tuple[str, ...]:
    """Names read by an expression, without member names: `os.environ.get(x)` reads os and x."""
    if text.isascii() and text.isidentifier():  # the common `x = y`: no regex needed
        return () if text in NOT_NAMES else (text,)
    return tuple(sorted(set(FREE_NAME.findall(STRING.sub("", text))) - NOT_NAMES))


@dataclass
class _Scope:
    """What the query captures found inside one definition."""

    calls: list[str] = field(default_factory=list)
    raised: set[str] = field(default_factory=set)
    caught: set[str] = field(default_factory=set)
    assignments: dict[str, set[str]] = field(default_factory=dict)
    data_structures: dict[str, int] = field(default_factory=dict)
    members: list[str] = field(default_factory=list)


def _in(node: ts.Node, outer: ts.Node) -> bool:
    return outer.start_byte <= node.start_byte and node.end_byte <= outer.end_byte


def gc_paused(function: Callable) -> Callable:
    """Run `function` with the cyclic garbage collector paused. The per-file work makes ~100k short-lived objects
    and no reference cycles (measured: nothing for gc.collect() after each of 388 files), so the collections
    their allocation triggers free nothing; they cost 5% of the analysis. Reference counting still frees it all."""

    @functools.wraps(function)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return paused


@gc_paused
def analyze_file(data: bytes, path: str, language: str | None) -> FileAnalysis:
    """Units and facts of one file. Never raises on bad input: problems become skip_reason or parse_errors."""
    result = FileAnalysis(path=path, language=language)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        result.skip_reason = "undecodable"
        return result
    # Redact before parsing: every text derived from the file (code, docstrings, facts) is then clean.
    found: Counter = Counter()
    try:
        text = redact(text, found) or ""
    except SecretScanTimeout:  # a text the scan could not finish may hold a secret: the file is left out
        result.skip_reason = "secret_scan_timeout"
        return result
    result.secrets = dict(found)
    data = result.data = text.encode("utf-8")
    line_stats = LineStats(text, language, data)
    file_unit = Unit("file", path.rsplit("/", 1)[-1], path, path, language, 1, len(line_stats.lengths), text,
                     span=(0, len(data)))
    result.units.append(file_unit)
    if language not in FULL_LANGUAGES:
        file_unit.facts = file_facts(path, text, language, [], [])
        file_unit.facts["format"] = line_stats.format_facts(1, len(line_stats.lengths), None, DEFINED_NAME.findall(text))
        return result

    tree = _parser(language).parse(data)
    root = tree.root_node
    if language == "python":
        file_unit.docstring = _python_docstring(root)
    definitions: list[tuple[str, ts.Node, ts.Node]] = []
    events: list[tuple[int, str, ts.Node, ts.Node | None]] = []  # (start byte, capture, node, paired value)
    imports: list[ts.Node] = []
    for _pattern, caps in ts.QueryCursor(_query(language)).matches(root):
        if "name" in caps:
            kind = "function" if "def.function" in caps else "class"
            definitions.append((kind, caps[f"def.{kind}"][0], caps["name"][0]))
        elif "assign.target" in caps:
            target = caps["assign.target"][0]
            events.append((target.start_byte, "assign", target, caps["assign.value"][0]))
        else:
            for capture, nodes in caps.items():
                for n in nodes:
                    if capture == "import":
                        imports.append(n)
                    elif capture == "error":
                        result.parse_errors += 1
                    else:
                        events.append((n.start_byte, capture, n, None))
    if root.has_error and not result.parse_errors:  # MISSING nodes are not matched by (ERROR); walk only then
        result.parse_errors = sum(1 for n, _ in _walk(root) if n.is_error or n.is_missing)
    imports.sort(key=lambda n: n.start_byte)
    events.sort(key=lambda e: e[0])
    result.imports = [_text(n).strip("'\"<>") for n in imports]

    # Module-level names (globals) for assembled context.
    for child in root.named_children:
        target = child.named_child(0) if child.type in ("expression_statement", "lexical_declaration",
                                                           "declaration", "const_declaration", "var_declaration",
                                                           "static_item", "const_item") and child.named_child_count else child
        fields = DEF_FIELDS.get(target.type)
        if fields and (t := target.child_by_field_name(fields[0])) is not None and t.type == "identifier":
            result.globals[_text(t)] = _text(child).splitlines()[0][:200]

    # One ordered pass: each capture is credited to every definition enclosing it (nesting is shallow).
    definitions.sort(key=lambda d: (d[1].start_byte, -d[1].end_byte))
    scopes = [_Scope() for _ in definitions]
    def_starts = [d[1].start_byte for d in definitions] + [len(data) + 1]  # a sentinel ends the scan
    def_ends = [d[1].end_byte for d in definitions]
    open_defs: list[int] = []
    next_def = 0
    for start_byte, capture, node, value in events:
        while def_starts[next_def] <= start_byte:
            while open_defs and def_ends[open_defs[-1]] <= def_starts[next_def]:
                open_defs.pop()
            open_defs.append(next_def)
            next_def += 1
        while open_defs and def_ends[open_defs[-1]] <= start_byte:
            open_defs.pop()
        if not open_defs:
            continue
        # the capture's payload is computed once, then credited to each enclosing definition
        if capture == "call":
            callee = _callee(node)
            for i in open_defs:
                scopes[i].calls.append(callee)
        elif capture == "raise" or capture == "catch":
            exception = _text(node).rsplit(".", 1)[-1]
            for i in open_defs:
                (scopes[i].raised if capture == "raise" else scopes[i].caught).add(exception)
        elif capture == "ds":
            label = DATA_STRUCTURES.get(node.type, node.type)
            for i in open_defs:
                counts = scopes[i].data_structures
                counts[label] = counts.get(label, 0) + 1
        elif capture == "assign":
            target, reads = _text(node), _member_free_names(_text(value))
            for i in open_defs:
                scopes[i].assignments.setdefault(target, set()).update(reads)

    enclosing: list[tuple[ts.Node, Unit, _Scope]] = []
    spans: list[tuple[int, int]] = []  # each definition's code, in bytes
    nested_in: list[int] = []  # index of the innermost enclosing definition, -1 at top level
    positions: dict[int, int] = {}
    for (def_kind, node, name_node), scope in zip(definitions, scopes, strict=True):
        while enclosing and not _in(node, enclosing[-1][0]):
            enclosing.pop()
        nested_in.append(positions[id(enclosing[-1][2])] if enclosing else -1)
        positions[id(scope)] = len(spans)
        name = _text(name_node)
        if enclosing:
            enclosing[-1][2].members.append(name)
        kind = _unit_kind(def_kind, node, [(n, u) for n, u, _ in enclosing], name)
        owner = _go_receiver(node) or _impl_type(node)
        if enclosing:
            qualified = f"{enclosing[-1][1].qualified_name.split('::', 1)[-1]}.{name}"
        elif owner:
            qualified = f"{owner}.{name}"
        else:
            qualified = name
        parent = enclosing[-1][1].qualified_name if enclosing else path
        if owner and not enclosing:
            parent_units = [u for u in result.units if u.kind == "class" and u.name == owner]
            parent = parent_units[0].qualified_name if parent_units else path
        node_parent = node.parent  # tree-sitter finds a parent by descending from the root: once per node
        decorated = node_parent is not None and node_parent.type == "decorated_definition"
        source_node = node_parent if decorated else node
        code_start = source_node.start_byte
        if kind in ("function", "method"):
            # A callable's own code starts at its line (keep the indentation of the first line for style facts).
            code_start = data.rfind(b"\n", 0, code_start) + 1
        spans.append((code_start, node.end_byte))
        code = data[code_start:node.end_byte].decode("utf-8", "replace")
        docstring = _python_docstring(node) if language == "python" else _leading_comment(node, node_parent)
        unit = Unit(kind, name, f"{path}::{qualified}", path, language, source_node.start_point[0] + 1,
                    node.end_point[0] + 1, code, _signature(node, data), docstring, parent,
                    span=(code_start, node.end_byte))
        unit.calls = scope.calls
        unit.facts = {"_scope": scope, "_node": node, "_parent": node_parent}  # completed below, once members are known
        result.units.append(unit)
        enclosing.append((node, unit, scope))

    # Only module-level names matter to what a unit references (assembled context, globals and imports used).
    imported = [(i, i.rsplit(".", 1)[-1].rsplit("/", 1)[-1]) for i in result.imports]
    global_names = set(result.globals)
    _referenced_names(data, result.units[1:], spans, nested_in, global_names.union(n for _, n in imported))
    for unit in result.units[1:]:
        scope, node, node_parent = unit.facts["_scope"], unit.facts["_node"], unit.facts["_parent"]
        params = _parameters(node) if unit.kind != "class" else []
        raised, caught = _sorted(scope.raised), _sorted(scope.caught)
        referenced = unit.referenced
        unit.facts = {
            "structure": {
                "elements": {"kind": unit.kind, "name": unit.name, "signature": unit.signature,
                             "decorators": _decorators(node, node_parent), "parameters": params,
                             "members": scope.members,
                             "lines": unit.end_line - unit.start_line + 1,
                             "nesting": unit.qualified_name.split("::", 1)[-1].count(".")},
            },
            "dependencies": {
                "variable": {"assignments": {k: sorted(v) for k, v in sorted(scope.assignments.items())},
                             "globals_used": _sorted(referenced & global_names)},
                "functional": {"calls": unit.calls},
                "module": {"imports_used": sorted(i for i, name in imported if name in referenced)
                           if referenced else []},
            },
            "architecture": {
                "design_pattern": pattern_hints(unit.kind, unit.name, scope.members, unit.calls, unit.code),
                "data_structures": dict(sorted(scope.data_structures.items())),
                "exceptions": {"raised": raised, "caught": caught,
                               "propagated": _sorted(set(raised) - set(caught)) if raised else []},
                "inputs_outputs": io_facts(params, _returns(node), unit.calls, unit.code, language),
            },
            "format": line_stats.format_facts(unit.start_line, unit.end_line, unit.docstring,
                                              [unit.name, *scope.members, *scope.assignments]),
        }

    callables = [u for u in result.units if u.kind in ("function", "method", "class")]
    file_unit.facts = file_facts(path, text, language, result.imports, callables)
    file_unit.facts["format"] = line_stats.format_facts(1, len(line_stats.lengths), file_unit.docstring,
                                                        [u.name for u in callables] + list(result.globals))
    file_unit.facts["structure"]["elements"]["parse_errors"] = result.parse_errors
    return result
