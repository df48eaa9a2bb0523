"""Label throughput and cost against the real HTTP test server (no paid API).

    .venv/bin/python bench/label.py                  # latency 200 ms, concurrency 1, 8, 64
    .venv/bin/python bench/label.py --latency-ms 100 --waves 16
    .venv/bin/python bench/label.py --concurrency 64 --ray-actors 4   # also through 4 Ray actors (label.use_ray)
    .venv/bin/python bench/label.py --memory-units 200000 --ray-actors 2   # driver peak RSS, offline backend

Prints requests/s at each concurrency C against the bound C/L (L = the server's latency; goal >= 90% of it at
64), then calls and tokens per unit in single-request mode vs the patent's per-aspect mode on the same units.
Each concurrency labels C x --waves units (32 waves: 6.4 s at the bound, whatever C), timed over the whole
label_units call: start-up, prompt rendering, cache writes and the last wave included. The client's CPU time
per request is printed beside it: on a small machine the client and the server share the cores.
Every level writes a fresh cache (every request is paid) under ./.repotune, where a run's store is; the caches
are deleted at the end only, because deleting thousands of files slows the file system for a while on some
machines.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


class ServerProcess:
    """The test server in its own process, as a real endpoint would be (not sharing the client's GIL)."""

    def __init__(self, latency_ms: float):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.latency_ms = latency_ms
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "ServerProcess":
        import subprocess
        import sys
        import urllib.request

        self.proc = subprocess.Popen([sys.executable, "-m", "repotune", "label-testserver", "--port", str(self.port),
                                      "--latency-ms", str(self.latency_ms)], stdout=subprocess.DEVNULL)
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1)
            except urllib.error.HTTPError:
                return self  # it answers (404 on /): up
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("test server did not start")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--waves", type=int, default=32, help="units per run = concurrency x waves")
    parser.add_argument("--ray-actors", type=int, default=0, help="also label each level through this many Ray "
                        "actors sharing the concurrency, twice: on a new pool (Ray started before the timing, the "
                        "actors' start inside it), then on that pool started (other units, so none is cached)")
    parser.add_argument("--memory-units", type=int, default=0, help="only this: label a stored table of that many "
                        "units offline (copies of repotune's own) in a fresh process, in process and through "
                        "--ray-actors actors, and print the driver's peak RSS")
    args = parser.parse_args()
    if args.memory_units:
        return memory(args.memory_units, args.ray_actors)
    from repotune.analyze.discover import discover
    from repotune.analyze.step import analyze_repository
    from repotune.label.config import LabelConfig
    from repotune.label.step import label_units
    from repotune.llm.config import LLMEndpointConfig
    from repotune.core.store import LocalStore

    import repotune

    root = Path(repotune.__file__).parents[1]  # repotune's own code is the corpus
    files = [f for f in discover(root, ["**/samples/**"], 1_000_000).files if f[1] == "python"]
    base = [u for u in analyze_repository(files, "repotune").units if u["kind"] in ("function", "method")]
    # enough distinct requests for the largest concurrency: copies of the units under new ids (new cache keys)
    most = max(args.concurrency) * args.waves
    units = [{**u, "unit_id": f"{u['unit_id']}-{i}"} for i in range(-(-most // len(base))) for u in base][:most]
    again = [{**u, "unit_id": f"{u['unit_id']}-again"} for u in units]  # a second pass on a started pool, unasked
    latency = args.latency_ms / 1000
    print(f"{len(base)} function/method units of repotune's own code (repeated to {len(units)}); "
          f"server latency {args.latency_ms:.0f} ms, server in its own process")
    server = ServerProcess(args.latency_ms)
    # where a real run keeps its store (./.repotune): on some machines /tmp creates files 30x slower
    (Path(".repotune")).mkdir(exist_ok=True)
    caches = Path(tempfile.mkdtemp(prefix="bench-label-", dir=".repotune"))
    with server:
        print(f"{'concurrency':>19} {'units':>6} {'seconds':>8} {'req/s':>8} {'bound C/L':>10} {'of bound':>9} "
              f"{'client CPU ms/req':>18}")
        ways = [0, args.ray_actors] if args.ray_actors else [0]
        if args.ray_actors:
            from repotune.core.ray_setup import ensure_ray

            ensure_ray(None)
        for concurrency in args.concurrency:
            for actors in ways:
                n = concurrency * args.waves
                llm = LLMEndpointConfig(base_url=server.url, model="bench", concurrency=concurrency)
                store = LocalStore(caches / f"c{concurrency}-a{actors}")
                pool = None
                if actors:  # one pool for both passes: the first starts it, the second finds it started
                    from repotune.label.ray_levels import RayLabeller

                    pool = RayLabeller(LabelConfig(backend="openai"), llm, {"url": store.url}, None, actors)
                passes = [("", units[:n])] if not actors else [(" new", units[:n]), (" started", again[:n])]
                for name, batch in passes:
                    on_ray = {"use_ray": True, "actors": actors, "pool": pool} if actors else {}
                    t0, cpu0 = time.perf_counter(), time.process_time()
                    rows = label_units(batch, LabelConfig(backend="openai"), store, llm, **on_ray)
                    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                    requests = sum(r["requests"] for r in rows)
                    rate, bound = requests / seconds, concurrency / latency
                    where = f"{concurrency} ray{actors}{name}" if actors else f"{concurrency}"
                    print(f"{where:>19} {n:>6} {seconds:>8.2f} {rate:>8.1f} {bound:>10.1f} {rate / bound:>8.0%} "
                          f"{cpu * 1000 / requests:>18.2f}" + (" (driver only)" if actors else ""))
                if pool:
                    pool.close()
        sample = base[:32]
        print(f"\nmode comparison on the same {len(sample)} units:")
        print(f"{'mode':>10} {'calls/unit':>11} {'prompt tok/unit':>16} {'completion tok/unit':>20}")
        for mode in ("single", "per-aspect"):
            llm = LLMEndpointConfig(base_url=server.url, model="bench", concurrency=32)
            rows = label_units(sample, LabelConfig(backend="openai", mode=mode), LocalStore(caches / mode), llm)
            print(f"{mode:>10} {sum(r['requests'] for r in rows) / len(sample):>11.1f} "
                  f"{sum(r['prompt_tokens'] for r in rows) / len(sample):>16.0f} "
                  f"{sum(r['completion_tokens'] for r in rows) / len(sample):>20.0f}")
    shutil.rmtree(caches)


def memory(count: int, actors: int) -> None:
    """Peak RSS of the driver labelling a stored table of `count` units offline (the label step's own streaming
    path), in process and through `actors` Ray actors: one child process writes the table, a fresh one labels it."""
    import subprocess
    import sys

    Path(".repotune").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-label-memory-", dir=Path(".repotune").resolve()))
    make = f"""
from pathlib import Path
import repotune
from repotune.analyze.discover import discover
from repotune.analyze.step import analyze_repository
from repotune.core.store import LocalStore, write_table
root = Path(repotune.__file__).parents[1]
files = [f for f in discover(root, ["**/samples/**"], 1_000_000).files if f[1] == "python"]
base = analyze_repository(files, "repotune").units
# each copy its own strings, as a real table of that size has (copies sharing one code string would hide its cost)
units = [dict(u, unit_id=f"{{u['unit_id']}}-{{i}}", parent_id=u["parent_id"] and f"{{u['parent_id']}}-{{i}}",
              code=(u["code"] or "") + f"\\n# copy {{i}}")
         for i in range(-(-{count} // len(base))) for u in base][:{count}]
write_table(LocalStore({str(folder)!r}), "units.parquet", units)
print(f"{{len(units)}} units (copies of repotune's own {{len(base)}}) written to a stored table")
"""
    label = """
import resource, sys, time
from repotune.core.ray_setup import RayConfig
from repotune.core.store import LocalStore
from repotune.label.config import LabelConfig
from repotune.label.step import label_stored_units
store, use_ray = LocalStore(sys.argv[1]), sys.argv[2] != "0"
cfg = LabelConfig(use_ray=use_ray, **({"actors": int(sys.argv[2])} if use_ray else {}))
t0 = time.perf_counter()
stats = label_stored_units(store, "units.parquet", f"label-{sys.argv[2]}/", cfg, __import__("repotune.llm.config",
                           fromlist=["x"]).LLMEndpointConfig(), RayConfig(), {"url": store.url})
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
where = f"{sys.argv[2]} Ray actors" if use_ray else "in process"
print(f"{where:>14}: {stats['ok']}/{stats['units']} units labelled offline from the stored table in {seconds:.1f} s "
      f"({stats['units'] / seconds:.0f} units/s); driver peak RSS {peak:.2f} GiB")
"""
    try:
        subprocess.run([sys.executable, "-c", make], check=True)
        for way in [0, actors] if actors else [0]:
            subprocess.run([sys.executable, "-c", label, str(folder), str(way)], check=True)
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
