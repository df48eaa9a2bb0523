"""The dataset: leakage-free splits, decontamination, schema-valid JSONL, the card."""

import json
import math

import jsonschema
import pytest

from repotune.config import load_config
from repotune.core.store import read_table
from repotune.dataset.build import EXAMPLE_SCHEMA, SPLITS, assign_splits, build
from repotune.dataset.config import DatasetConfig
from repotune.runs import Runner


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    runner = Runner(load_config(overrides=[f"store.url=file://{store}", "analyze.use_ray=false"]))
    manifest = runner.run(["analyze", "label", "synthesize", "dataset"])
    return runner, manifest


def read_split(runner, split):
    text = runner.store.get_bytes(f"runs/local/dataset/{split}.jsonl").decode()
    return [json.loads(line) for line in text.splitlines() if line]


def test_no_test_split_file_contributes_to_train(run):
    runner, _ = run
    files = {s: {(ex["repository"], ex["path"]) for ex in read_split(runner, s)} for s in SPLITS}
    assert files["test"] and files["train"]
    assert not files["test"] & files["train"] and not files["test"] & files["val"]
    units = {ex["unit_id"] for ex in read_split(runner, "test")}
    assert not units & {ex["unit_id"] for ex in read_split(runner, "train")}


def test_jsonl_follows_the_schema_and_the_card_is_written(run):
    runner, manifest = run
    for split in SPLITS:
        for example in read_split(runner, split):
            jsonschema.validate(example, EXAMPLE_SCHEMA)
            assert example["messages"][-1]["role"] == "assistant"
    units = read_table(runner.store, "runs/local/analyze/units.parquet").to_pylist()
    kind_of = {u["unit_id"]: u["kind"] for u in units}
    test = read_split(runner, "test")
    assert all(ex["unit_kind"] == kind_of[ex["unit_id"]] for ex in test)  # evaluate scores by unit kind
    card = runner.store.get_bytes("runs/local/dataset/card.md").decode()
    assert "| train |" in card and "offline interpreter" in card
    figures = json.loads(runner.store.get_bytes("runs/local/dataset/card.json"))
    assert sum(figures["examples"].values()) == sum(manifest["steps"]["dataset"]["counts"][f"examples.{s}"]
                                                    for s in SPLITS)
    assert runner.store.get_bytes("runs/local/dataset/plots/lengths.png").startswith(b"\x89PNG")


def test_splits_are_deterministic_and_non_empty():
    files = {("r", f"f{i}.py") for i in range(20)}
    cfg = DatasetConfig()
    first = assign_splits(files, cfg)
    assert first == assign_splits(files, cfg)
    assert sorted(first.values()).count("test") == 2 and sorted(first.values()).count("val") == 2
    assert set(assign_splits({("r", "a"), ("r", "b"), ("r", "c")}, cfg).values()) == {"train", "val", "test"}


def test_contamination_and_duplicates_are_removed_and_counted():
    unit = {"repository": "r", "kind": "function", "language": "python", "is_test": False, "content_hash": "h1"}
    units = {f"u{i}": {**unit, "path": f"f{i}.py", "content_hash": f"h{i}"} for i in range(10)}
    units["u9"] = {**units["u9"], "content_hash": "h0"}  # the same code as u0 in another file
    pairs = [{"pair_id": f"p{i}", "unit_id": f"u{i}", "quality_ok": True, "task": "code2doc", "template_id": "t",
              "source": "offline", "instruction": f"Document function number {i} please", "response": f"Doc {i}."}
             for i in range(10)]
    pairs.append({**pairs[3], "pair_id": "p3-copy"})  # an exact duplicate
    pairs.append({**pairs[4], "pair_id": "p4-bad", "quality_ok": False})
    cfg = DatasetConfig(test_fraction=0.3, val_fraction=0.0)
    built = build(pairs, units, cfg)
    assert built.dropped["exact_duplicate"] == 1 and built.dropped["quality"] == 1
    test_hashes = {ex["content_hash"] for ex in built.splits["test"]}
    assert not test_hashes & {ex["content_hash"] for ex in built.splits["train"]}
    kept = sum(len(v) for v in built.splits.values())
    assert kept + sum(built.dropped.values()) == len(pairs)  # nothing silently lost


@pytest.mark.parametrize("per_file,files,want", [
    (5, 40, 40),     # 200 code2doc examples: 20% of them (40) is fewer than 50
    (30, 40, 50),    # 1,200: 50 is fewer than 20%
    (1, 12, 3),      # 12: ceil(20%) = 3
])
def test_test_split_holds_enough_headline_examples(per_file, files, want):
    names = {("r", f"f{i}.py") for i in range(files)}
    counts = {f: per_file for f in names}
    cfg = DatasetConfig()
    splits = assign_splits(names, cfg, counts)
    held = sum(counts[f] for f, s in splits.items() if s == "test")
    plain = assign_splits(names, cfg)
    plain_held = sum(counts[f] for f, s in plain.items() if s == "test")
    assert want <= held <= max(plain_held, want + per_file - 1)  # enough, and no file more than needed
    assert sorted(splits.values()).count("train") >= files - files // 2
    # the files test takes are the first in hash order: adding the counts only extends the plain split's test
    assert {f for f, s in plain.items() if s == "test"} <= {f for f, s in splits.items() if s == "test"}


@pytest.mark.parametrize("val_min_headline", [20, 2])
def test_val_split_holds_enough_headline_examples_and_test_stays_as_it_was(val_min_headline):
    """The adapter train keeps is chosen on val loss: val must not be one file's examples. Taking more val files
    moves them from train only (test is chosen first)."""
    names = sorted({("r", f"f{i}.py") for i in range(40)})
    counts = {f: 6 if i % 8 == 0 else 0 for i, f in enumerate(names)}  # documented code in one file of eight
    cfg = DatasetConfig(val_min_headline=val_min_headline)
    splits = assign_splits(set(names), cfg, counts)
    lone = assign_splits(set(names), DatasetConfig(val_min_headline=0), counts)
    want = min(math.ceil(cfg.val_fraction * sum(counts.values())), val_min_headline)
    held = [counts[f] for f, s in splits.items() if s == "val"]
    assert want == min(3, val_min_headline) and want <= sum(held) < want + 6  # enough, no file more than needed
    assert sum(counts[f] for f, s in lone.items() if s == "val") < want  # what the check catches
    assert {f for f, s in splits.items() if s == "test"} == {f for f, s in lone.items() if s == "test"}
    assert "train" in splits.values()


def test_a_few_big_files_still_leave_train_a_file():
    names = {("r", f"f{i}.py") for i in range(3)}
    splits = assign_splits(names, DatasetConfig(), {f: 100 for f in names})
    assert sorted(splits.values()) == ["test", "train", "val"]


def test_the_card_counts_the_headline_task_per_split(run):
    runner, _ = run
    figures = json.loads(runner.store.get_bytes("runs/local/dataset/card.json"))
    code2doc = {s: figures["by_task"][s].get("code2doc", 0) for s in SPLITS}
    assert code2doc["test"] >= min(math.ceil(0.2 * sum(code2doc.values())), 50) > 0
    card = runner.store.get_bytes("runs/local/dataset/card.md").decode()
    assert f"code2doc, the evaluation's headline task: train {code2doc['train']}" in card
