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


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _session_processes(session: str) -> list[int]:
    """Live (not zombie) processes with a file open in the Ray session folder."""
    import os
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            if any(os.readlink(fd).startswith(session) for fd in (entry / "fd").iterdir()):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_ray_processes_of_a_killed_run_are_gone_after_the_next_start(tmp_path):
    """kill -9 of `repotune run` mid-analyze leaves Ray's dashboard and runtime-env agents running; the next
    repotune command (any: here `version`) stops them, and leaves a live Ray alone."""
    import glob
    import os
    import signal
    import time

    run = subprocess.Popen([sys.executable, "-m", "repotune", "run", "--steps", "analyze", "ray.num_cpus=1", "analyze.use_ray=true",
                            f"store.url=file://{tmp_path}/s"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    deadline, session = time.monotonic() + 120, ""
    while not session or not [p for p in _session_processes(session) if _cmdline(p).startswith(b"ray::")]:
        assert run.poll() is None, "the run ended before Ray's agents were seen"
        assert time.monotonic() < deadline, "Ray's agents never started"
        session = next(iter(glob.glob(f"/tmp/ray/session_*_{run.pid}")), "")  # named after the driver's pid
        time.sleep(0.2)
    running = _session_processes(session)
    subprocess.run([sys.executable, "-c", "from repotune.core.ray_setup import reap_orphaned_ray as r; r()"],
                   check=True, timeout=60)
    assert set(running) <= set(_session_processes(session)), "a live Ray (its raylet runs) must be left alone"
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    time.sleep(3)  # what Ray stops by itself when its driver dies
    # the reaper leaves a session alone while its raylet lives: wait for that to end (slow on a busy machine)
    deadline = time.monotonic() + 30
    while any(b"/raylet" in _cmdline(p).split(b"\0")[0] for p in _session_processes(session)):
        assert time.monotonic() < deadline, "the killed run's raylet never ended"
        time.sleep(0.2)
    assert _session_processes(session), "nothing outlived the driver: this test no longer shows the problem"
    subprocess.run([sys.executable, "-m", "repotune", "version"], check=True, timeout=60, capture_output=True)
    deadline = time.monotonic() + 10
    while _session_processes(session) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _session_processes(session)
    assert not left, [_cmdline(p)[:300] for p in left]


def _fake_process(proc, pid: int, argv: list[str], open_files: list[str]) -> None:
    entry = proc / str(pid)
    (entry / "fd").mkdir(parents=True)
    (entry / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
    for fd, target in enumerate(open_files):
        (entry / "fd" / str(fd)).symlink_to(target)


def test_orphans_include_a_starting_worker_and_skip_an_fd_closed_while_read(tmp_path):
    """Read from a /proc made for the test: a worker that has not yet taken its `ray::` title is an orphan too,
    and an fd that vanishes while the reaper reads it costs that fd, not the process."""
    from repotune.core.ray_setup import orphaned_ray_processes

    dead, live = "/tmp/ray/session_2026-12-07_07-20-29_239720_14729", "/tmp/ray/session_2026-12-07_08-00-00_1_20000"
    site = "/venv/lib/python3.11/site-packages/ray"
    _fake_process(tmp_path, 101, ["ray::DashboardAgent"], [f"{dead}/logs/agent.log"])
    _fake_process(tmp_path, 102, ["/venv/bin/python", f"{site}/_private/workers/default_worker.py", "--x"],
                  [f"{dead}/logs/worker.out"])
    _fake_process(tmp_path, 103, ["ray::IDLE"], [f"{dead}/logs/w.err"])
    (tmp_path / "103" / "fd" / "7").write_text("")  # not a link: reading it fails as a closed fd's does
    _fake_process(tmp_path, 201, ["ray::IDLE"], [f"{live}/logs/w.out"])  # its raylet (202) lives
    _fake_process(tmp_path, 202, [f"{site}/core/src/ray/raylet/raylet", f"--raylet_socket_name={live}/sockets/raylet"],
                  [f"{live}/logs/raylet.out"])
    _fake_process(tmp_path, 301, ["/venv/bin/python", "-m", "repotune", "run"], [f"{dead}/logs/driver.log"])
    _fake_process(tmp_path, 302, ["ray::IDLE"], ["/dev/null"])  # no session file: not known to be Ray's orphan

    assert sorted(orphaned_ray_processes(tmp_path)) == [101, 102, 103]
