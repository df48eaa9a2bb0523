"""S3Store against a real S3 server (Ceph radosgw, tests/s3_fixtures.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repotune.core.errors import StoreError
from repotune.core.store import ObjectStore, StoreConfig, get_dir, open_store, put_dir, read_table, write_table

pytestmark = pytest.mark.s3


def test_round_trips(s3_store):
    assert isinstance(s3_store, ObjectStore)
    s3_store.put_bytes("runs/r/b.bin", b"2")
    s3_store.put_bytes("runs/r/a.bin", b"1")
    s3_store.put_bytes("other/c.bin", b"3")
    assert s3_store.get_bytes("runs/r/a.bin") == b"1"
    assert [i.key for i in s3_store.list("runs/")] == ["runs/r/a.bin", "runs/r/b.bin"]
    assert s3_store.stat("runs/r/a.bin").size == 1
    assert s3_store.exists("runs/r/a.bin") and not s3_store.exists("runs/r/zzz")
    assert s3_store.uri("runs/r/a.bin") == f"{s3_store.url}/runs/r/a.bin"
    s3_store.delete("runs/r/a.bin")
    assert not s3_store.exists("runs/r/a.bin")
    with pytest.raises(StoreError, match="no object 'runs/r/a.bin'"):
        s3_store.get_bytes("runs/r/a.bin")


def test_tables_and_dirs(s3_store, tmp_path):
    write_table(s3_store, "t/x.parquet", [{"a": 1}, {"a": 2}])
    assert read_table(s3_store, "t/x.parquet").column("a").to_pylist() == [1, 2]
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "w.safetensors").write_bytes(b"w" * 1000)
    put_dir(s3_store, "runs/r/train/adapter", tmp_path / "adapter")
    [path] = get_dir(s3_store, "runs/r/train/adapter", tmp_path / "back")
    assert path.read_bytes() == b"w" * 1000


def test_large_object_streams(s3_store, tmp_path):
    """64 MB goes up in a multipart upload and comes back as a stream, in chunks."""
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(1 << 20) * 64)
    s3_store.put_file("big/obj", src)
    assert s3_store.stat("big/obj").size == 64 << 20
    total = 0
    with s3_store.open_read("big/obj") as stream:
        while chunk := stream.read(4 << 20):
            total += len(chunk)
    assert total == 64 << 20
    s3_store.get_file("big/obj", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()


def test_exception_inside_write_uploads_nothing(s3_store):
    with pytest.raises(RuntimeError), s3_store.open_write("k/obj") as f:
        f.write(b"partial")
        raise RuntimeError("writer failed")
    assert not s3_store.exists("k/obj")


def test_writer_killed_mid_multipart_upload_leaves_no_object(s3_server, s3_store):
    """SIGKILL after the first part of a multipart upload: no object at the key, the old one intact."""
    s3_store.put_bytes("k/obj", b"old")
    script = textwrap.dedent(f"""
        import os, sys, time
        from minio import Minio
        from repotune.core.store import StoreConfig, open_store
        real_upload_part = Minio._upload_part
        def upload_part_then_stall(self, *args, **kwargs):  # fault injection: stall after part 1
            result = real_upload_part(self, *args, **kwargs)
            print("part uploaded", flush=True)
            time.sleep(120)
            return result
        Minio._upload_part = upload_part_then_stall
        store = open_store(StoreConfig(url={s3_store.url!r}, endpoint={s3_server.endpoint!r}, secure=False))
        with store.open_write("k/obj") as f:
            f.write(os.urandom(40 << 20))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=os.environ)
    try:
        # minio uploads parts in parallel threads: two may print on one line
        assert proc.stdout.readline().startswith("part uploaded")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert s3_store.get_bytes("k/obj") == b"old"
    assert [i.key for i in s3_store.list("k/")] == ["k/obj"]


def test_wrong_credentials_are_a_clear_error_without_the_secret(s3_server, s3_bucket, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-value-123")
    with pytest.raises(StoreError) as err:
        open_store(StoreConfig(url=f"s3://{s3_bucket}", endpoint=s3_server.endpoint, secure=False))
    message = str(err.value)
    assert "access denied" in message and "$AWS_SECRET_ACCESS_KEY" in message
    assert "wrong-secret-value-123" not in message and s3_server.access_key not in message


def test_missing_credentials(s3_server, s3_bucket, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    with pytest.raises(StoreError, match=r"no S3 credentials .* \$AWS_ACCESS_KEY_ID"):
        open_store(StoreConfig(url=f"s3://{s3_bucket}", endpoint=s3_server.endpoint, secure=False))


def test_credentials_from_a_mounted_secret(s3_server, s3_bucket, monkeypatch, tmp_path):
    for name, value in (("AWS_ACCESS_KEY_ID", s3_server.access_key), ("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)):
        (tmp_path / name).write_text(value + "\n")
        monkeypatch.delenv(name)
    store = open_store(StoreConfig(url=f"s3://{s3_bucket}", endpoint=s3_server.endpoint, secure=False,
                                   credentials_dir=str(tmp_path)))
    store.put_bytes("x", b"1")
    assert store.get_bytes("x") == b"1"


def test_missing_bucket(s3_server):
    config = StoreConfig(url="s3://no-such-bucket-xyz", endpoint=s3_server.endpoint, secure=False)
    with pytest.raises(StoreError, match="bucket 'no-such-bucket-xyz' does not exist"):
        open_store(config)
    with pytest.raises(StoreError, match="invalid bucket name"):
        open_store(StoreConfig(url="s3://ab", endpoint=s3_server.endpoint, secure=False))


def test_create_bucket_when_asked(s3_server):
    from minio import Minio

    config = StoreConfig(url="s3://created-by-test/p", endpoint=s3_server.endpoint, secure=False, create_bucket=True)
    open_store(config).put_bytes("k", b"v")
    Minio(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, secure=False).remove_object(
        "created-by-test", "p/k")


def test_unreachable_endpoint_fails_fast(s3_server):
    start = time.monotonic()
    with pytest.raises(StoreError, match=r"cannot reach the S3 endpoint 127\.0\.0\.1:9 "):
        open_store(StoreConfig(url="s3://bucket", endpoint="127.0.0.1:9", secure=False))
    assert time.monotonic() - start < 30


def test_pyarrow_filesystem(s3_store):
    fs, base = s3_store.pyarrow_filesystem()
    pq.write_table(pa.table({"x": [1, 2, 3]}), f"{base}/pa/t.parquet", filesystem=fs)
    assert read_table(s3_store, "pa/t.parquet").num_rows == 3
