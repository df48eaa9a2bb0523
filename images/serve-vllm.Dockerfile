# For GPU fleets: KServe's Hugging Face runtime on vLLM serves the base model with the adapters repotune trains
# (`--enable-lora --lora-modules NAME=/mnt/models`). vLLM brings its own server and OpenAI routes; this image
# only pins it and adds repotune's CLI for rendering and smoke-testing deployments from inside the cluster.
#   scripts/build-images.sh
ARG VLLM_IMAGE=vllm/vllm-openai:v0.11.0

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY components ./components
COPY pipelines ./pipelines
RUN pip wheel --no-deps -w /wheels .

FROM ${VLLM_IMAGE}
ARG VERSION=0.0.0
LABEL org.opencontainers.image.title="repotune-serve-vllm" \
      org.opencontainers.image.description="vLLM OpenAI server for repotune's LoRA adapters (KServe HF runtime)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /wheels /wheels
# --no-deps: only the repotune CLI; vLLM's own torch and transformers stay as the image pins them
RUN pip install --no-cache-dir --no-deps /wheels/*.whl pydantic pyyaml typer rich jinja2 minio httpx \
 && useradd --uid 1000 --create-home repotune
USER 1000
ENTRYPOINT ["python3", "-m", "vllm.entrypoints.openai.api_server"]
CMD ["--port", "8080", "--enable-lora"]
