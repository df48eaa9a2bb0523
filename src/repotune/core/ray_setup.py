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
    but the dashboard and runtime-env agents (`ray::…`) live on. Stopped: this user's `ray::` processes whose open
    files lie only in local session folders that no raylet serves any more (a cluster from `ray start` keeps its
    raylet, so it is left alone). Returns their pids. Linux only (reads /proc); elsewhere nothing to do."""
    if not proc.is_dir():
        return []
    served: set[str] = set()  # session folders with a live raylet
    agents: dict[int, set[str]] = {}  # ray:: process -> the session folders of its open files
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
            if cmdline.startswith("ray::"):
                agents[int(entry.name)] = {m.group(0) for fd in (entry / "fd").iterdir()
                                           if (m := SESSION.search(os.readlink(fd)))}
            elif "/raylet" in cmdline.split("\0", 1)[0]:
                served |= {m.group(0) for m in SESSION.finditer(cmdline)}
        except OSError:  # the process ended meanwhile, or its files are not ours to read
            continue
    reaped = []
    for pid, sessions in agents.items():
        if sessions and not sessions & served:
            try:
                os.kill(pid, signal.SIGKILL)
                reaped.append(pid)
            except OSError:
                continue
    if reaped:
        log.info("stopped %d Ray process(es) left by a killed run: %s", len(reaped), reaped)
    return reaped
