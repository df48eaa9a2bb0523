"""Golden tests: a small fixture repository per language, the exact units and key facts."""

import json
from pathlib import Path

import pytest

from repotune.parsing.extract import analyze_file
from repotune.parsing.languages import detect_language

FIXTURES = Path(__file__).parent / "fixtures" / "polyglot"


def analyze(name: str):
    path = FIXTURES / name
    result = analyze_file(path.read_bytes(), name, detect_language(name))
    assert result.parse_errors == 0 and result.skip_reason is None
    return result, {u.qualified_name.split("::", 1)[-1]: u for u in result.units[1:]}


UNITS = {
    "app.py": {"Store": "class", "Store.__init__": "method", "Store.load": "method", "Store.fetch": "method",
               "main": "function"},
    "util.js": {"add": "function", "twice": "function", "Counter": "class", "Counter.increment": "method"},
    "shapes.ts": {"Shape": "class", "Circle": "class", "Circle.constructor": "method", "Circle.area": "method",
                  "totalArea": "function"},
    "widget.tsx": {"Widget": "function"},
    "Main.java": {"Main": "class", "Main.main": "method", "Main.sum": "method"},
    "server.go": {"Server": "class", "Server.Start": "method", "main": "function"},
    "list.c": {"node": "class", "push": "function"},
    "vec.cpp": {"Vec": "class", "Vec.norm": "method", "compute": "function"},
    "lib.rs": {"Cache": "class", "Cache.get": "method", "build": "function"},
}


@pytest.mark.parametrize("name", sorted(UNITS))
def test_exact_units(name):
    _, units = analyze(name)
    assert {q: u.kind for q, u in units.items()} == UNITS[name]


def test_python_facts():
    result, u = analyze("app.py")
    assert result.imports == ["json", "os", "requests", "polyglot.util"]
    assert result.globals == {"LIMIT": "LIMIT = 10"}
    load = u["Store.load"].facts["architecture"]
    assert load["exceptions"] == {"raised": ["ValueError"], "caught": ["FileNotFoundError"], "propagated": ["ValueError"]}
    assert load["inputs_outputs"]["file_io"] == ["open"]
    fetch = u["Store.fetch"]
    assert fetch.calls == ["requests.get().json", "requests.get"]
    assert fetch.facts["structure"]["elements"]["decorators"] == ["@staticmethod"]
    assert fetch.facts["structure"]["elements"]["parameters"] == [
        {"name": "url", "type": "str", "default": None}, {"name": "timeout", "type": "int", "default": "5"}]
    assert fetch.facts["architecture"]["inputs_outputs"]["returns"] == "dict"
    assert fetch.facts["architecture"]["inputs_outputs"]["network_io"] == ["requests.get", "requests.get().json"]
    main = u["main"].facts
    assert main["dependencies"]["functional"]["calls"] == ["os.environ.get", "helper", "print"]
    assert main["dependencies"]["variable"]["assignments"] == {"result": ["helper", "total"], "token": ["os"],
                                                               "total": ["LIMIT"]}
    assert main["dependencies"]["variable"]["globals_used"] == ["LIMIT"]
    assert main["architecture"]["inputs_outputs"]["environment"] == ["os.environ"]
    assert main["architecture"]["inputs_outputs"]["stdout"] == ["print"]
    assert u["Store"].docstring == "Keeps items." and u["Store.load"].docstring == "Load items from disk."
    file_facts = result.units[0].facts
    assert file_facts["structure"]["file_role"]["entry_point"] is True
    assert file_facts["format"]["indentation"] == {"unit": "spaces", "width": 4, "mixed": False}


def test_a_python_module_docstring_is_the_file_units_docstring():
    """A module's docstring may sit below a shebang and a licence comment; a comment above a def's docstring does
    not hide it either (comments are not statements). A module without one has none."""
    source = (b'#!/usr/bin/env python\n# Licensed under the MIT licence.\n"""Prices for carts.\n\nMore text."""\n'
              b'import os\n\n\ndef total(cart):\n    # the sum\n    """Add the prices."""\n    return sum(cart)\n')
    result = analyze_file(source, "shop/prices.py", "python")
    file_unit, total = result.units
    assert file_unit.kind == "file" and file_unit.docstring == "Prices for carts.\n\nMore text."
    assert file_unit.facts["format"]["comments"]["has_docstring"] is True
    assert total.docstring == "Add the prices."
    bare = analyze_file(b"import os\nX = 'not a docstring'\n", "shop/bare.py", "python")
    assert bare.units[0].docstring is None


def test_javascript_and_typescript_facts():
    result, u = analyze("util.js")
    assert result.imports == ["fs", "./other.js"]
    assert u["add"].docstring == "Add two numbers."
    assert u["Counter.increment"].facts["architecture"]["exceptions"]["raised"] == ["RangeError"]
    assert u["twice"].calls == ["add"]
    _, ts_units = analyze("shapes.ts")
    assert ts_units["Circle"].docstring == "A circle."
    assert ts_units["totalArea"].facts["architecture"]["inputs_outputs"]["returns"] == "number"


def test_java_go_c_cpp_rust_facts():
    result, u = analyze("Main.java")
    assert result.imports == ["java.util.List", "java.io.IOException"]
    assert u["Main.sum"].facts["architecture"]["exceptions"] == {
        "raised": ["RuntimeException"], "caught": ["IllegalStateException"], "propagated": ["RuntimeException"]}
    assert u["Main"].docstring == "Entry point."
    result, u = analyze("server.go")
    assert result.imports == ['"fmt"', '"net/http"'] or result.imports == ["fmt", "net/http"]
    assert u["Server.Start"].parent.endswith("::Server")
    assert u["Server.Start"].docstring == "Start listens on the address."
    assert u["main"].calls == ["fmt.Println", "s.Start"]
    result, u = analyze("list.c")
    assert result.imports == ["stdlib.h", "list.h"]
    assert u["push"].calls == ["malloc"] and u["push"].docstring == "Push a value on the list."
    _, u = analyze("vec.cpp")
    assert u["Vec.norm"].facts["architecture"]["exceptions"]["raised"] == ["std::runtime_error"]
    assert u["Vec.norm"].calls == ["xs.empty", "std::runtime_error", "compute"]
    result, u = analyze("lib.rs")
    assert result.imports == ["std::collections::HashMap", "crate::config::Settings"]
    assert u["Cache.get"].docstring == "Look a key up." and u["Cache.get"].parent.endswith("::Cache")
    assert u["build"].facts["architecture"]["inputs_outputs"]["returns"] == "Cache"


def test_every_unit_has_all_fourteen_aspects_where_they_apply():
    from repotune.contracts import ASPECTS

    _, u = analyze("app.py")
    facts = u["Store.load"].facts
    unit_level = {"structure": {"elements"}, "dependencies": set(ASPECTS["dependencies"]),
                  "architecture": set(ASPECTS["architecture"]), "format": set(ASPECTS["format"])}
    for group, aspects in unit_level.items():
        assert aspects <= set(facts[group]), group
    json.dumps(facts)  # serialisable


def test_language_detection():
    assert detect_language("a/b.py") == "python"
    assert detect_language("tool", b"#!/usr/bin/env python3\nprint(1)") == "python"
    assert detect_language("run", b"#!/bin/bash\n") == "bash"
    assert detect_language("x.tsx") == "tsx" and detect_language("Makefile") == "make"
    assert detect_language("data.bin") is None
