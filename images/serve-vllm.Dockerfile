# repotune-serve-vllm: vLLM's OpenAI server, pinned, for GPU fleets that serve repotune's LoRA adapters on vLLM
# (`--enable-lora --lora-modules NAME=/mnt/models/adapters/NAME`), e.g. as the image of a custom KServe
# ServingRuntime or a plain Deployment.
#
# Kept minimal on purpose, and without the repotune package:
# - deploy.runtime=vllm renders an InferenceService for KServe's own Hugging Face runtime (ClusterServingRuntime
#   kserve-huggingfaceserver, which brings its own vLLM image); nothing in repotune references this image.
# - vLLM loads repotune's adapters (PEFT LoRA folders) natively: no repotune code runs in the server.
# - repotune pins Python 3.11 (requires-python), vLLM's image has its own Python and pins (torch, transformers),
#   which a pip install here would disturb. So nothing is installed and constraints.txt does not apply.
# What it adds to the vLLM image: a non-root user (uid 1000, numeric, as KServe's runAsNonRoot requires) with a
# writable home for the Hugging Face, vLLM and Triton caches, the OCI labels, and defaults for the /mnt/models
# layout of repotune's vLLM InferenceService (base in /mnt/models/base, adapters in /mnt/models/adapters/NAME).
#   scripts/build-images.sh
ARG VLLM_IMAGE=vllm/vllm-openai:v0.11.0
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# The home of uid 1000, made in a small stage (the same base as the other images) and copied in one layer, so the
# multi-GB vLLM image gets no RUN layer of its own.
FROM ${PYTHON_IMAGE} AS home
RUN mkdir -p /home/vllm/.cache/huggingface /home/vllm/.cache/vllm /home/vllm/.triton /home/vllm/.config \
 && chmod -R 0775 /home/vllm

FROM ${VLLM_IMAGE}
ARG VLLM_IMAGE
ARG VERSION=0.0.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="repotune-serve-vllm" \
      org.opencontainers.image.description="vLLM OpenAI server for repotune's LoRA adapters (GPU)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${VLLM_IMAGE}"
COPY --from=home --chown=1000:0 /home/vllm /home/vllm
# USER: getpass.getuser() (torch's compile caches) reads it, so uid 1000 needs no /etc/passwd entry
ENV HOME=/home/vllm \
    USER=vllm \
    HF_HOME=/home/vllm/.cache/huggingface \
    VLLM_CACHE_ROOT=/home/vllm/.cache/vllm \
    TRITON_CACHE_DIR=/home/vllm/.triton \
    XDG_CACHE_HOME=/home/vllm/.cache \
    XDG_CONFIG_HOME=/home/vllm/.config
USER 1000
WORKDIR /home/vllm
EXPOSE 8080
ENTRYPOINT ["vllm", "serve"]
CMD ["/mnt/models/base", "--host", "0.0.0.0", "--port", "8080", "--enable-lora", "--max-lora-rank", "64"]
