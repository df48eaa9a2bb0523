"""Where the command line's output goes: repotune's own messages, progress and errors on the terminal; everything
else that libraries print (Ray's notices and C++ core-worker lines, Ray Data's executor log, transformers'
loading bars and warnings) in a log file.

Third-party output is written straight to file descriptor 2 by C++ code and by libraries' own handlers, so the
only reliable separation is at the descriptor: fd 2 is pointed at the log file (child processes such as Ray's
workers inherit it) and repotune's console writes to a copy of the original stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TextIO

_terminal: TextIO | None = None


def terminal() -> TextIO:
    """The stream repotune's messages and progress go to (the real stderr, also after the redirection)."""
    return _terminal or sys.stderr


def default_log_path() -> Path:
    """REPOTUNE_LOG_FILE, else repotune.log in the cache folder (REPOTUNE_CACHE or ~/.cache/repotune), outside
    the working folder: a command refused for a bad config writes nothing there."""
    if os.environ.get("REPOTUNE_LOG_FILE"):
        return Path(os.environ["REPOTUNE_LOG_FILE"])
    cache = Path(os.environ.get("REPOTUNE_CACHE") or Path.home() / ".cache" / "repotune")
    return cache / "logs" / "repotune.log"


def route_output(log_path: Path | None = None) -> Path | None:
    """Send third-party output to log_path (appended), keep repotune's on the terminal; returns the log's path,
    or None when the file cannot be opened (then nothing is redirected). REPOTUNE_LOG_FILE=- keeps everything on
    the terminal (a pod whose log is the console)."""
    global _terminal
    if os.environ.get("REPOTUNE_LOG_FILE") == "-":
        _configure(sys.stderr, None)
        return None
    path = log_path or default_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        _configure(sys.stderr, None)
        return None
    sys.stderr.flush()
    saved = os.dup(2)
    _terminal = os.fdopen(saved, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="replace")
    os.dup2(log_fd, 2)
    os.close(log_fd)
    _configure(_terminal, path)
    return path


def _configure(stream: TextIO, path: Path | None) -> None:
    """repotune's logger (INFO) to the terminal; every logger, repotune's included, to the file."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    ours = logging.getLogger("repotune")
    ours.setLevel(logging.INFO)
    console = logging.StreamHandler(stream)
    console.setFormatter(logging.Formatter("%(message)s"))
    if path is None:  # one stream: third parties at WARNING and above, ours at INFO
        console.addFilter(lambda r: r.name.startswith("repotune") or r.levelno >= logging.WARNING)
        root.addHandler(console)
        return
    file_handler = logging.StreamHandler(sys.stderr)  # fd 2 is the log file now
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    console.addFilter(lambda r: r.name.startswith("repotune"))
    root.addHandler(console)
