"""ensure_ray: every step starts Ray the same way, and a local Ray honours ray.num_cpus."""

import subprocess
import sys

SCRIPT = """
import ray
from repotune.core.ray_setup import RayConfig, ensure_ray
ensure_ray(RayConfig(num_cpus=1))
ensure_ray(RayConfig(num_cpus=2))  # Ray is running: the second call keeps it
print(int(ray.cluster_resources()["CPU"]))
ray.shutdown()
"""


def test_a_local_ray_gets_ray_num_cpus_and_starts_once():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "1"


def test_every_step_starts_ray_through_ensure_ray():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "src" / "repotune"
    callers = [p.relative_to(root).as_posix() for p in root.rglob("*.py") if "ray.init(" in p.read_text()]
    assert callers == ["core/ray_setup.py"]
