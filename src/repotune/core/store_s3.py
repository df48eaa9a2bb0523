"""S3 / MinIO object store over the `minio` client.

Atomicity: objects up to `multipart_threshold` go in one PUT (the server stores all or nothing); larger ones go
in a multipart upload that the server assembles only when it is completed, so a writer killed mid-upload leaves
no object at the key. `open_write` spools to a local temp file and uploads on a successful close only.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from repotune.core.errors import StoreError
from repotune.core.store import ObjectInfo, StoreConfig, _atomic_download, _clean_key

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow.fs

# pyarrow's AWS SDK sends checksummed, chunked uploads without Content-Length by default; MinIO takes them but
# Ceph radosgw (and other older S3 servers) answer 411. Checksums only when required works everywhere. Set at
# import, before pyarrow initialises S3; Ray processes get it through their runtime_env (ray_runtime_env()).
PYARROW_S3_ENV = {"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
                  "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required"}
for _name, _value in PYARROW_S3_ENV.items():
    os.environ.setdefault(_name, _value)
ATTEMPTS = 3  # one call and two retries (5xx, connection errors, timeouts)
ACCESS_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}


def _read_credential(config: StoreConfig, env_name: str) -> str | None:
    value = os.environ.get(env_name)
    if value:
        return value
    if config.credentials_dir:
        path = Path(config.credentials_dir) / env_name
        if path.is_file():
            return path.read_text().strip()
    return None


def ray_runtime_env() -> dict:
    """The runtime_env for ray.init: Ray workers and Train controllers write to S3 through pyarrow too."""
    return {"env_vars": {k: os.environ.get(k, v) for k, v in PYARROW_S3_ENV.items()}}


class S3Store:
    """Objects under s3://bucket/prefix on any S3 server (MinIO, Ceph radosgw, AWS)."""

    def __init__(self, bucket: str, prefix: str, endpoint: str, access_key: str | None, secret_key: str | None,
                 *, secure: bool = True, region: str | None = None, create_bucket: bool = False,
                 key_names: tuple[str, str] = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
                 timeout_s: float = 120.0):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint = endpoint
        self.secure = secure
        self.region = region
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._keys = (access_key, secret_key)
        self._key_names = key_names
        self.timeout_s = timeout_s
        # A bounded wait per call: each of the ATTEMPTS gets an equal share of timeout_s for connect + read (urllib3's
        # total), so a hung endpoint fails after about timeout_s (plus < 1 s of backoff), not minutes.
        share = timeout_s / ATTEMPTS
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(total=share, connect=min(5.0, share)),
            retries=urllib3.Retry(total=ATTEMPTS - 1, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
            maxsize=16,
        )
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure,
                            region=region, http_client=http)
        self._check_bucket(create_bucket)

    @classmethod
    def from_config(cls, config: StoreConfig) -> S3Store:
        rest = config.url.removeprefix("s3://")
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise StoreError(f"store.url {config.url!r}: expected s3://<bucket>[/<prefix>]")
        endpoint = config.endpoint or os.environ.get("REPOTUNE_S3_ENDPOINT") or "s3.amazonaws.com"
        endpoint = endpoint.removeprefix("https://").removeprefix("http://").rstrip("/")
        return cls(bucket, prefix, endpoint,
                   _read_credential(config, config.access_key_env), _read_credential(config, config.secret_key_env),
                   secure=config.secure, region=config.region, create_bucket=config.create_bucket,
                   key_names=(config.access_key_env, config.secret_key_env), timeout_s=config.timeout_s)

    def at(self, url: str) -> S3Store:
        """Another s3://bucket/prefix on the same server with the same credentials, TLS and region (an s3://
        base model or adapter next to the run's store)."""
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not url.startswith("s3://") or not bucket:
            raise StoreError(f"{url!r}: expected s3://<bucket>[/<prefix>]")
        return S3Store(bucket, prefix, self.endpoint, *self._keys, secure=self.secure, region=self.region,
                       key_names=self._key_names, timeout_s=self.timeout_s)

    # -- errors -----------------------------------------------------------------------------------------------

    def _error(self, exc: Exception, what: str) -> StoreError:
        """One clear line; never the credentials themselves."""
        where = f"{self.url} at {self.endpoint}"
        if isinstance(exc, S3Error):
            if exc.code in ACCESS_DENIED:
                return StoreError(f"access denied by {where} while trying to {what}: check the credentials in "
                                  f"${self._key_names[0]} / ${self._key_names[1]}")
            if exc.code == "NoSuchBucket":
                return StoreError(f"bucket {self.bucket!r} does not exist at {self.endpoint} "
                                  "(create it, or set store.create_bucket=true)")
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return StoreError(f"no object {what!r} in {self.url}")
            return StoreError(f"{where} refused to {what}: {exc.code}: {exc.message}")
        if isinstance(exc, urllib3.exceptions.MaxRetryError | urllib3.exceptions.HTTPError | OSError):
            return StoreError(f"cannot reach the S3 endpoint {self.endpoint} "
                              f"({'https' if self.secure else 'http'}) to {what}: {type(exc.__cause__ or exc).__name__}")
        if isinstance(exc, ServerError | InvalidResponseError):
            return StoreError(f"{where} failed to {what}: {exc}")
        return StoreError(f"{where}: cannot {what}: {type(exc).__name__}")

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except (S3Error, ServerError, InvalidResponseError, urllib3.exceptions.HTTPError, OSError) as e:
            raise self._error(e, what) from None
        except ValueError as e:  # the client's own checks: bucket or object names
            raise StoreError(f"{self.url}: {e}") from None

    def _check_bucket(self, create: bool) -> None:
        if not all(self._keys):
            raise StoreError(f"no S3 credentials for {self.url}: set ${self._key_names[0]} and "
                             f"${self._key_names[1]} (or mount them with store.credentials_dir)")
        with self._errors(f"check bucket {self.bucket!r}"):
            if self.client.bucket_exists(self.bucket):
                return
            if not create:
                raise StoreError(f"bucket {self.bucket!r} does not exist at {self.endpoint} "
                                 "(create it, or set store.create_bucket=true)")
            self.client.make_bucket(self.bucket)

    # -- keys -------------------------------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        key = _clean_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _key(self, name: str) -> str:
        return name[len(self.prefix) + 1:] if self.prefix else name

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._name(key)}"

    # -- the ObjectStore interface ----------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        try:
            self.client.stat_object(self.bucket, self._name(key))
            return True
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return False
            raise self._error(e, f"stat {key}") from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise self._error(e, f"stat {key}") from None

    def stat(self, key: str) -> ObjectInfo:
        with self._errors(key):
            st = self.client.stat_object(self.bucket, self._name(key))
        return ObjectInfo(_clean_key(key), st.size or 0, st.etag)

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._errors(f"write {key}"):
            self.client.put_object(self.bucket, self._name(key), io.BytesIO(data), len(data))

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        with self._errors(f"write {key}"):
            self.client.fput_object(self.bucket, self._name(key), str(path))

    @contextlib.contextmanager
    def open_write(self, key: str) -> Iterator[IO[bytes]]:
        self._name(key)  # validate the key before spooling
        with tempfile.NamedTemporaryFile(prefix="repotune-s3-", suffix=".part") as spool:
            yield spool
            spool.flush()
            self.put_file(key, spool.name)

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        with self._errors(key):
            response = self.client.get_object(self.bucket, self._name(key))
        try:
            yield response  # urllib3 response: a streaming, file-like object
        finally:
            response.close()
            response.release_conn()

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as f, self._errors(f"read {key}"):
            return f.read()

    def get_file(self, key: str, path: str | os.PathLike[str]) -> None:
        _atomic_download(self.open_read, key, Path(path))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        full = f"{self.prefix}/{prefix.lstrip('/')}" if self.prefix else prefix.lstrip("/")
        with self._errors(f"list {prefix or '/'}"):
            objects = [ObjectInfo(self._key(o.object_name), o.size or 0, o.etag)
                       for o in self.client.list_objects(self.bucket, prefix=full, recursive=True)]
        yield from sorted(objects)

    def delete(self, key: str) -> None:
        with self._errors(f"delete {key}"):
            self.client.remove_object(self.bucket, self._name(key))

    def pyarrow_filesystem(self) -> tuple[pyarrow.fs.FileSystem, str]:
        """An S3FileSystem on the same endpoint, for Ray Data and Ray Train storage."""
        import pyarrow.fs

        fs = pyarrow.fs.S3FileSystem(
            access_key=self._keys[0], secret_key=self._keys[1], endpoint_override=self.endpoint,
            scheme="https" if self.secure else "http", region=self.region or "us-east-1",
            allow_bucket_creation=False, connect_timeout=min(5.0, self.timeout_s), request_timeout=self.timeout_s,
        )
        return fs, f"{self.bucket}/{self.prefix}".rstrip("/")
