import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pytest

from repotune.core.errors import StoreError
from repotune.core.store import (
    LocalStore, ObjectStore, get_dir, get_json, open_store, put_dir, put_json, read_table, write_table,
)


def test_protocol_and_round_trips(local_store, tmp_path):
    assert isinstance(local_store, ObjectStore)
    local_store.put_bytes("runs/r/a/x.bin", b"hello")
    assert local_store.get_bytes("runs/r/a/x.bin") == b"hello"
    assert local_store.exists("runs/r/a/x.bin") and not local_store.exists("runs/r/a/y.bin")
    assert local_store.stat("runs/r/a/x.bin").size == 5
    put_json(local_store, "runs/r/a/doc.json", {"b": 1})
    assert get_json(local_store, "runs/r/a/doc.json") == {"b": 1}
    write_table(local_store, "runs/r/a/t.parquet", [{"x": 1}, {"x": 2}])
    assert read_table(local_store, "runs/r/a/t.parquet").column("x").to_pylist() == [1, 2]
    assert [i.key for i in local_store.list("runs/r/a/")] == ["runs/r/a/doc.json", "runs/r/a/t.parquet",
                                                              "runs/r/a/x.bin"]
    assert local_store.uri("runs/r/a/x.bin").startswith("file:///")
    local_store.delete("runs/r/a/x.bin")
    assert not local_store.exists("runs/r/a/x.bin")


def test_dirs_round_trip(local_store, tmp_path):
    src = tmp_path / "adapter"
    (src / "sub").mkdir(parents=True)
    (src / "a.json").write_text("{}")
    (src / "sub" / "w.bin").write_bytes(b"\0" * 10)
    keys = put_dir(local_store, "runs/r/train/adapter", src)
    assert keys == ["runs/r/train/adapter/a.json", "runs/r/train/adapter/sub/w.bin"]
    paths = get_dir(local_store, "runs/r/train/adapter", tmp_path / "back")
    assert sorted(p.relative_to(tmp_path / "back").as_posix() for p in paths) == ["a.json", "sub/w.bin"]
    with pytest.raises(StoreError, match="nothing under"):
        get_dir(local_store, "runs/none", tmp_path / "x")


def test_pyarrow_filesystem_reads_what_the_store_wrote(local_store):
    import pyarrow.parquet as pq

    write_table(local_store, "t/x.parquet", pa.table({"a": [1, 2, 3]}))
    fs, base = local_store.pyarrow_filesystem()
    assert pq.read_table(f"{base}/t/x.parquet", filesystem=fs).num_rows == 3


def test_exception_inside_write_leaves_no_object(local_store):
    with pytest.raises(RuntimeError):
        with local_store.open_write("k/obj") as f:
            f.write(b"partial")
            raise RuntimeError("writer failed")
    assert not local_store.exists("k/obj")
    assert list(local_store.list("k/")) == []


def test_killed_writer_leaves_no_object(local_store):
    """A writer killed with SIGKILL mid-write leaves nothing at the key (and the old object intact)."""
    local_store.put_bytes("k/obj", b"old")
    script = textwrap.dedent(f"""
        import sys, time
        from repotune.core.store import LocalStore
        store = LocalStore({str(local_store.root)!r})
        with store.open_write("k/obj") as f:
            f.write(b"x" * 1_000_000)
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert local_store.get_bytes("k/obj") == b"old"
    assert [i.key for i in local_store.list("k/")] == ["k/obj"]


def test_bad_keys_and_missing_objects(local_store):
    for key in ["", "../etc/passwd", "a//b", "a/./b"]:
        with pytest.raises(StoreError, match="invalid object key"):
            local_store.put_bytes(key, b"")
    with pytest.raises(StoreError, match="no object 'missing'"):
        local_store.get_bytes("missing")


def test_full_disk_gives_a_clear_error(local_store, monkeypatch):
    import errno

    real_fsync = os.fsync

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(StoreError, match="No space left on device"):
        local_store.put_bytes("k/big", b"data")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert not local_store.exists("k/big")


def test_open_store_urls(tmp_path):
    assert isinstance(open_store(f"file://{tmp_path}/s"), LocalStore)
    assert isinstance(open_store(str(tmp_path / "plain")), LocalStore)
    with pytest.raises(StoreError, match="use 'file://"):
        open_store("ftp://host/x")


def test_unwritable_root_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot create store directory"):
        LocalStore(blocker / "sub")


@pytest.mark.parametrize("size", [0, 1, 3 << 20])
def test_put_file_get_file(local_store, tmp_path, size):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(size))
    local_store.put_file("f/obj", src)
    local_store.get_file("f/obj", tmp_path / "dst.bin")
    assert (tmp_path / "dst.bin").read_bytes() == src.read_bytes()
    time.sleep(0)
