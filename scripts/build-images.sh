#!/usr/bin/env bash
# Build (and optionally push) repotune's images, tagged from the package version exactly as repotune._image
# names them (the compiled pipeline, the ServingRuntime and the RayJob use those names).
#   scripts/build-images.sh [--push] [--dry-run]
# Environment: REPOTUNE_IMAGE_REGISTRY (default ghcr.io/repotune), REPOTUNE_IMAGE_TAG (default: the version),
# TORCH_INDEX (CUDA torch wheels for the serve image), BUILDER (docker | podman | buildah; default: the first found).
set -euo pipefail
cd "$(dirname "$0")/.."
push=false dry=false
for arg in "$@"; do
  case "$arg" in
    --push) push=true ;;
    --dry-run) dry=true ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
  esac
done
version="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' components/core/_version.py)"
[ -n "$version" ] || { echo "cannot read the version from components/core/_version.py" >&2; exit 1; }
registry="${REPOTUNE_IMAGE_REGISTRY:-ghcr.io/repotune}"
tag="${REPOTUNE_IMAGE_TAG:-$version}"
builder="${BUILDER:-}"
if [ -z "$builder" ]; then
  for candidate in docker podman buildah; do
    if command -v "$candidate" >/dev/null 2>&1; then builder="$candidate"; break; fi
  done
fi
if [ -z "$builder" ] && ! $dry; then
  echo "no image builder found: install docker, podman or buildah (or set BUILDER)" >&2
  exit 1
fi
builder="${builder:-docker}"
build_cmd() { if [ "$builder" = buildah ]; then echo "buildah bud"; else echo "$builder build"; fi; }
run() { if $dry; then echo "$*"; else "$@"; fi; }
for runtime in pipeline train serve serve-vllm; do
  image="$registry/repotune-$runtime:$tag"
  args=(--file "images/$runtime.Dockerfile" --tag "$image" --build-arg "VERSION=$version")
  if [ "$runtime" = serve ] && [ -n "${TORCH_INDEX:-}" ]; then args+=(--build-arg "TORCH_INDEX=$TORCH_INDEX"); fi
  # shellcheck disable=SC2046
  run $(build_cmd) "${args[@]}" .
  if $push; then run "$builder" push "$image"; fi
done
