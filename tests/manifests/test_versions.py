"""The version has one source, repotune/_version.py: the chart, the kustomize overlays and the GitOps Job's
image follow it (a release bumps _version.py and these; this test names the ones left behind)."""

from __future__ import annotations

from pathlib import Path

import yaml

from repotune import __version__

ROOT = Path(__file__).resolve().parents[2]


def _stated_versions() -> dict[str, str]:
    chart = yaml.safe_load((ROOT / "helm/repotune/Chart.yaml").read_text())
    stated = {"helm/repotune/Chart.yaml version": chart["version"],
              "helm/repotune/Chart.yaml appVersion": str(chart["appVersion"])}
    for overlay in sorted((ROOT / "manifests/overlays").glob("*/kustomization.yaml")):
        for image in yaml.safe_load(overlay.read_text()).get("images", []):
            if "newTag" in image:
                stated[f"{overlay.relative_to(ROOT)} {image['name']}"] = str(image["newTag"])
    for path in sorted((ROOT / "manifests").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            text = yaml.safe_dump(doc) if doc else ""
            for line in text.splitlines():
                if "image: ghcr.io/repotune/" in line:
                    stated[f"{path.relative_to(ROOT)} {line.strip()}"] = line.rsplit(":", 1)[1].strip()
    return stated


def test_every_stated_version_is_the_packages():
    stated = _stated_versions()
    assert len(stated) >= 4
    behind = {where: v for where, v in stated.items() if v != __version__}
    assert not behind, f"not {__version__}: {behind}"
