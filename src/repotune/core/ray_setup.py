"""One way every step starts or joins Ray: the run's `ray` section (a cluster address, or a local Ray with
`ray.num_cpus`), the S3 settings in the workers' environment, no dashboard, and Ray's own logging left to the
log file (repotune.core.logs) instead of the console."""

from __future__ import annotations

import logging
import os
import re
import signal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger("repotune")
# a local Ray's session folder, as it appears in open file paths and command lines
SESSION = re.compile(r"/session_[0-9_-]+_\d+(?=[/\s\x00]|$)")
# a program from Ray's package: a worker before it takes its `ray::` title, the log monitor, the GCS server
RAY_PROGRAM = re.compile(r"/ray/(_private|dashboard|autoscaler|core/src/ray)/")


class RayConfig(BaseModel):
    """Where Ray work (parsing, labelling, training) runs."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        None, description="Ray cluster address ('ray://head:10001' or 'auto'); None starts a local Ray."
    )
    num_cpus: int | None = Field(None, description="CPUs for a local Ray; None uses all cores.")


def ensure_ray(config: RayConfig | None) -> None:
    """Start a local Ray or connect to config.address, once per process; later calls (and Ray's own workers,
    where Ray is running already) keep the running one. None: a local Ray with every core."""
    import ray

    from repotune.core.store_s3 import ray_runtime_env

    if ray.is_initialized():
        return
    config = config or RayConfig()
    if config.address is None:
        reap_orphaned_ray()
    # num_cpus sizes a Ray started here; Ray refuses it when connecting to an existing cluster
    local = {"num_cpus": config.num_cpus} if config.address is None else {}
    ray.init(address=config.address, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env=ray_runtime_env(), **local)


def reap_orphaned_ray(proc: Path = Path("/proc")) -> list[int]:
    """Stop the Ray processes a killed driver left behind: after a kill -9 of the driver its raylet and GCS end,
    but the dashboard and runtime-env agents (`ray::…`), and a worker that was starting, live on. Stopped: those
    orphans (see orphaned_ray_processes). Returns their pids. Linux only (reads /proc); elsewhere nothing to do."""
    reaped = []
    for pid in orphaned_ray_processes(proc):
        try:
            os.kill(pid, signal.SIGKILL)
            reaped.append(pid)
        except OSError:
            continue
    if reaped:
        log.info("stopped %d Ray process(es) left by a killed run: %s", len(reaped), reaped)
    return reaped


def orphaned_ray_processes(proc: Path = Path("/proc")) -> list[int]:
    """This user's Ray processes (a `ray::` title, or a program from Ray's package: a worker still starting, the
    log monitor) whose open files lie only in local session folders that no raylet serves any more. A cluster
    from `ray start` keeps its raylet, so it is left alone; so is any driver (its program is not Ray's)."""
    if not proc.is_dir():
        return []
    served: set[str] = set()  # session folders with a live raylet
    candidates: dict[int, set[str]] = {}  # Ray process -> the session folders of its open files
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
            argv = cmdline.split("\0")
            if "/raylet" in argv[0]:
                served |= {m.group(0) for m in SESSION.finditer(cmdline)}
            elif argv[0].startswith("ray::") or any(RAY_PROGRAM.search(arg) for arg in argv[:3]):
                candidates[int(entry.name)] = _session_folders(entry / "fd")
        except OSError:  # the process ended meanwhile, or its files are not ours to read
            continue
    return [pid for pid, sessions in candidates.items() if sessions and not sessions & served]


def _session_folders(fd_dir: Path) -> set[str]:
    """The Ray session folders among a process's open files; an fd closed while we read is skipped, not the
    process (a starting worker opens and closes files all the time)."""
    found = set()
    for fd in fd_dir.iterdir():
        try:
            if m := SESSION.search(os.readlink(fd)):
                found.add(m.group(0))
        except OSError:
            continue
    return found
