"""The label step streams: it reads each level of the stored units table a batch at a time, never the table
whole, saves each level's rows as they come, and its labels.parquet holds the rows the in-memory path gives."""

from __future__ import annotations

import pytest

from repotune.core.ray_setup import RayConfig
from repotune.core.store import read_table, write_table
from repotune.label import labelling
from repotune.label.config import LabelConfig
from repotune.label.levels import LABEL_SCHEMA
from repotune.label.step import label_stored_units, label_units
from repotune.llm.config import LLMEndpointConfig


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {r["unit_id"]: r for r in rows}


def stored(local_store, units: list[dict]) -> str:
    write_table(local_store, "runs/r/analyze/units.parquet", units)
    return "runs/r/analyze/units.parquet"


def watch_batches(monkeypatch) -> list[int]:
    """Sizes of the batches the in-process path labels."""
    sizes: list[int] = []
    real = labelling.label_level

    def label_level(level, *args, **kwargs):
        sizes.append(len(level))
        return real(level, *args, **kwargs)

    monkeypatch.setattr(labelling, "label_level", label_level)
    return sizes


def test_the_step_labels_the_stored_table_a_batch_at_a_time(sample_units, local_store, monkeypatch):
    expected = by_id(label_units(sample_units, LabelConfig(), None))
    monkeypatch.setattr(labelling, "IN_PROCESS_BATCH", 3)
    sizes = watch_batches(monkeypatch)
    stats = label_stored_units(local_store, stored(local_store, sample_units), "runs/r/label/", LabelConfig(),
                               LLMEndpointConfig(), RayConfig(), None)
    labels = read_table(local_store, "runs/r/label/labels.parquet")
    assert labels.schema.equals(LABEL_SCHEMA)
    assert by_id(labels.to_pylist()) == expected  # children's lines reach their parents across batches
    assert labels.num_rows == len(sample_units) == stats["units"] == stats["ok"]
    assert max(sizes) == 3 and sum(sizes) == len(sample_units)
    levels = sorted(i.key for i in local_store.list("runs/r/label/levels/"))
    assert [k.rsplit("/", 1)[1] for k in levels if k.endswith(".json")] == [
        f"level-{i}.json" for i in range(len(levels) // 2)]


def test_a_table_read_in_row_groups_gives_each_level_its_units_in_order(sample_units, local_store, monkeypatch):
    monkeypatch.setattr("repotune.core.store.ROW_GROUP_ROWS", 4)  # many row groups, levels spread across them
    from repotune.core.store import open_table

    with open_table(local_store, stored(local_store, sample_units)) as parquet:
        assert parquet.num_row_groups > 2
        table = labelling.ParquetTable(parquet)
        for kinds in labelling.LEVELS:
            want = [u["unit_id"] for u in sample_units if u["kind"] in kinds]
            got = [u["unit_id"] for batch in table.batches(kinds, 5) for u in batch]
            assert got == want and sum(table.kinds()[k] for k in kinds) == len(want)
            assert all(len(b) <= 5 for b in table.batches(kinds, 5))


def test_a_level_that_fails_midway_leaves_no_saved_rows(sample_units, local_store, monkeypatch):
    """Rows of a level written in batches become an object only when the level ends: a fault in its second
    batch leaves the first level saved whole and nothing of the second."""
    monkeypatch.setattr(labelling, "IN_PROCESS_BATCH", 2)
    real = labelling.label_level
    calls = {"class": 0}

    def fails_in_the_classes(level, *args, **kwargs):
        if level[0]["kind"] == "class":
            calls["class"] += 1
            if calls["class"] == 2:
                raise RuntimeError("injected: killed in the second batch of classes")
        return real(level, *args, **kwargs)

    monkeypatch.setattr(labelling, "label_level", fails_in_the_classes)
    assert sum(u["kind"] == "class" for u in sample_units) > 2
    with pytest.raises(RuntimeError, match="injected"):
        label_stored_units(local_store, stored(local_store, sample_units), "runs/r/label/", LabelConfig(),
                           LLMEndpointConfig(), RayConfig(), None)
    saved = sorted(i.key.rsplit("/", 1)[1] for i in local_store.list("runs/r/label/levels/"))
    assert saved == ["level-0.json", "level-0.parquet"]
    assert not local_store.exists("runs/r/label/labels.parquet")


def test_the_step_on_ray_streams_and_keeps_the_order(sample_units, local_store, ray_local):
    expected = label_units(sample_units, LabelConfig(), None)
    cfg = LabelConfig(use_ray=True, actors=2, units_per_task=2)
    stats = label_stored_units(local_store, stored(local_store, sample_units), "runs/r/label/", cfg,
                               LLMEndpointConfig(), RayConfig(), {"url": local_store.url})
    labels = read_table(local_store, "runs/r/label/labels.parquet").to_pylist()
    assert stats["ray"]["used"] and by_id(labels) == by_id(expected)
    # level by level, each level in the table's order, though its batches finished in any order
    rank = {k: i for i, kinds in enumerate(labelling.LEVELS) for k in kinds}
    in_table = [u["unit_id"] for u in sorted(sample_units, key=lambda u: rank[u["kind"]])]  # a stable sort
    assert [r["unit_id"] for r in labels] == in_table


def test_each_unit_sees_its_childrens_labels_in_table_order(sample_units):
    """Children come from different levels (a file's functions and classes): their lines reach the parent in the
    order the table lists the children, not level by level."""
    from repotune.label.levels import child_summary

    rows = by_id(label_units(sample_units, LabelConfig(), None))
    mixed = 0
    for parent in sample_units:
        kids = [u for u in sample_units if u["parent_id"] == parent["unit_id"]]
        mixed += len({u["kind"] for u in kids[:5]}) > 1
        lines = [child_summary(u, rows[u["unit_id"]]) for u in kids][:5]
        if lines:
            assert rows[parent["unit_id"]]["explanation_paraphrase"].endswith("Parts: " + "; ".join(lines))
    assert mixed  # the sample has parents whose first children are of more than one level
