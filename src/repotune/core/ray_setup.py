"""One way every step starts or joins Ray: the run's `ray` section (a cluster address, or a local Ray with
`ray.num_cpus`), the S3 settings in the workers' environment, no dashboard, and Ray's own logging left to the
log file (repotune.core.logs) instead of the console."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
    # num_cpus sizes a Ray started here; Ray refuses it when connecting to an existing cluster
    local = {"num_cpus": config.num_cpus} if config.address is None else {}
    ray.init(address=config.address, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env=ray_runtime_env(), **local)
