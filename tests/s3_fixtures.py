"""pytest plugin: a real S3 server (Ceph radosgw) for the tests marked `s3`.

The server is started once per test session by scripts/s3-server.sh (installed from Debian's packages when
missing) and stopped at the end if this session started it. When it cannot start, the tests FAIL with the
script's reason: a silent skip would hide a broken S3 path.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "s3-server.sh"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    @property
    def env(self) -> dict[str, str]:
        return {"REPOTUNE_S3_ENDPOINT": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key}


def _script(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    started_here = _script("status").returncode != 0
    if started_here:
        result = _script("start")
        if result.returncode != 0:
            pytest.fail(f"the S3 test server (radosgw) did not start:\n{result.stderr[-3000:]}", pytrace=False)
    env = dict(line.removeprefix("export ").split("=", 1) for line in _script("env").stdout.splitlines())
    server = S3Server(env["REPOTUNE_S3_ENDPOINT"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    yield server
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    if started_here:
        _script("stop")


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket; removed with its objects afterwards."""
    from minio import Minio

    client = Minio(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, secure=False)
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    client.make_bucket(bucket)
    yield bucket
    for obj in client.list_objects(bucket, recursive=True):
        client.remove_object(bucket, obj.object_name)
    for upload in client._list_multipart_uploads(bucket).uploads:  # aborted uploads of killed writers
        client._abort_multipart_upload(bucket, upload.object_name, upload.upload_id)
    client.remove_bucket(bucket)


@pytest.fixture
def s3_store(s3_server: S3Server, s3_bucket: str):
    """An S3Store on a fresh bucket, under a prefix (as a run on a shared bucket would be)."""
    from repotune.core.store import StoreConfig, open_store

    return open_store(StoreConfig(url=f"s3://{s3_bucket}/repotune", endpoint=s3_server.endpoint, secure=False))
