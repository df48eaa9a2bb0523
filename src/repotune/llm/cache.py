"""The answer cache: every LLM answer is stored as it arrives, so a killed run loses only the requests in flight
and a rerun pays only for what is missing.

Two forms under `cache/llm/`, read alike:
- a local store appends each answer as one line (`<key>\\t<json>`) to this run's journal,
  `cache/llm/journal/<time>-<id>.jsonl`, flushed at once: the line is in the kernel when `save` returns, so it
  survives kill -9. One open file instead of a file per answer: creating thousands of small files cost more
  CPU than the requests themselves on some machines, and that CPU delayed every answer behind it;
- any other store (S3, MinIO) gets one object per answer at its key: objects cannot be appended to, and a
  batch written later would lose answers on kill -9.
A line or object that cannot be read (a machine crash can tear the last line) counts as missing: asked again.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import IO, Any

from repotune.core.errors import StoreError
from repotune.core.store import LocalStore, ObjectStore

log = logging.getLogger("repotune.llm")
CACHE_PREFIX = "cache/llm/"
JOURNALS = f"{CACHE_PREFIX}journal/"


class AnswerCache:
    def __init__(self, store: ObjectStore):
        self.store = store
        self.appends = isinstance(store, LocalStore)
        """Answers go to a journal (local store: no I/O wait worth a thread) or to their own objects."""
        self._journal: IO[bytes] | None = None
        self._lines: dict[str, bytes] = {}  # journal lines by key
        self._read: dict[str, int] = {}  # journals read into _lines, with their size then

    def index(self) -> set[str]:
        """The keys of every cached answer (one listing; journals are read here, objects when asked for)."""
        keys = set()
        for info in self.store.list(CACHE_PREFIX):
            if info.key.startswith(JOURNALS):
                if self._read.get(info.key) == info.size:
                    continue  # read at an earlier level of this run and unchanged
                self._read[info.key] = info.size
                for line in self.store.get_bytes(info.key).split(b"\n"):
                    key, tab, doc = line.partition(b"\t")
                    if tab:
                        self._lines[key.decode()] = doc
            else:
                keys.add(info.key)
        return keys | set(self._lines)

    def load(self, key: str) -> dict[str, Any] | None:
        """A cached answer, or None when it cannot be read."""
        try:
            data = self._lines[key] if key in self._lines else self.store.get_bytes(key)
            doc = json.loads(data)
            if not isinstance(doc, dict):
                raise ValueError("not an object")
        except (StoreError, ValueError) as e:
            log.warning("cache entry %s unreadable (%s): asking again", key, type(e).__name__)
            return None
        return doc

    def save(self, key: str, doc: dict[str, Any]) -> None:
        data = json.dumps(doc, separators=(",", ":")).encode()
        if not self.appends:
            self.store.put_bytes(key, data)
            return
        if self._journal is None:
            name = f"{JOURNALS}{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.jsonl"
            self._journal = self.store.open_append(name)
        self._journal.write(key.encode() + b"\t" + data + b"\n")
        self._journal.flush()

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
