"""Labelling a table of units bottom-up as a stream: each level (callables, classes, files, directories, the
repository) is read from the table in batches, labelled in this process or on Ray actors, and its rows go out
batch by batch (to the caller and to that level's saved object) as they are labelled. What the labeller keeps
between levels is small: each unit's children's one-line labels, until the unit itself is labelled. So a
monorepo's units never sit in memory whole, and a killed run resumes at the first level not saved."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from repotune.core.progress import progress
from repotune.core.ray_setup import RayConfig
from repotune.core.store import get_json, open_table, put_json, table_writer
from repotune.label.config import LabelConfig
from repotune.label.levels import LABEL_SCHEMA, LEVELS, WAVES_PER_BATCH, backend, child_summary, label_level
from repotune.label.prompts import PROMPT_VERSION
from repotune.llm.config import LLMEndpointConfig

# Units labelled together in this process: a batch of units with their code and facts is tens of MB (2048 of them
# kept the driver at 0.6 GiB labelling 200,000 units; 8192 took it to 0.8); an endpoint's, WAVES_PER_BATCH waves.
IN_PROCESS_BATCH = 2048
# what the labeller reads of a unit before labelling its level: who it is, its parent, what it depends on
_KEYS = ["unit_id", "parent_id", "kind", "qualified_name", "content_hash"]


class RowsTable:
    """Units already in memory (tests, benches, the library API), read like a stored table."""

    def __init__(self, units: list[dict[str, Any]]):
        self.units = units

    def kinds(self) -> Counter[str]:
        """Units of each kind."""
        return Counter(u["kind"] for u in self.units)

    def batches(self, kinds: tuple[str, ...], size: int) -> Iterator[list[dict]]:
        level = [u for u in self.units if u["kind"] in kinds]
        for start in range(0, len(level), size):
            yield level[start:start + size]

    def keys(self, kinds: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
        """(position in the table, the unit's _KEYS) of each unit of the level."""
        for position, u in enumerate(self.units):
            if u["kind"] in kinds:
                yield position, {k: u.get(k) for k in _KEYS}


class ParquetTable:
    """A stored Parquet table of units (analyze's units.parquet), read a row group at a time, one level's rows
    kept from each: the whole table is never in memory."""

    def __init__(self, parquet: Any):
        self.parquet = parquet

    def kinds(self) -> Counter[str]:
        """Units of each kind, from the kind column alone."""
        import pyarrow.compute as pc

        counts: Counter[str] = Counter()
        for batch in self.parquet.iter_batches(columns=["kind"]):
            counts.update({row["values"]: row["counts"] for row in pc.value_counts(batch["kind"]).to_pylist()})
        return counts

    def batches(self, kinds: tuple[str, ...], size: int) -> Iterator[list[dict]]:
        import pyarrow.compute as pc

        pending: list[dict] = []
        for batch in self.parquet.iter_batches(batch_size=min(size, 16_384)):
            pending.extend(batch.filter(pc.is_in(batch["kind"], pa_kinds(kinds))).to_pylist())
            while len(pending) >= size:
                yield pending[:size]
                del pending[:size]
        if pending:
            yield pending

    def keys(self, kinds: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
        """(position in the table, the unit's _KEYS) of each unit of the level, read from those columns only."""
        import pyarrow.compute as pc

        start = 0
        for batch in self.parquet.iter_batches(batch_size=16_384, columns=_KEYS):
            mask = pc.is_in(batch["kind"], pa_kinds(kinds))
            positions = pc.indices_nonzero(mask).to_pylist()
            for offset, u in zip(positions, batch.filter(mask).to_pylist(), strict=True):
                yield start + offset, u
            start += batch.num_rows


def pa_kinds(kinds: tuple[str, ...]) -> Any:
    import pyarrow as pa

    return pa.array(kinds, pa.string())


def _limited(batches: Iterator[list[dict]], limit: int | None) -> Iterator[list[dict]]:
    """The first `limit` units of a level (label.limit), batch by batch."""
    left = limit or None
    for batch in batches:
        if left is not None:
            batch = batch[:left]
            left -= len(batch)
        if batch:
            yield batch
        if left == 0:
            return


def level_identity(cfg: LabelConfig, llm: LLMEndpointConfig, units: Iterator[tuple[str, str, list[str]]]) -> str:
    """What a level's saved rows depend on: its units (ids and content, in table order), their children's labels,
    and how they are labelled."""
    digest = hashlib.sha256(json.dumps(
        [PROMPT_VERSION, cfg.backend, cfg.mode, cfg.local_model, cfg.local_max_tokens, cfg.prompt_token_budget,
         {"openai": llm.model, "vllm": cfg.vllm.model}.get(cfg.backend)], default=str).encode())
    for unit_id, content_hash, kids in units:
        digest.update(json.dumps([unit_id, content_hash, kids]).encode())
    return digest.hexdigest()


class _Lines:
    """Each unit's children's label lines, in table order, kept until the unit is labelled."""

    def __init__(self) -> None:
        self.by_parent: dict[str, list[tuple[int, str]]] = defaultdict(list)

    def of(self, unit_id: str) -> list[str]:
        return [line for _, line in sorted(self.by_parent.get(unit_id, ()))]

    def add(self, row: dict[str, Any], position: int, parent: str | None, kind: str, name: str) -> None:
        if parent and row["status"] == "ok":
            self.by_parent[parent].append((position, child_summary({"kind": kind, "qualified_name": name}, row)))

    def drop(self, unit_ids: Any) -> None:
        for unit_id in unit_ids:
            self.by_parent.pop(unit_id, None)


def label_table(table: RowsTable | ParquetTable, cfg: LabelConfig, store: Any, llm: LLMEndpointConfig, *,
                on_rows: Callable[[list[dict[str, Any]]], None], use_ray: bool = False,
                ray_config: RayConfig | None = None, store_config: dict | None = None, actors: int = 1,
                checkpoints: str | None = None, pool: Any = None) -> list[str]:
    """Label every unit of the table bottom-up, handing each batch of rows to on_rows as it is labelled (failed
    units carry their reason). use_ray: a pool of `actors` Ray actors, kept for every level, labels the batches
    (store_config: how they open the store, for the answer cache); pool: a RayLabeller to use instead, kept open
    (a caller labelling several tables with one pool). checkpoints: a store prefix where each level's
    rows are written as they come and marked whole when the level ends; a rerun takes the levels whole there
    (same units, same settings) as they are. Returns the keys of the saved levels, in order."""
    lines = _Lines()
    in_process: tuple[Any, Any] | None = None  # (client, writer), built at the first level labelled here
    labeller = pool
    saved_levels: list[str] = []
    of_kind = table.kinds()
    sizes = [min(sum(of_kind[k] for k in kinds), cfg.limit or 1 << 62) for kinds in LEVELS]
    with progress("label", sum(sizes), "units") as advance, contextlib.ExitStack() as cleanup:
        cleanup.callback(lambda: labeller is not None and labeller is not pool and labeller.close())
        for index, (kinds, size) in enumerate(zip(LEVELS, sizes, strict=True)):
            if not size:
                continue
            # who is in this level, read before labelling it: what its saved rows depend on, and where each
            # unit's label line goes once it has one
            seen: dict[str, tuple[int, str | None, str, str]] = {}
            keys: list[tuple[str, str, list[str]]] = []
            for position, u in itertools.islice(table.keys(kinds), size):
                seen[u["unit_id"]] = (position, u["parent_id"], u["kind"], u["qualified_name"])
                keys.append((u["unit_id"], u["content_hash"], lines.of(u["unit_id"])))
            identity = level_identity(cfg, llm, iter(keys))
            del keys

            def units(size: int, kinds: tuple[str, ...] = kinds) -> Iterator[tuple[list[dict], list[list[str]]]]:
                for batch in _limited(table.batches(kinds, size), cfg.limit):
                    yield batch, [lines.of(u["unit_id"]) for u in batch]

            saved = f"{checkpoints}level-{index}" if checkpoints else None
            reused = bool(saved and store.exists(f"{saved}.json")
                          and get_json(store, f"{saved}.json") == {"identity": identity})
            if reused:
                produced: Iterator[list[dict]] = _saved_rows(store, f"{saved}.parquet", advance)
            elif cfg.backend == "vllm":
                produced = _vllm_rows(units(size), cfg, llm, ray_config, advance)
            elif use_ray:
                if labeller is None:
                    from repotune.label.ray_levels import RayLabeller

                    labeller = RayLabeller(cfg, llm, store_config, ray_config, actors)
                produced = labeller.level(units(labeller.batch_size(size)), advance)
            else:
                in_process = in_process or backend(cfg, llm, store)
                waves = WAVES_PER_BATCH * llm.concurrency if cfg.backend == "openai" else 0
                produced = (label_level(batch, kids, cfg, llm, *in_process, advance)
                            for batch, kids in units(max(IN_PROCESS_BATCH, waves)))
            with contextlib.ExitStack() as level_out:
                write = (level_out.enter_context(table_writer(store, f"{saved}.parquet", LABEL_SCHEMA))
                         if saved and not reused else None)
                for rows in produced:
                    if write:
                        write(rows)
                    for row in rows:
                        position, parent, kind, name = seen[row["unit_id"]]
                        lines.add(row, position, parent, kind, name)
                    on_rows(rows)
            if saved:
                if not reused:  # the rows first (whole once written), then the marker that says they are the level's
                    put_json(store, f"{saved}.json", {"identity": identity})
                saved_levels.append(f"{saved}.parquet")
            lines.drop(seen)
    return saved_levels


def _saved_rows(store: Any, key: str, advance: Callable[[int], None]) -> Iterator[list[dict[str, Any]]]:
    with open_table(store, key) as parquet:
        for batch in parquet.iter_batches(batch_size=IN_PROCESS_BATCH):
            rows = batch.to_pylist()
            advance(len(rows))
            yield rows


def _vllm_rows(units: Iterator[tuple[list[dict], list[list[str]]]], cfg: LabelConfig, llm: LLMEndpointConfig,
               ray_config: RayConfig | None, advance: Callable[[int], None]) -> Iterator[list[dict[str, Any]]]:
    """A level through one ray.data.llm processor: the level's units go to Ray Data together (a processor per
    batch would start the vLLM engines again for each)."""
    from repotune.core.ray_setup import ensure_ray
    from repotune.label.vllm_batch import label_level_vllm

    ensure_ray(ray_config)
    level: list[dict] = []
    kids: list[list[str]] = []
    for batch, batch_kids in units:
        level.extend(batch)
        kids.extend(batch_kids)
    yield label_level_vllm(level, kids, cfg, llm, advance)


def label_units(units: list[dict[str, Any]], cfg: LabelConfig, store: Any, llm: LLMEndpointConfig | None = None,
                **options: Any) -> list[dict[str, Any]]:
    """label_table over units in memory: one row per unit, in the units' order (options: label_table's)."""
    rows: dict[str, dict[str, Any]] = {}

    def keep(batch: list[dict[str, Any]]) -> None:
        rows.update((r["unit_id"], r) for r in batch)

    label_table(RowsTable(units), cfg, store, llm or LLMEndpointConfig(), on_rows=keep, **options)
    return [rows[u["unit_id"]] for u in units if u["unit_id"] in rows]
