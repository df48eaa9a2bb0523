"""Analyze throughput on a real corpus: CPython's Lib/ (the installed Python's standard library).

    .venv/bin/python bench/analyze.py                 # the whole Lib/ (about 2 minutes on 2 cores)
    .venv/bin/python bench/analyze.py --max-mb 5      # a quicker look

Prints raw tree-sitter parse MB/s per core, full analysis MB/s per core, their ratio (target >= 0.4), and the
full analysis on Ray Data with 1 vs 2 workers (target: 2 workers >= 1.8x one). Ray start-up is excluded (a warm-up
run precedes each timing).
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-mb", type=float, default=None, help="stop after this many MB of source")
    args = parser.parse_args()
    from repotune.analyze.extract import _parser, analyze_file
    from repotune.analyze.step import analyze_files

    files = corpus(args.max_mb)
    mb = sum(len(d) for _, _, d in files) / 1e6
    print(f"corpus: {len(files)} Python files, {mb:.1f} MB from {sysconfig.get_paths()['stdlib']}")
    parser_ = _parser("python")
    t0 = time.perf_counter()
    for _, _, data in files:
        parser_.parse(data)
    raw = mb / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for path, lang, data in files:
        analyze_file(data, path, lang)
    full = mb / (time.perf_counter() - t0)
    print(f"raw tree-sitter parse:  {raw:7.2f} MB/s per core")
    print(f"full analysis:          {full:7.2f} MB/s per core")
    print(f"ratio full/raw:         {full / raw:7.3f}  (target >= 0.4)")

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    rates = {}
    for workers in (1, 2):
        analyze_files(files[:8], use_ray=True, workers=workers, batch_size=4)  # warm-up: actors, imports
        t0 = time.perf_counter()
        analyze_files(files, use_ray=True, workers=workers, batch_size=16)
        rates[workers] = mb / (time.perf_counter() - t0)
        print(f"Ray Data, {workers} worker(s): {rates[workers]:7.2f} MB/s")
    print(f"speed-up 2 vs 1 workers: {rates[2] / rates[1]:.2f}x  (target >= 1.8x)")
    ray.shutdown()


if __name__ == "__main__":
    main()
