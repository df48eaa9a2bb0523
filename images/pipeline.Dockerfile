# repotune pipeline steps (CPU): analyze, label, synthesize, dataset, and `repotune submit` for GitOps.
# KFP runs `python3 -m kfp.dsl.executor_main` here (components use install_kfp_package=False): kfp is installed.
#   scripts/build-images.sh   (tags from the package version)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY components ./components
COPY pipelines ./pipelines
# CPU wheels of torch (the label step's local backend and token counting need it; no CUDA here)
RUN python -m venv /opt/repotune \
 && /opt/repotune/bin/pip install --extra-index-url https://download.pytorch.org/whl/cpu \
      -c constraints.txt ".[analyze,label,synthesize,kfp]"

FROM ${PYTHON_IMAGE}
ARG VERSION=0.0.0
LABEL org.opencontainers.image.title="repotune-pipeline" \
      org.opencontainers.image.description="repotune's CPU pipeline steps" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# git: analyze fetches git sources (shallow)
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --create-home repotune
COPY --from=build /opt/repotune /opt/repotune
ENV PATH=/opt/repotune/bin:$PATH PYTHONUNBUFFERED=1 HOME=/home/repotune REPOTUNE_CACHE=/home/repotune/.cache/repotune
USER 1000
WORKDIR /home/repotune
ENTRYPOINT ["repotune"]
CMD ["--help"]
