"""The analyze step: source → files → (Ray Data) per-file analysis → repository assembly → Parquet in the store."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from repotune.analyze.discover import discover
from repotune.analyze.extract import FileAnalysis, Unit, analyze_file
from repotune.analyze.repository import assemble
from repotune.analyze.sources import resolve_source, snapshot, temp_workdir
from repotune.errors import StepError
from repotune.steps import StepContext, StepResult
from repotune.store import put_json, write_table


class AnalyzeBatch:
    """Ray Data callable: parsers are created once per worker (tree-sitter parsers are cached per process)."""

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = []
        for path, language, data in zip(batch["path"], batch["language"], batch["data"], strict=True):
            out.append(_to_json(analyze_file(bytes(data), path, language or None)))
        return {"analysis": out}


def _to_json(fa: FileAnalysis) -> str:
    return json.dumps({"path": fa.path, "language": fa.language, "imports": fa.imports, "globals": fa.globals,
                       "parse_errors": fa.parse_errors, "skip_reason": fa.skip_reason,
                       "units": [{**u.__dict__, "referenced": sorted(u.referenced)} for u in fa.units]})


def _from_json(text: str) -> FileAnalysis:
    doc = json.loads(text)
    units = [Unit(**{**u, "referenced": set(u["referenced"])}) for u in doc.pop("units")]
    return FileAnalysis(**doc, units=units)


def analyze_files(files: list[tuple[str, str | None, bytes]], *, use_ray: bool, workers: int | None,
                  batch_size: int, ray_address: str | None = None, num_cpus: int | None = None) -> list[FileAnalysis]:
    """Analyze every file, in parallel on Ray Data or in this process; results sorted by path."""
    if not use_ray or len(files) <= 1:
        return sorted((analyze_file(d, p, lang) for p, lang, d in files), key=lambda f: f.path)
    import ray

    from repotune.store_s3 import ray_runtime_env

    if not ray.is_initialized():
        ray.init(address=ray_address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, runtime_env=ray_runtime_env())
    ray.data.DataContext.get_current().enable_progress_bars = False
    items = [{"path": p, "language": lang or "", "data": d} for p, lang, d in files]
    concurrency = workers or max(1, int(ray.available_resources().get("CPU", 1)))
    ds = ray.data.from_items(items, override_num_blocks=max(concurrency, min(len(items) // batch_size, 200)))
    ds = ds.map_batches(AnalyzeBatch, batch_size=batch_size, concurrency=concurrency, batch_format="numpy")
    return sorted((_from_json(row["analysis"]) for row in ds.iter_rows()), key=lambda f: f.path)


def run_step(ctx: StepContext) -> StepResult:
    cfg = ctx.config.analyze
    t0 = time.perf_counter()
    with temp_workdir() as workdir:
        from pathlib import Path

        source = resolve_source(cfg.source, Path(workdir), ctx.store, max_archive_bytes=cfg.max_archive_bytes,
                                max_archive_files=cfg.max_archive_files)
        found = discover(source.root, cfg.vendored, cfg.max_file_bytes)
        readme = next((d.decode("utf-8", "replace") for p, _, d in found.files if p.lower().startswith("readme")), None)
        code_files = [f for f in found.files if f[1] is not None]
        if not code_files:
            raise StepError(f"no source files to analyze in {source.description} "
                            f"(skipped: {dict(found.skipped) or 'none'})")
        snapshot_key, snapshot_sha = snapshot(ctx.store, [(p, d) for p, _, d in found.files])
    t_parse = time.perf_counter()
    analyses = analyze_files(code_files, use_ray=cfg.use_ray, workers=cfg.workers, batch_size=cfg.batch_size,
                             ray_address=ctx.config.ray.address, num_cpus=ctx.config.ray.num_cpus)
    parse_s = time.perf_counter() - t_parse
    skipped = Counter(found.skipped)
    for fa in analyses:
        if fa.skip_reason:
            skipped[fa.skip_reason] += 1
    parse_error_files = sum(1 for fa in analyses if fa.parse_errors)
    repo = assemble(cfg.repository or source.name, [fa for fa in analyses if not fa.skip_reason],
                    context_tokens=cfg.context_tokens, near_duplicate_threshold=cfg.near_duplicate_threshold,
                    readme=readme)
    write_table(ctx.store, ctx.key("units.parquet"), repo.units)
    write_table(ctx.store, ctx.key("graph.parquet"), _edges_table(repo.edges))
    code_bytes = sum(len(d) for _, _, d in code_files)
    stats = {
        "source": source.description, "repository": cfg.repository or source.name, "snapshot": snapshot_key,
        "snapshot_sha256": snapshot_sha, "files_analyzed": len(analyses) - sum(1 for a in analyses if a.skip_reason),
        "bytes_analyzed": code_bytes, "files_with_parse_errors": parse_error_files,
        "skipped_by_reason": dict(sorted(skipped.items())),
        "skipped_paths": {k: v[:50] for k, v in sorted(found.skipped_paths.items())},
        **repo.stats, "parse_seconds": round(parse_s, 3), "total_seconds": round(time.perf_counter() - t0, 3),
    }
    put_json(ctx.store, ctx.key("analyze.json"), stats)
    counts = {"files": stats["files_analyzed"], "units": len(repo.units), "edges": len(repo.edges),
              **{f"units.{k}": v for k, v in repo.stats["units_by_kind"].items()},
              **{f"skipped.{k}": v for k, v in stats["skipped_by_reason"].items()},
              **{f"secrets.{k}": v for k, v in repo.stats["secrets_by_kind"].items()},
              "duplicates.exact": repo.stats["duplicates"]["exact"], "duplicates.near": repo.stats["duplicates"]["near"],
              "files_with_parse_errors": parse_error_files}
    return StepResult(
        outputs={"units": ctx.key("units.parquet"), "graph": ctx.key("graph.parquet"),
                 "stats": ctx.key("analyze.json")},
        counts=counts, metrics={"parse_seconds": round(parse_s, 3), "mb_per_s": round(code_bytes / 1e6 / max(parse_s, 1e-9), 3)},
        summary=summary(stats))


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
            f"near {stats['duplicates']['near']}; parse errors in {stats['files_with_parse_errors']} files")
