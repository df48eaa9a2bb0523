"""The offline Kubernetes tools scripts/install-tools.sh installs (helm, kubectl) and kubernetes-validate."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def tool(name: str) -> str:
    """Path of a tool from .tools/bin, .venv/bin or PATH; skip with the fix when it is missing."""
    for candidate in (ROOT / ".tools" / "bin" / name, ROOT / ".venv" / "bin" / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed: run scripts/install-tools.sh (scripts/test.sh does)")
    return found


def run(*args: str) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


def kubernetes_validate(manifest: str) -> str:
    """Validate core kinds strictly (custom resources only warn there; tests check them against the CRDs)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(manifest)
        f.flush()
        result = subprocess.run([tool("kubernetes-validate"), "--strict", f.name], capture_output=True, text=True,
                                timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "ERROR" not in output, output
    return output


def documents(manifest: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(manifest) if d]
