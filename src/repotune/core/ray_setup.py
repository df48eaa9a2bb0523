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

from repotune.core.processes import process_alive

log = logging.getLogger("repotune")
# a local Ray's session folder ends with the pid of the driver that started it
SESSION = re.compile(r"/session_[0-9_-]+_(\d+)(?:/|$)")


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
    """Stop the Ray processes a killed driver left behind (its dashboard and runtime-env agents outlive a kill -9
    of the driver): processes of this user whose open files lie in a local Ray session folder whose driver is
    gone. Returns their pids. Linux only (reads /proc); elsewhere nothing to do."""
    if not proc.is_dir():
        return []
    reaped = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            if not (entry / "cmdline").read_bytes().startswith(b"ray::"):
                continue
            drivers = {int(m.group(1)) for fd in (entry / "fd").iterdir()
                       if (m := SESSION.search(os.readlink(fd)))}
        except OSError:  # the process ended meanwhile, or its files are not ours to read
            continue
        if drivers and not any(process_alive(pid) for pid in drivers):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                reaped.append(int(entry.name))
            except OSError:
                continue
    if reaped:
        log.info("stopped %d Ray process(es) left by a killed run: %s", len(reaped), reaped)
    return reaped


