"""The analyze step through the runner: Ray Data on the bundled sample, outputs per docs/contracts.md."""

import ast
import json
import sys
import sysconfig
from pathlib import Path

import pytest

from repotune.config import load_config
from repotune.runs import Runner
from repotune.core.store import get_json, read_table

UNIT_COLUMNS = {"unit_id", "kind", "repository", "language", "path", "name", "qualified_name", "parent_id",
                "start_line", "end_line", "signature", "docstring", "code", "content_hash", "context", "facts",
                "duplicate_of", "is_test"}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, ray_local):
    store_dir = tmp_path_factory.mktemp("store")
    cfg = load_config(overrides=[f"store.url=file://{store_dir}", "run_id=sample"])
    runner = Runner(cfg)
    runner.run(["analyze"])
    return runner


def test_outputs_follow_the_contract(sample_run):
    store = sample_run.store
    units = read_table(store, "runs/sample/analyze/units.parquet").to_pylist()
    assert UNIT_COLUMNS <= set(units[0])
    kinds = {u["kind"] for u in units}
    assert kinds == {"function", "method", "class", "file", "directory", "repository"}
    by_name = {u["qualified_name"]: u for u in units}
    add = by_name["tinyshop/cart.py::Cart.add"]
    assert add["kind"] == "method" and add["docstring"] == "Add units of a product, reserving them in the catalogue."
    assert "def reserve(self, sku: str, quantity: int) -> Product" in add["context"]
    assert add["parent_id"] == by_name["tinyshop/cart.py::Cart"]["unit_id"]
    facts = json.loads(add["facts"])
    assert "ShopError" in facts["architecture"]["exceptions"]["raised"]
    assert "tinyshop/catalog.py::Catalog.reserve" in facts["dependencies"]["functional"]["internal_calls"]
    file_unit = by_name["tinyshop/payments.py"]
    module = json.loads(file_unit["facts"])["dependencies"]["module"]
    assert module["internal"] == ["tinyshop.errors", "tinyshop.pricing"] and "urllib.request" in module["stdlib"]
    assert by_name["tests/test_cart.py::test_add_reserves_stock"]["is_test"] is True
    repo = [u for u in units if u["kind"] == "repository"]
    assert len(repo) == 1 and repo[0]["parent_id"] is None
    assert len({u["unit_id"] for u in units}) == len(units)
    graph = read_table(store, "runs/sample/analyze/graph.parquet").to_pylist()
    assert {"import", "call", "defuse"} <= {e["kind"] for e in graph}
    stats = get_json(store, "runs/sample/analyze/analyze.json")
    assert stats["snapshot"].startswith("sources/") and store.exists(stats["snapshot"])
    assert stats["files_by_language"]["python"] == 8


def test_rerun_is_skipped_and_output_is_deterministic(sample_run, tmp_path, ray_local):
    first = sample_run.store.get_bytes("runs/sample/analyze/units.parquet")
    manifest = sample_run.run(["analyze"], force=["analyze"])
    assert manifest["steps"]["analyze"]["status"] == "succeeded"
    again = read_table(sample_run.store, "runs/sample/analyze/units.parquet").to_pylist()
    assert [u["unit_id"] for u in again] == [u["unit_id"] for u in
                                            read_table_bytes(first)]


def read_table_bytes(data):
    import io

    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data)).to_pylist()


def test_in_process_and_ray_agree(tmp_path, ray_local):
    """Every output of the Ray Data stage (rows finished in the workers, linked in the driver) equals the
    in-process one: units with their facts, contexts and duplicates, the graph, the stats."""
    from repotune.analyze.discover import discover
    from repotune.analyze.step import analyze_repository

    root = Path(__file__).parent / "fixtures" / "polyglot"
    files = [f for f in discover(root, [], 1_000_000).files if f[1]]
    files.append(("broken/latin1.py", "python", "caf\xe9 = 1\n".encode("latin-1")))
    files.append(("pkg/helpers.py", "python", b"import app\n\ndef helper(x):\n    return app.main(x)\n"))
    local = analyze_repository(files, "polyglot", use_ray=False)
    distributed = analyze_repository(files, "polyglot", use_ray=True, workers=2, batch_size=2)
    assert local.units == distributed.units and local.edges == distributed.edges
    assert local.stats == distributed.stats and distributed.skipped == {"undecodable": 1}
    assert local.skipped_paths == distributed.skipped_paths == {"undecodable": ["broken/latin1.py"]}
    assert any(u["context"] for u in local.units) and any(u["kind"] == "directory" for u in local.units)


@pytest.mark.slow
def test_cpython_stdlib_function_count_matches_ast():
    """Real corpus: function/method units on CPython's Lib/ vs the ast module, within 0.5%; nothing crashes."""
    from repotune.parsing.extract import analyze_file

    lib = Path(sysconfig.get_paths()["stdlib"])
    ours = theirs = files = 0
    for path in sorted(lib.rglob("*.py")):
        if "site-packages" in path.parts or path.stat().st_size > 1_000_000:
            continue
        data = path.read_bytes()
        try:
            tree = ast.parse(data)
        except (SyntaxError, ValueError):
            continue  # not Python 3.11 (lib2to3 fixtures etc.): ast has no count to compare with
        theirs += sum(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for n in ast.walk(tree))
        result = analyze_file(data, path.relative_to(lib).as_posix(), "python")
        ours += sum(u.kind in ("function", "method") for u in result.units)
        files += 1
    print(f"CPython {sys.version.split()[0]} Lib/: {files} files, ast {theirs}, repotune {ours}")
    assert abs(ours - theirs) <= 0.005 * theirs


def test_ray_only_where_it_pays():
    from repotune.analyze.step import choose_ray

    assert choose_ray(True, 10, 2, None) == (True, "analyze.use_ray=true")
    assert choose_ray(False, 10**9, 16, "ray://head:10001") == (False, "analyze.use_ray=false")
    assert choose_ray("auto", 10, 2, "ray://head:10001")[0] is True  # a cluster is there to be used
    assert choose_ray("auto", 10**9, 1, None)[0] is False  # one CPU: Ray only adds its start-up
    small, why = choose_ray("auto", 2_000_000, 2, None)
    assert small is False and "2.0 MB of source is below 58 MB" in why
    assert choose_ray("auto", 100_000_000, 2, None)[0] is True
    assert choose_ray("auto", 40_000_000, 16, None)[0] is True  # more CPUs: a lower crossover


def test_the_default_parses_a_small_source_in_process_and_says_why(tmp_path):
    from repotune.config import load_config
    from repotune.runs import Runner

    config = load_config(overrides=[f"store.url=file://{tmp_path}/s"])
    manifest = Runner(config).run(steps=["analyze"])
    assert config.analyze.use_ray == "auto"
    stats = json.loads((tmp_path / "s" / "runs" / "local" / "analyze" / "analyze.json").read_text())
    assert stats["parallel"]["ray"] is False and stats["parallel"]["why"].startswith("auto: ")
    assert manifest["steps"]["analyze"]["status"] == "succeeded"
