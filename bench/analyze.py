"""Analyze throughput on a real corpus: CPython's Lib/ (the installed Python's standard library).

    .venv/bin/python bench/analyze.py                 # the whole Lib/ (a few minutes on 2 cores)
    .venv/bin/python bench/analyze.py --max-mb 5      # a quicker look

Prints, per core:
- raw tree-sitter parse MB/s, the per-file analysis (`analyze_file`) MB/s and the whole per-file stage work
  (`analyze_file` + the file's finished rows) MB/s, and their ratios to the raw parse (target >= 0.4). Parse and
  analysis are timed file by file, interleaved, and the best of --repeat rounds is kept per file, so a noisy
  neighbour slows both alike instead of skewing the ratio;
- the repository link (call resolution, context, duplicates) on the driver.
Then the Ray Data stage with 1 vs 2 workers (target: 2 workers >= 1.8x one): the wall time of the stage once its
workers are warm (actor start-up is timed apart), and the workers' steady-state throughput from the per-file
timestamps the stage records. Beside it, the same per-file work in 1 vs 2 plain processes (multiprocessing): the
ceiling this machine gives two processes at all, which bounds what any scheduler can reach on it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sysconfig
import time
from pathlib import Path


def corpus(max_mb: float | None) -> list[tuple[str, str, bytes]]:
    lib = Path(sysconfig.get_paths()["stdlib"])
    files, total = [], 0
    for path in sorted(lib.rglob("*.py")):
        if "site-packages" in path.parts or path.stat().st_size > 1_000_000:
            continue
        data = path.read_bytes()
        files.append((path.relative_to(lib).as_posix(), "python", data))
        total += len(data)
        if max_mb and total > max_mb * 1e6:
            break
    return files


def per_core(files, repeat: int) -> dict[str, float]:
    """Seconds for the whole corpus: raw parse, analyze_file, analyze_file + rows (best of `repeat` per file)."""
    from repotune.parsing.extract import _parser, analyze_file
    from repotune.parsing.secrets import redact
    from repotune.analyze.rows import file_rows, internal_module_names

    parser = _parser("python")
    internal = internal_module_names([p for p, _, _ in files])
    clock = time.perf_counter
    totals = {"parse": 0.0, "analyze_file": 0.0, "stage": 0.0, "redact": 0.0}
    redact("warm up")  # the secret engine compiles its rules once per process
    for index, (path, language, data) in enumerate(files):
        best = dict.fromkeys(totals, float("inf"))
        for _ in range(repeat):
            t0 = clock()
            parser.parse(data)
            t1 = clock()
            fa = analyze_file(data, path, language)
            t2 = clock()
            file_rows(fa, "cpython", index, internal, 64)
            t3 = clock()
            redact(data.decode("utf-8", "replace"))  # analyze_file leaves undecodable files out unredacted
            t4 = clock()
            best["parse"] = min(best["parse"], t1 - t0)
            best["analyze_file"] = min(best["analyze_file"], t2 - t1)
            best["stage"] = min(best["stage"], t3 - t1)
            best["redact"] = min(best["redact"], t4 - t3)
        for k in totals:
            totals[k] += best[k]
    return totals


def redactions_per_mb() -> None:
    """What the step would redact in three real repositories that hold no live credential: every finding there
    is a loss of real code, so fewer is better at equal recall (bench/secret_engines.py has the recall)."""
    import sys
    from collections import Counter

    from repotune.parsing.secrets import redact

    sys.path.insert(0, str(Path(__file__).parent))
    import corpora

    for name in corpora.repositories():
        texts, skipped = corpora.load(name)
        mb = corpora.megabytes(texts)
        counts: Counter = Counter()
        t0 = time.process_time()
        for _, text in texts:
            redact(text, counts)
        seconds = time.process_time() - t0
        kinds = ", ".join(f"{k} {v}" for k, v in counts.most_common()) or "none"
        print(f"redactions in {name} ({len(texts)} files, {mb:.1f} MB; lock files skipped: "
              f"{skipped.get('lockfile', 0)}): {sum(counts.values()) / mb:.2f} per MB, {mb / seconds:.1f} MB/s "
              f"per core; {kinds}")


def _stage_work(chunk) -> int:
    from repotune.parsing.extract import analyze_file
    from repotune.analyze.rows import file_rows

    for index, path, language, data in chunk:
        file_rows(analyze_file(data, path, language), "cpython", index, frozenset(), 64)
    return len(chunk)


def process_ceiling(files) -> dict[int, float]:
    """Seconds for the per-file stage work in 1 and 2 worker processes (warm pools, same chunks)."""
    items = [(i, p, lang, d) for i, (p, lang, d) in enumerate(files)]
    chunks = [items[i:i + 16] for i in range(0, len(items), 16)]
    seconds = {}
    ctx = multiprocessing.get_context("spawn")
    for workers in (1, 2):
        with ctx.Pool(workers) as pool:
            pool.map(_stage_work, [items[:4]] * workers)  # warm-up: imports, parsers
            t0 = time.perf_counter()
            pool.map(_stage_work, chunks, chunksize=1)
            seconds[workers] = time.perf_counter() - t0
    return seconds


def ray_stage(files, workers: int, batch_size: int) -> dict[str, float]:
    """The analyze stage on Ray Data: wall with a fresh actor pool, and the workers' steady-state span."""
    import pyarrow.compute as pc

    from repotune.analyze.step import analyze_rows

    analyze_rows(files[:2 * workers], "cpython", use_ray=True, workers=workers, batch_size=1)  # imports, caches
    t0, clock0 = time.perf_counter(), time.time()
    table = analyze_rows(files, "cpython", use_ray=True, workers=workers, batch_size=batch_size)
    wall, clock1 = time.perf_counter() - t0, time.time()
    timed = table.filter(pc.is_valid(table["_finished"]))
    finished = timed["_finished"].to_numpy()
    started = finished - timed["_seconds"].to_numpy()
    return {"wall": wall, "span": float(finished.max() - started.min()),
            "work": float(timed["_seconds"].to_numpy().sum()),
            "first": float(started.min() - clock0), "after": float(clock1 - finished.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-mb", type=float, default=None, help="stop after this many MB of source")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per file for the per-core figures")
    from repotune.analyze.config import AnalyzeConfig

    parser.add_argument("--batch-size", type=int, default=AnalyzeConfig.model_fields["batch_size"].default,
                        help="files per Ray Data batch (default: the step's)")
    parser.add_argument("--skip-ray", action="store_true", help="only the per-core figures")
    parser.add_argument("--redactions", action="store_true",
                        help="also redactions per MB on three real repositories (bench/corpora.py)")
    args = parser.parse_args()

    files = corpus(args.max_mb)
    mb = sum(len(d) for _, _, d in files) / 1e6
    print(f"corpus: {len(files)} Python files, {mb:.1f} MB from {sysconfig.get_paths()['stdlib']}; "
          f"{os.cpu_count()} CPUs")
    s = per_core(files, args.repeat)
    print(f"raw tree-sitter parse:            {mb / s['parse']:7.2f} MB/s per core")
    print(f"analyze_file:                     {mb / s['analyze_file']:7.2f} MB/s per core  "
          f"ratio to raw {s['parse'] / s['analyze_file']:.3f}")
    print(f"full analysis (analyze_file+rows):{mb / s['stage']:7.2f} MB/s per core  "
          f"ratio to raw {s['parse'] / s['stage']:.3f}  (target >= 0.4)")
    print(f"secret redaction (in analyze_file):{mb / s['redact']:6.1f} MB/s per core  "
          f"{100 * s['redact'] / s['stage']:.1f}% of the per-file stage")
    if args.redactions:
        redactions_per_mb()

    from repotune.analyze.repository import link
    from repotune.analyze.step import analyze_rows

    table = analyze_rows(files, "cpython", use_ray=False, workers=None, batch_size=32)
    t0 = time.perf_counter()
    repo = link("cpython", table)
    print(f"link on the driver:               {time.perf_counter() - t0:7.2f} s for {repo.table.num_rows} units, "
          f"{len(repo.edges)} edges")
    if args.skip_ray:
        return

    ceiling = process_ceiling(files)
    print(f"2 plain processes vs 1:           {ceiling[1] / ceiling[2]:7.2f}x  "
          f"({mb / ceiling[1]:.2f} vs {mb / ceiling[2]:.2f} MB/s): this machine's ceiling for 2 workers")

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    runs = {w: ray_stage(files, w, args.batch_size) for w in (1, 2)}
    ray.shutdown()
    for w, r in runs.items():
        print(f"Ray Data, {w} worker(s):           wall {r['wall']:6.2f} s ({mb / r['wall']:.2f} MB/s), "
              f"workers busy {r['span']:6.2f} s ({mb / r['span']:.2f} MB/s), work {r['work']:.2f} s; "
              f"first file started after {r['first']:.2f} s, rows back {r['after']:.2f} s after the last")
    print(f"speed-up 2 vs 1 workers:          wall {runs[1]['wall'] / runs[2]['wall']:.2f}x, "
          f"steady state {runs[1]['span'] / runs[2]['span']:.2f}x  (target >= 1.8x; ceiling "
          f"{ceiling[1] / ceiling[2]:.2f}x)")


if __name__ == "__main__":
    main()
