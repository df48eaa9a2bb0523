"""The object store: one interface over a local directory (file://) and S3/MinIO (s3://).

Every step reads and writes through an `ObjectStore`. Keys are '/'-separated paths relative to the store's
root (`runs/<run_id>/<step>/units.parquet`). Writes are atomic: a reader never sees a partial object.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from repotune.core.errors import StoreError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow.fs


class StoreConfig(BaseModel):
    """Where runs are stored. Credentials never live here: they come from the environment or a mounted Secret."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        "file://.repotune",
        description="Root of the store: 'file://<dir>' (relative paths resolve against the working directory) "
        "or 's3://<bucket>[/<prefix>]'.",
    )
    endpoint: str | None = Field(
        None,
        description="S3 endpoint 'host:port' (MinIO, radosgw). Default: $REPOTUNE_S3_ENDPOINT, else s3.amazonaws.com.",
    )
    region: str | None = Field(None, description="S3 region; None lets the client discover it.")
    secure: bool = Field(True, description="Use TLS (https) for the S3 endpoint.")
    access_key_env: str = Field(
        "AWS_ACCESS_KEY_ID", description="Environment variable that holds the S3 access key."
    )
    secret_key_env: str = Field(
        "AWS_SECRET_ACCESS_KEY", description="Environment variable that holds the S3 secret key."
    )
    credentials_dir: str | None = Field(
        None,
        description="Directory of a mounted Kubernetes Secret with files named like the two variables above "
        "(read when the variables are unset).",
    )
    create_bucket: bool = Field(False, description="Create the bucket when it does not exist.")
    timeout_s: float = Field(120.0, gt=0, le=3600, description="Longest wait of one S3 call, its retries "
                             "included (connect and each read); a hung endpoint fails the step (exit 3) after it.")


class ObjectInfo(NamedTuple):
    key: str
    size: int
    etag: str | None = None


@runtime_checkable
class ObjectStore(Protocol):
    """What every step may use. Implemented by `LocalStore` and `S3Store`."""

    url: str

    def exists(self, key: str) -> bool: ...
    def stat(self, key: str) -> ObjectInfo: ...
    def put_bytes(self, key: str, data: bytes) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def put_file(self, key: str, path: str | os.PathLike[str]) -> None: ...
    def get_file(self, key: str, path: str | os.PathLike[str]) -> None: ...
    def open_read(self, key: str) -> contextlib.AbstractContextManager[IO[bytes]]: ...
    def open_write(self, key: str) -> contextlib.AbstractContextManager[IO[bytes]]: ...
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...
    def delete(self, key: str) -> None: ...
    def uri(self, key: str) -> str: ...
    def pyarrow_filesystem(self) -> tuple[pyarrow.fs.FileSystem, str]: ...


def _clean_key(key: str) -> str:
    key = key.strip("/")
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") for p in parts):
        raise StoreError(f"invalid object key {key!r}: use '/'-separated names without '.', '..' or empty parts")
    return key


class LocalStore:
    """A directory on disk. Atomic writes: temp file in the same directory, fsync, then rename."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create store directory {self.root}: {e.strerror}") from e
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / _clean_key(key)

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise StoreError(f"no object {key!r} in {self.url}") from None
        return ObjectInfo(_clean_key(key), st.st_size, f"{st.st_mtime_ns:x}-{st.st_size:x}")

    @contextlib.contextmanager
    def open_write(self, key: str) -> Iterator[IO[bytes]]:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        except OSError as e:
            raise StoreError(f"cannot write {key!r} in {self.url}: {e.strerror}") from e
        try:
            with os.fdopen(fd, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException as e:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
                raise StoreError(f"cannot write {key!r} in {self.url}: {e.strerror}") from e
            raise

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        try:
            f = open(self._path(key), "rb")
        except FileNotFoundError:
            raise StoreError(f"no object {key!r} in {self.url}") from None
        with f:
            yield f

    def put_bytes(self, key: str, data: bytes) -> None:
        with self.open_write(key) as f:
            f.write(data)

    def open_append(self, key: str) -> IO[bytes]:
        """A file to append to (a journal): not atomic like the other writes, so only for line-oriented objects
        whose reader skips a torn last line. Local stores only: S3 objects cannot be appended to."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return open(path, "ab")
        except OSError as e:
            raise StoreError(f"cannot append to {key!r} in {self.url}: {e.strerror}") from e

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as f:
            return f.read()

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        with open(path, "rb") as src, self.open_write(key) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)

    def get_file(self, key: str, path: str | os.PathLike[str]) -> None:
        _atomic_download(self.open_read, key, Path(path))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        prefix = prefix.lstrip("/")
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        found = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".") and name.endswith(".part"):
                    continue  # an in-flight write is not an object
                full = Path(dirpath) / name
                key = full.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    st = full.stat()
                    found.append(ObjectInfo(key, st.st_size, f"{st.st_mtime_ns:x}-{st.st_size:x}"))
        yield from sorted(found)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def pyarrow_filesystem(self) -> tuple[pyarrow.fs.FileSystem, str]:
        import pyarrow.fs

        return pyarrow.fs.LocalFileSystem(), str(self.root)


def _atomic_download(open_read: Any, key: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as dst, open_read(key) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def open_store(config: StoreConfig | str) -> ObjectStore:
    """The store for a config or a bare URL ('file://dir', 's3://bucket/prefix')."""
    if isinstance(config, str):
        config = StoreConfig(url=config)
    url = config.url
    if url.startswith("file://"):
        return LocalStore(url.removeprefix("file://") or ".")
    if url.startswith("s3://"):
        from repotune.core.store_s3 import S3Store

        return S3Store.from_config(config)
    if "://" not in url:
        return LocalStore(url)
    raise StoreError(f"store.url {url!r}: use 'file://<dir>' or 's3://<bucket>[/<prefix>]'")


# Helpers every step uses: JSON documents, Parquet tables and whole directories (adapters, checkpoints).


def put_json(store: ObjectStore, key: str, doc: Any) -> None:
    store.put_bytes(key, json.dumps(doc, indent=2, sort_keys=True, default=str).encode())


def get_json(store: ObjectStore, key: str) -> Any:
    return json.loads(store.get_bytes(key))


def write_table(store: ObjectStore, key: str, table: Any) -> None:
    """Write a pyarrow Table (or a list of dicts) as Parquet, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pylist(list(table))
    with store.open_write(key) as f:
        pq.write_table(table, f, compression="zstd", row_group_size=ROW_GROUP_ROWS)


# Row groups small enough that a reader streaming a table (open_table) holds one group's columns, not the table's
ROW_GROUP_ROWS = 16_384


@contextlib.contextmanager
def open_table(store: ObjectStore, key: str) -> Iterator[Any]:
    """A Parquet object as a pyarrow ParquetFile, to read in batches without holding the table in memory: a local
    store's file where it lies, any other store's object spooled to a temporary file first."""
    import pyarrow.parquet as pq

    with store.open_read(key) as f:
        if f.seekable():
            with pq.ParquetFile(f) as table:
                yield table
            return
    with tempfile.TemporaryDirectory(prefix="repotune-table-") as folder:
        path = Path(folder) / "table.parquet"
        store.get_file(key, path)
        with pq.ParquetFile(path) as table:
            yield table


@contextlib.contextmanager
def table_writer(store: ObjectStore, key: str, schema: Any) -> Iterator[Callable[[Any], None]]:
    """write(rows) appends rows (dicts, or a pyarrow Table of the schema) to a Parquet object written as a stream;
    the object appears whole when the block ends, and not at all when it raises."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with store.open_write(key) as f, pq.ParquetWriter(f, schema, compression="zstd") as writer:
        def write(rows: list[dict[str, Any]] | Any) -> None:
            table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows), schema=schema)
            if table.num_rows:
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)

        yield write


def read_table(store: ObjectStore, key: str) -> Any:
    import io

    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(store.get_bytes(key)))


def put_dir(store: ObjectStore, prefix: str, local_dir: str | os.PathLike[str]) -> list[str]:
    """Upload every file under local_dir to prefix/<relative path>; returns the keys."""
    local_dir = Path(local_dir)
    keys = []
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        key = f"{prefix.rstrip('/')}/{path.relative_to(local_dir).as_posix()}"
        store.put_file(key, path)
        keys.append(key)
    return keys


def get_dir(store: ObjectStore, prefix: str, local_dir: str | os.PathLike[str]) -> list[Path]:
    """Download every object under prefix/ into local_dir, keeping relative paths."""
    prefix = prefix.rstrip("/") + "/"
    paths = []
    for info in store.list(prefix):
        dest = Path(local_dir) / info.key[len(prefix):]
        store.get_file(info.key, dest)
        paths.append(dest)
    if not paths:
        raise StoreError(f"nothing under {prefix!r} in {store.url}")
    return paths
