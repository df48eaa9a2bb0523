"""Progress of long work (training steps, evaluation answers, labelled units): a rich progress bar when stderr
is a terminal, plain log lines (at most one every `every_s` seconds, and the last) otherwise, so a KFP pod's log
or a CI log shows the same facts without control characters."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("repotune")

Advance = Callable[..., None]
"""advance(n=1, **fields): n more done; fields (loss=…, tokens_per_s=…) are shown beside the count."""


def _fields(fields: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())


@contextmanager
def progress(description: str, total: int, unit: str, every_s: float = 10.0) -> Iterator[Advance]:
    """Report `total` units of work as they are done: `with progress("train", 40, "steps") as advance: ...`."""
    from repotune.core.logs import terminal

    if terminal().isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                      TextColumn(unit, markup=False), TimeElapsedColumn(), TimeRemainingColumn(),
                      TextColumn("{task.fields[info]}", markup=False),
                      console=Console(file=terminal()), transient=False) as bar:
            task = bar.add_task(description, total=total, info="")

            def advance(n: int = 1, **fields: Any) -> None:
                bar.update(task, advance=n, info=_fields(fields))

            yield advance
        return
    done, last = 0, 0.0
    start = time.monotonic()

    def advance(n: int = 1, **fields: Any) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= every_s or done >= total:
            last = now
            extra = f" {_fields(fields)}" if fields else ""
            log.info("%s: %d/%d %s (%.0fs)%s", description, done, total, unit, now - start, extra)

    yield advance
