# repotune-pipeline (CPU): the KFP components analyze, label, synthesize and dataset, and `repotune submit`.
# KFP starts each component as `python3 -m kfp.dsl.executor_main` with install_kfp_package=False, so python3 is on
# PATH (the virtual environment's bin comes first) and the kfp extra is installed here.
# The dataset step needs nothing beyond these extras (datasketch, matplotlib, transformers for token counts).
# Build from the repository root: scripts/build-images.sh (tags from the package version, see images/README.md).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
# torch (the label step's local backend, token counts) from the CPU wheel index: 2.13.0+cpu sorts above PyPI's
# 2.13.0 (a CUDA build), so no CUDA libraries land in this image
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN python -m venv /opt/repotune \
 && /opt/repotune/bin/pip install ${TORCH_INDEX:+--extra-index-url=$TORCH_INDEX} -c constraints.txt \
      ".[analyze,label,synthesize,dataset,kfp]"

FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
ARG VERSION=0.0.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="repotune-pipeline" \
      org.opencontainers.image.description="repotune's CPU pipeline steps: analyze, label, synthesize, dataset" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
# git: the analyze step clones git sources (shallow); ca-certificates for https remotes. Debian's versions of
# these two follow the pinned base image, so they are not pinned again here.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --user-group --create-home --home-dir /home/repotune repotune
# the same base image as the build stage: the virtual environment's python links to its /usr/local/bin/python3.11
COPY --from=build /opt/repotune /opt/repotune
ENV PATH=/opt/repotune/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/repotune \
    REPOTUNE_CACHE=/home/repotune/.cache/repotune
USER 1000
WORKDIR /home/repotune
# the secret scanner's rules compiled once into its cache under $HOME (~4 s that every analyze worker would spend)
RUN python -c "from kingfisher_sdk import Rules; Rules()"
# KFP and the GitOps Job set their own command; run alone, the image is the repotune CLI
ENTRYPOINT ["repotune"]
CMD ["--help"]
