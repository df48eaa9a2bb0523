"""A real-model labelling run: SmolLM2-135M-Instruct (from the PyPI wheel's GGUF) on CPU describes functions of a
real library (default: the installed `minio` package's source).

    .venv/bin/python bench/label_local.py                     # 24 functions of minio
    .venv/bin/python bench/label_local.py --source DIR --units 40
    .venv/bin/python bench/label_local.py --ray-actors 1,2    # also on Ray: units/s with 1 and 2 actors

Prints seconds per unit and three sample outputs next to the functions' own docstrings.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    import minio

    parser.add_argument("--source", default=str(Path(minio.__file__).parent))
    parser.add_argument("--units", type=int, default=24)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--ray-actors", default="", help="comma list of actor counts: label the same units on Ray "
                        "Data with each (one CPU and one torch thread per actor) and compare units/s")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    from repotune.analyze.discover import discover
    from repotune.analyze.step import analyze_repository
    from repotune.label.config import LabelConfig
    from repotune.label.local import LocalModelWriter
    from repotune.label.step import label_units

    files = [f for f in discover(Path(args.source), [], 1_000_000).files if f[1]]
    units = [u for u in analyze_repository(files, Path(args.source).name).units
             if u["kind"] in ("function", "method") and u["docstring"] and len(u["code"]) < 1500]
    random.Random(0).shuffle(units)
    units = units[: args.units]
    cfg = LabelConfig(backend="local", local_model=args.model, local_max_tokens=60)
    t0 = time.perf_counter()
    LocalModelWriter(cfg, None)  # load once, outside the timing (conversion is cached after the first run)
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        from repotune.core.store import LocalStore

        t0 = time.perf_counter()
        rows = label_units(units, cfg, LocalStore(tmp))
        seconds = time.perf_counter() - t0
    ok = sum(r["status"] == "ok" and r["source"] == "local" for r in rows)
    print(f"{args.model} on CPU: {ok}/{len(units)} functions of {args.source} labelled in {seconds:.1f}s "
          f"({seconds / len(units):.2f}s per unit; model load {load_s:.1f}s)")
    if args.ray_actors:
        on_ray(units, cfg, [int(n) for n in args.ray_actors.split(",")], rows)
    for unit, row in list(zip(units, rows, strict=True))[:3]:
        print(f"\n{unit['qualified_name']}\n  docstring: {unit['docstring'].splitlines()[0]}\n"
              f"  model:     {row['description']}\n  title/tags: {row['title']} / {row['tags']}")


def on_ray(units: list[dict], cfg, actor_counts: list[int], in_process: list[dict]) -> None:
    """The same units through label.use_ray with N actors, two figures each: the whole call on a new pool (the
    actors' start and model load included, as one labelling run pays them) and the labelling rate of a pool
    already started (a second pass over the same units on the same actors)."""
    from repotune.core.ray_setup import RayConfig, ensure_ray
    from repotune.llm.config import LLMEndpointConfig
    from repotune.label.ray_levels import RayLabeller
    from repotune.label.step import label_units

    ensure_ray(RayConfig())
    cold, warm = {}, {}
    for actors in actor_counts:
        pool = RayLabeller(cfg, LLMEndpointConfig(), None, RayConfig(), actors)
        try:
            t0 = time.perf_counter()
            label_units(units, cfg, None, use_ray=True, actors=actors, pool=pool)  # starts the actors, loads the model
            cold[actors] = len(units) / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            rows = label_units(units, cfg, None, use_ray=True, actors=actors, pool=pool)
            seconds = time.perf_counter() - t0
        finally:
            pool.close()
        warm[actors] = len(units) / seconds
        same = sum(a == b for a, b in zip(rows, in_process, strict=True))
        first = actor_counts[0]
        print(f"Ray, {actors} actor(s): started pool {seconds:.1f}s, {warm[actors]:.3f} units/s "
              f"(x{warm[actors] / warm[first]:.2f} of {first}); new pool, start-up and model load included "
              f"{cold[actors]:.3f} units/s (x{cold[actors] / cold[first]:.2f}); rows equal to in-process: "
              f"{same}/{len(units)}")


if __name__ == "__main__":
    main()
