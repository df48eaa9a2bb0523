"""The analyze step: source → files → (Ray Data) per-file analysis and rows → repository links → Parquet."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from repotune.analyze.discover import discover
from repotune.parsing.extract import analyze_file
from repotune.analyze.repository import RepositoryAnalysis, link
from repotune.analyze.rows import file_rows, internal_module_names, rows_table
from repotune.analyze.sources import files_digest, resolve_source, snapshot, temp_workdir
from repotune.core.errors import StepError
from repotune.core.ray_setup import RayConfig, ensure_ray
from repotune.core.step import StepContext, StepResult
from repotune.core.store import put_json, write_table

Files = list[tuple[str, str | None, bytes]]  # (path, language, content)


class AnalyzeBatch:
    """Ray Data callable: analyse a batch of files and finish their rows. One instance per worker holds what
    every file needs (the internal module names; tree-sitter parsers are cached per process)."""

    def __init__(self, repository: str, internal_modules: frozenset[str], num_perm: int = 64):
        self.repository, self.internal_modules, self.num_perm = repository, internal_modules, num_perm

    def __call__(self, batch: dict[str, Any]) -> pa.Table:
        rows = []
        for index, path, language, data in zip(batch["index"], batch["path"], batch["language"], batch["data"],
                                               strict=True):
            rows.extend(self.rows(int(index), path, language or None, bytes(data)))
        return rows_table(rows)

    def rows(self, index: int, path: str, language: str | None, data: bytes) -> list[dict[str, Any]]:
        started = time.perf_counter()
        rows = file_rows(analyze_file(data, path, language), self.repository, index, self.internal_modules,
                         self.num_perm)
        rows[0].update(_seconds=time.perf_counter() - started, _finished=time.time())
        return rows


# Measured on this project's 2-core VM: `repotune run --steps analyze` on the bundled sample takes 16.5 s with
# Ray and 2.9 s without (Ray's start-up and actor pool); the per-file stage runs at ~2 MB/s per core
# (bench/analyze.py), and Ray Data keeps ~90% of that per worker. Ray pays once bytes/r > S + bytes/(0.9 w r).
RAY_STARTUP_S = 13.0
PER_CORE_BYTES_S = 2.0e6
RAY_EFFICIENCY = 0.9


def choose_ray(use_ray: bool | str, code_bytes: int, workers: int, address: str | None) -> tuple[bool, str]:
    """Whether to parse on Ray, and why (for the summary)."""
    if isinstance(use_ray, bool):
        return use_ray, f"analyze.use_ray={str(use_ray).lower()}"
    if address:
        return True, "auto: ray.address names a cluster"
    if workers <= 1:
        return False, "auto: one CPU, nothing to parallelise"
    crossover = RAY_STARTUP_S * PER_CORE_BYTES_S / (1 - 1 / (RAY_EFFICIENCY * workers))
    if code_bytes > crossover:
        return True, f"auto: {code_bytes / 1e6:.1f} MB of source over {crossover / 1e6:.0f} MB on {workers} CPUs"
    return False, (f"auto: {code_bytes / 1e6:.1f} MB of source is below {crossover / 1e6:.0f} MB, where Ray's "
                   f"start-up pays on {workers} CPUs")


def analyze_rows(files: Files, repository: str, *, use_ray: bool, workers: int | None, batch_size: int,
                 ray_address: str | None = None, num_cpus: int | None = None) -> pa.Table:
    """Every file's rows (rows.ROW_SCHEMA), on Ray Data or in this process; `repository.link` finishes them."""
    files = sorted(files, key=lambda f: f[0])
    analyzer = AnalyzeBatch(repository, internal_module_names([p for p, _, _ in files]))
    if not use_ray or len(files) <= 1:
        return rows_table([row for i, (p, lang, d) in enumerate(files) for row in analyzer.rows(i, p, lang, d)])
    import ray

    ensure_ray(RayConfig(address=ray_address, num_cpus=num_cpus))
    ray.data.DataContext.get_current().enable_progress_bars = False
    items = [{"index": i, "path": p, "language": lang or "", "data": d} for i, (p, lang, d) in enumerate(files)]
    size = workers or max(1, int(ray.available_resources().get("CPU", 1)))
    ds = ray.data.from_items(items, override_num_blocks=max(size, min(len(items) // batch_size, 200)))
    ds = ds.map_batches(AnalyzeBatch, batch_size=batch_size, batch_format="numpy",
                        compute=ray.data.ActorPoolStrategy(size=size),
                        fn_constructor_kwargs={"repository": repository,
                                               "internal_modules": analyzer.internal_modules})
    # The blocks are Arrow tables already: the driver concatenates them, it decodes nothing.
    return pa.concat_tables(ray.get(ds.to_arrow_refs()))


def analyze_repository(files: Files, repository: str, *, use_ray: bool = False, workers: int | None = None,
                       batch_size: int = 32, ray_address: str | None = None, num_cpus: int | None = None,
                       context_tokens: int = 512, near_duplicate_threshold: float = 0.9,
                       readme: str | None = None) -> RepositoryAnalysis:
    """Files → the repository's units, graph and stats (what run_step writes), for callers outside the runner."""
    table = analyze_rows(files, repository, use_ray=use_ray, workers=workers, batch_size=batch_size,
                         ray_address=ray_address, num_cpus=num_cpus)
    return link(repository, table, context_tokens=context_tokens, near_duplicate_threshold=near_duplicate_threshold,
                readme=readme)


def _redacted_files(table: pa.Table) -> list[tuple[str, bytes]]:
    """Every analyzed file as its file unit holds it: the whole text, secrets redacted."""
    columns = [table.column(name).to_pylist() for name in ("kind", "path", "code")]
    return [(path, (code or "").encode()) for kind, path, code in zip(*columns, strict=True) if kind == "file"]


def run_step(ctx: StepContext) -> StepResult:
    cfg = ctx.config.analyze
    t0 = time.perf_counter()
    with temp_workdir() as workdir:
        source = resolve_source(cfg.source, Path(workdir), ctx.store, max_archive_bytes=cfg.max_archive_bytes,
                                max_archive_files=cfg.max_archive_files)
        found = discover(source.root, cfg.vendored, cfg.max_file_bytes)
        for reason, paths in source.skipped_paths.items():
            for path in paths:
                found.skip(reason, path)
        readme = next((d.decode("utf-8", "replace") for p, _, d in found.files if p.lower().startswith("readme")), None)
        code_files = [f for f in found.files if f[1] is not None]
        if not code_files:
            raise StepError(f"no source files to analyze in {source.description} "
                            f"(skipped: {dict(found.skipped) or 'none'})")
        source_sha = files_digest([(p, d) for p, _, d in found.files])
    repository = cfg.repository or source.name
    workers = cfg.workers or ctx.config.ray.num_cpus or os.cpu_count() or 1
    code_bytes = sum(len(d) for _, _, d in code_files)
    use_ray, why = choose_ray(cfg.use_ray, code_bytes, workers, ctx.config.ray.address)
    t_parse = time.perf_counter()
    table = analyze_rows(code_files, repository, use_ray=use_ray, workers=cfg.workers,
                         batch_size=cfg.batch_size, ray_address=ctx.config.ray.address,
                         num_cpus=ctx.config.ray.num_cpus)
    parse_s = time.perf_counter() - t_parse
    t_link = time.perf_counter()
    repo = link(repository, table, context_tokens=cfg.context_tokens,
                near_duplicate_threshold=cfg.near_duplicate_threshold, readme=readme)
    link_s = time.perf_counter() - t_link
    snapshot_key, snapshot_sha = snapshot(ctx.store, _redacted_files(repo.table))
    skipped = Counter(found.skipped) + repo.skipped
    write_table(ctx.store, ctx.key("units.parquet"), repo.table)
    write_table(ctx.store, ctx.key("graph.parquet"), _edges_table(repo.edges))
    stats = {
        "source": source.description, "repository": repository, "source_sha256": source_sha,
        "snapshot": snapshot_key, "snapshot_sha256": snapshot_sha, "files_analyzed": len(code_files) - sum(repo.skipped.values()),
        "bytes_analyzed": code_bytes, "files_with_parse_errors": repo.files_with_parse_errors,
        "skipped_by_reason": dict(sorted(skipped.items())),
        "skipped_paths": {reason: (found.skipped_paths.get(reason, []) + repo.skipped_paths.get(reason, []))[:50]
                          for reason in sorted(skipped)},
        **repo.stats, "parse_seconds": round(parse_s, 3), "link_seconds": round(link_s, 3),
        "slowest_files": _slowest_files(table), "total_seconds": round(time.perf_counter() - t0, 3),
        "parallel": {"ray": use_ray, "why": why},
    }
    put_json(ctx.store, ctx.key("analyze.json"), stats)
    counts = {"files": stats["files_analyzed"], "units": repo.table.num_rows, "edges": len(repo.edges),
              **{f"units.{k}": v for k, v in repo.stats["units_by_kind"].items()},
              **{f"skipped.{k}": v for k, v in stats["skipped_by_reason"].items()},
              **{f"secrets.{k}": v for k, v in repo.stats["secrets_by_kind"].items()},
              "duplicates.exact": repo.stats["duplicates"]["exact"], "duplicates.near": repo.stats["duplicates"]["near"],
              "files_with_parse_errors": repo.files_with_parse_errors}
    return StepResult(
        outputs={"units": ctx.key("units.parquet"), "graph": ctx.key("graph.parquet"),
                 "stats": ctx.key("analyze.json")},
        counts=counts, metrics={"parse_seconds": round(parse_s, 3), "link_seconds": round(link_s, 3),
                                "mb_per_s": round(code_bytes / 1e6 / max(parse_s, 1e-9), 3)},
        summary=summary(stats))


def _slowest_files(table: pa.Table, n: int = 5) -> list[dict[str, Any]]:
    """The files that took longest to analyse, to find what slows a run down."""
    files = table.filter(pc.is_valid(table["_seconds"])).select(["path", "_seconds"]).to_pylist()
    files.sort(key=lambda f: -f["_seconds"])
    return [{"path": f["path"], "seconds": round(f["_seconds"], 3)} for f in files[:n]]


def _edges_table(edges: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    schema = pa.schema([("src", pa.string()), ("dst", pa.string()), ("kind", pa.string()),
                        ("internal", pa.bool_()), ("order", pa.int64())])
    return pa.Table.from_pylist(edges, schema=schema)


def summary(stats: dict[str, Any]) -> str:
    kinds = ", ".join(f"{v} {k}" for k, v in stats["units_by_kind"].items())
    langs = ", ".join(f"{k} {v}" for k, v in stats["files_by_language"].items())
    skipped = ", ".join(f"{k} {v}" for k, v in stats["skipped_by_reason"].items()) or "none"
    secrets = ", ".join(f"{k} {v}" for k, v in stats["secrets_by_kind"].items()) or "none"
    return (f"  {stats['repository']}: {stats['files_analyzed']} files ({langs}); units: {kinds}\n"
            f"  skipped: {skipped}; secrets redacted: {secrets}; duplicates: exact {stats['duplicates']['exact']}, "
            f"near {stats['duplicates']['near']}; parse errors in {stats['files_with_parse_errors']} files\n"
            f"  parsed {'on Ray Data' if stats['parallel']['ray'] else 'in this process'} ({stats['parallel']['why']})")
