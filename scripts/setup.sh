#!/usr/bin/env bash
# Create .venv with Python 3.11 and install repotune with every extra, in ONE pip command under
# constraints.txt (a later separate install can lift protobuf to 7 and break kfp and kserve).
#   scripts/setup.sh          # idempotent; reinstalls only when pyproject/constraints changed
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip "setuptools>=77" wheel
fi
stamp=.venv/.repotune-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
  echo "$want" > "$stamp"
fi
