#!/usr/bin/env bash
# Build (and optionally push) repotune's images, tagged exactly as repotune.core.images names them: the compiled
# pipeline, the ServingRuntime and the RayJob pull what this builds.
#
#   scripts/build-images.sh [--push] [--dry-run] [pipeline|train|serve|serve-vllm ...]   (default: all four)
#
#   --push      push each image after building it
#   --dry-run   print the commands instead of running them (no builder needed)
#
# Environment:
#   REPOTUNE_IMAGE_REGISTRY  registry/namespace of the images (default ghcr.io/repotune), as repotune reads it
#   REPOTUNE_IMAGE_TAG       their tag (default: __version__ in src/repotune/_version.py), as repotune reads it
#   BUILDER                  docker, podman or buildah (default: the first of these that can build here)
#   TORCH_INDEX              torch wheel index of the serve image (default CPU wheels; set it to a CUDA index,
#                            e.g. https://download.pytorch.org/whl/cu128, or to empty for PyPI's CUDA build)
#   TRAIN_TORCH_INDEX        torch wheel index of the train image (default: cu128, see images/train.Dockerfile)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIMES=(pipeline train serve serve-vllm)
push=false
dry=false
selected=()
for arg in "$@"; do
  case "$arg" in
    --push) push=true ;;
    --dry-run) dry=true ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    pipeline|train|serve|serve-vllm) selected+=("$arg") ;;
    *) echo "build-images.sh: unknown argument '$arg' (images: ${RUNTIMES[*]}; see --help)" >&2; exit 2 ;;
  esac
done
[ "${#selected[@]}" -gt 0 ] || selected=("${RUNTIMES[@]}")

version="$(sed -n "s/^__version__ *= *[\"']\([^\"']*\)[\"'].*/\1/p" src/repotune/_version.py)"
[ -n "$version" ] || { echo "build-images.sh: cannot read __version__ from src/repotune/_version.py" >&2; exit 1; }
# the same defaults as repotune.core.images (os.environ.get: a variable set to empty stays empty, and is refused here)
registry="${REPOTUNE_IMAGE_REGISTRY-ghcr.io/repotune}"
tag="${REPOTUNE_IMAGE_TAG-$version}"
[ -n "$registry" ] || { echo "build-images.sh: REPOTUNE_IMAGE_REGISTRY is set but empty" >&2; exit 1; }
[ -n "$tag" ] || { echo "build-images.sh: REPOTUNE_IMAGE_TAG is set but empty" >&2; exit 1; }
revision=unknown
if command -v git >/dev/null 2>&1; then revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"; fi

can_build() {
  command -v "$1" >/dev/null 2>&1 || return 1
  # a docker CLI without a reachable daemon cannot build
  if [ "$1" = docker ]; then docker info >/dev/null 2>&1 || return 1; fi
}
builder="${BUILDER:-}"
case "$builder" in
  ""|docker|podman|buildah) ;;
  *) echo "build-images.sh: BUILDER must be docker, podman or buildah, not '$builder'" >&2; exit 2 ;;
esac
if [ -z "$builder" ]; then
  for candidate in docker podman buildah; do
    if $dry; then
      command -v "$candidate" >/dev/null 2>&1 && { builder="$candidate"; break; }
    elif can_build "$candidate"; then
      builder="$candidate"; break
    fi
  done
fi
if [ -z "$builder" ]; then
  if ! $dry; then
    echo "build-images.sh: no image builder here: install docker (with a running daemon), podman or buildah," \
         "or set BUILDER; --dry-run prints the commands without one" >&2
    exit 1
  fi
  builder=docker
fi
if [ "$builder" = docker ]; then export DOCKER_BUILDKIT=1; fi  # RUN --mount and <Dockerfile>.dockerignore

run() {
  if $dry; then
    local word line=""
    for word in "$@"; do line+="${line:+ }$(printf '%q' "$word")"; done
    echo "$line"
  else
    "$@"
  fi
}

for runtime in "${selected[@]}"; do
  image="$registry/repotune-$runtime:$tag"
  dockerfile="images/$runtime.Dockerfile"
  case "$builder" in
    docker) cmd=(docker build) ;;  # reads $dockerfile.dockerignore itself (BuildKit)
    podman) cmd=(podman build --ignorefile "$dockerfile.dockerignore") ;;
    buildah) cmd=(buildah build --ignorefile "$dockerfile.dockerignore") ;;
  esac
  cmd+=(--file "$dockerfile" --tag "$image" --build-arg "VERSION=$version" --build-arg "REVISION=$revision")
  if [ "$runtime" = serve ] && [ -n "${TORCH_INDEX+set}" ]; then cmd+=(--build-arg "TORCH_INDEX=$TORCH_INDEX"); fi
  if [ "$runtime" = train ] && [ -n "${TRAIN_TORCH_INDEX+set}" ]; then
    cmd+=(--build-arg "TORCH_INDEX=$TRAIN_TORCH_INDEX")
  fi
  run "${cmd[@]}" .
  if $push; then run "$builder" push "$image"; fi
done
