"""Object-store overhead: repotune's S3Store vs the raw `minio` client on the same S3 server.

    .venv/bin/python bench/store.py            # starts radosgw via scripts/s3-server.sh if not running
    .venv/bin/python bench/store.py --reps 7

Prints put/get MB/s (median of --reps, interleaved) for 1 MB and 64 MB objects and the overhead of the interface.
Target: overhead <= 10%.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def server_env() -> dict[str, str]:
    script = ROOT / "scripts" / "s3-server.sh"
    if subprocess.run(["bash", script, "status"], capture_output=True).returncode != 0:
        subprocess.run(["bash", script, "start"], check=True)
    out = subprocess.run(["bash", script, "env"], capture_output=True, text=True, check=True).stdout
    return dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())


def timed_pair(ours, theirs, reps: int) -> tuple[float, float]:
    """Median seconds of each, interleaved and alternating which goes first, so drift hits both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for rep in range(reps + 1):
        order = (0, 1) if rep % 2 else (1, 0)
        for which in order:
            t0 = time.perf_counter()
            (ours, theirs)[which]()
            if rep:  # the first round warms up connections and the server
                times[which].append(time.perf_counter() - t0)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    os.environ.update(server_env())
    from minio import Minio

    from repotune.core.store import StoreConfig, open_store

    endpoint = os.environ["REPOTUNE_S3_ENDPOINT"]
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    store = open_store(StoreConfig(url=f"s3://{bucket}/p", endpoint=endpoint, secure=False, create_bucket=True))
    raw = Minio(endpoint, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], secure=False)
    print(f"S3 server: Ceph radosgw at {endpoint}; median of {args.reps} repetitions")
    print(f"{'size':>6} {'op':>4} {'repotune MB/s':>14} {'raw minio MB/s':>15} {'overhead':>9}")
    worst = 0.0
    for size_mb in (1, 64):
        data = os.urandom(size_mb << 20)
        ours_put, raw_put = timed_pair(lambda: store.put_bytes("obj", data),
                                       lambda: raw.put_object(bucket, "p/raw", io.BytesIO(data), len(data)), args.reps)

        def raw_get() -> bytes:
            response = raw.get_object(bucket, "p/raw")
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        ours_get, raw_get_t = timed_pair(lambda: store.get_bytes("obj"), raw_get, args.reps)
        for op, ours, theirs in (("put", ours_put, raw_put), ("get", ours_get, raw_get_t)):
            overhead = (ours / theirs - 1) * 100
            worst = max(worst, overhead)
            print(f"{size_mb:>4}MB {op:>4} {size_mb / ours:>14.1f} {size_mb / theirs:>15.1f} {overhead:>+8.1f}%")
    for info in store.list(""):
        store.delete(info.key)
    raw.remove_object(bucket, "p/raw")
    raw.remove_bucket(bucket)
    print(f"worst overhead: {worst:+.1f}% (target <= 10%)")
    sys.exit(0)


if __name__ == "__main__":
    main()
