"""Where the code comes from: a local directory, a git URL (+#ref), a tarball/zip, a store prefix or a bundled
sample. Everything is materialised as a local directory; archives are unpacked safely (no path traversal, no
links leaving the root, bounded expansion). The snapshot is stored content-addressed for reproducibility."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

from repotune.core.errors import StepError
from repotune.core.store import ObjectStore

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz", ".zip")


@dataclass
class Source:
    root: Path
    name: str
    description: str
    skipped_paths: dict[str, list[str]] = field(default_factory=dict)  # entries left out while materialising


URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def without_credentials(text: str) -> str:
    """text with the user:token part of every URL in it replaced by *** (what is stored and printed)."""
    return URL_CREDENTIALS.sub("***@", text)


def _is_bare_repository(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _repo_name(text: str) -> str:
    name = text.rstrip("/").rsplit("/", 1)[-1].split("#", 1)[0]
    for suffix in (*ARCHIVE_SUFFIXES, ".git"):
        name = name.removesuffix(suffix)
    return name or "repository"


def check_archive(members: list[tuple[str, int, bool]], max_bytes: int, max_files: int) -> None:
    """members: (name, size, is_link_or_special). Refuse traversal, absolute paths and bombs."""
    if len(members) > max_files:
        raise StepError(f"archive has {len(members)} entries, more than analyze.max_archive_files={max_files}")
    total = 0
    for name, size, special in members:
        parts = PurePosixPath(name.replace("\\", "/")).parts  # zips written on Windows separate with '\\'
        if name.startswith(("/", "\\")) or ".." in parts or re.match(r"[A-Za-z]:", name):
            raise StepError(f"archive entry {name!r} escapes the extraction directory (path traversal); refused")
        total += size
    if total > max_bytes:
        raise StepError(f"archive expands to {total} bytes, more than analyze.max_archive_bytes={max_bytes}")


def extract_archive(path: Path, dest: Path, max_bytes: int, max_files: int) -> dict[str, list[str]]:
    """Extract a checked archive into dest; returns the entries left out, by reason."""
    skipped: dict[str, list[str]] = {}
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            check_archive([(i.filename, i.file_size, False) for i in infos], max_bytes, max_files)
            for info in infos:
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    skipped.setdefault("archive_symlink", []).append(info.filename)  # not followed
                    continue
                z.extract(info, dest)
        return skipped
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        check_archive([(m.name, m.size, not (m.isfile() or m.isdir())) for m in members], max_bytes, max_files)
        try:
            tar.extractall(dest, filter="data")  # rejects links and devices that leave dest
        except tarfile.FilterError as e:
            raise StepError(f"archive {path.name}: {e}; refused") from None
    return skipped


def resolve_source(spec: str, workdir: Path, store: ObjectStore | None, *, max_archive_bytes: int,
                   max_archive_files: int) -> Source:
    """Materialise the source spec under workdir (or point at the local directory) and return it."""
    if spec.startswith("sample:"):
        name = spec.removeprefix("sample:")
        sample = resources.files("repotune").joinpath("samples", name)
        if not sample.is_dir():
            available = sorted(p.name for p in resources.files("repotune").joinpath("samples").iterdir())
            raise StepError(f"no bundled sample {name!r}; samples: {', '.join(available)}")
        return Source(Path(str(sample)), name, f"bundled sample {name}")
    if spec.startswith("store:"):
        if store is None:
            raise StepError("a store: source needs a store")
        prefix = spec.removeprefix("store:").strip("/")
        from repotune.core.store import get_dir

        dest = workdir / "src"
        get_dir(store, prefix, dest)
        return Source(dest, _repo_name(prefix), f"store prefix {prefix}")
    bare = Path(spec.partition("#")[0]).expanduser()
    if _is_bare_repository(bare):  # a local bare repository is cloned like any other
        spec = bare.resolve().as_uri() + spec[len(spec.partition("#")[0]):]
    if spec.startswith(("http://", "https://", "git@", "ssh://", "git://", "file://")) and \
            not spec.endswith(ARCHIVE_SUFFIXES):
        url, _, ref = spec.partition("#")
        dest = workdir / "src"
        clone = ["git", "clone", "--quiet", *(["--branch", ref] if ref else []), url, str(dest)]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        result = subprocess.run([*clone[:2], "--depth", "1", *clone[2:]], capture_output=True, text=True,
                                timeout=600, env=env)
        if result.returncode != 0 and "shallow" in result.stderr:  # servers of git's dumb HTTP protocol
            shutil.rmtree(dest, ignore_errors=True)
            result = subprocess.run(clone, capture_output=True, text=True, timeout=600, env=env)
        if result.returncode != 0:
            reason = without_credentials(" ".join(result.stderr.strip().splitlines()[-1:]))
            raise StepError(f"git clone of {without_credentials(url)} failed: {reason}")
        return Source(dest, _repo_name(url), f"git {without_credentials(url)}" + (f"@{ref}" if ref else ""))
    path = Path(spec).expanduser()
    if path.is_dir():
        return Source(path.resolve(), path.resolve().name, f"directory {path}")
    if path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES):
        dest = workdir / "src"
        dest.mkdir(parents=True)
        try:
            skipped = extract_archive(path, dest, max_archive_bytes, max_archive_files)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
            raise StepError(f"cannot read archive {path}: {e}") from None
        entries = list(dest.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else dest
        return Source(root, _repo_name(path.name), f"archive {path.name}", skipped)
    raise StepError(f"analyze.source {without_credentials(spec)!r}: not a directory, archive, git URL, store: prefix "
                    "or sample:")


def files_digest(files: list[tuple[str, bytes]]) -> str:
    """sha256 over the sorted paths and their contents' hashes: equal file sets, equal digests."""
    return hashlib.sha256(b"".join(p.encode() + b"\0" + hashlib.sha256(d).digest() for p, d in sorted(files))).hexdigest()


def snapshot(store: ObjectStore, files: list[tuple[str, bytes]]) -> tuple[str, str]:
    """Store files as a deterministic tar.gz under sources/<sha256>.tar.gz; returns (key, sha). The analyze step
    gives it the files as its units hold them, secrets redacted: raw source text never reaches the store."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for path, data in sorted(files):
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    # gzip embeds a timestamp; hash the file list and contents instead so equal sources share a key.
    digest = files_digest(files)
    key = f"sources/{digest}.tar.gz"
    if not store.exists(key):
        store.put_bytes(key, raw)
    return key, digest


def temp_workdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="repotune-analyze-")


