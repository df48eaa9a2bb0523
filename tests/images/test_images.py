"""The Dockerfiles, checked statically (no image builder runs here): multi-stage, non-root, pinned bases,
installs under constraints.txt with extras that exist, COPY sources that exist; the build script tags exactly
what repotune renders into the pipeline, the ServingRuntime and the RayJob."""

import os
import re
import subprocess
import tomllib

import pytest

from repotune import _image
from tests.k8s_tools import ROOT

IMAGES = ROOT / "images"
RUNTIMES = ["pipeline", "train", "serve", "serve-vllm"]


def _instructions(runtime: str) -> list[tuple[str, str]]:
    text = (IMAGES / f"{runtime}.Dockerfile").read_text()
    text = re.sub(r"\\\n\s*", " ", text)  # join continuation lines
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


def _stages(runtime: str) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for op, arg in _instructions(runtime):
        if op == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((op, arg))
    return stages


def _arg_defaults(runtime: str) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)", (IMAGES / f"{runtime}.Dockerfile").read_text(), re.M))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_multi_stage_non_root_and_pinned(runtime):
    stages = _stages(runtime)
    assert len(stages) >= 2, "multi-stage: build, then a final stage without build tools"
    final = stages[-1]
    users = [arg for op, arg in final if op == "USER"]
    assert users and users[-1] == "1000"
    defaults = _arg_defaults(runtime)
    for stage in stages:
        base = stage[0][1].split()[0]
        base = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], base)
        assert ":" in base and not base.endswith(":latest"), f"{runtime}: unpinned base {base}"
    labels = " ".join(arg for op, arg in final if op == "LABEL")
    assert 'org.opencontainers.image.version="${VERSION}"' in labels


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_installs_under_constraints_with_existing_extras_and_copies_existing_files(runtime):
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    runs = " ".join(arg for op, arg in _instructions(runtime) if op == "RUN")
    wanted = {e for group in re.findall(r"\.\[([\w,]+)\]|repotune\[([\w,]+)\]", runs) for g in group if g
              for e in g.split(",")}
    assert wanted <= extras, f"unknown extras {wanted - extras}"
    if runtime != "serve-vllm":  # the vLLM image keeps vLLM's own pins and adds only repotune's CLI
        assert "-c constraints.txt" in runs and wanted
    for op, arg in _instructions(runtime):
        if op == "COPY" and "--from=" not in arg:
            sources = [a for a in arg.split() if not a.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"{runtime}: COPY {source} does not exist"


def _dry_run(env: dict[str, str]) -> list[str]:
    out = subprocess.run([str(ROOT / "scripts" / "build-images.sh"), "--dry-run", "--push"], capture_output=True,
                         text=True, check=True, env={**os.environ, **env}).stdout
    return re.findall(r"--tag (\S+)", out)


def test_build_script_tags_what_repotune_renders(monkeypatch):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPOTUNE_IMAGE_")}
    monkeypatch.setattr(os, "environ", env)
    tags = _dry_run({})
    assert tags == [f"ghcr.io/repotune/repotune-{r}:{_image.TAG}" for r in RUNTIMES]
    if not os.environ.get("REPOTUNE_IMAGE_REGISTRY"):
        assert tags[:3] == [_image.PIPELINE_IMAGE, _image.TRAIN_IMAGE, _image.SERVE_IMAGE]
    assert _dry_run({"REPOTUNE_IMAGE_REGISTRY": "registry.local/ml"})[0] == "registry.local/ml/repotune-pipeline:" \
        + _image.TAG


def test_the_serving_runtime_and_the_rayjob_use_these_images():
    from repotune.deploy.kserve import serving_runtime
    from repotune.train.config import RayJobConfig

    assert serving_runtime("ns")["spec"]["containers"][0]["image"] == _image.SERVE_IMAGE
    assert RayJobConfig().image is None  # None: the train image of this version (rayjob.render_rayjob)
    assert RayJobConfig().ray_version in (IMAGES / "train.Dockerfile").read_text()
