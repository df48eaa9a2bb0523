#!/usr/bin/env bash
# Set up and run the whole pipeline on one machine with embedded defaults: the bundled sample repository,
# a local file:// store, local Ray, offline labels, CPU training, a local predictor answering one request.
#   scripts/quickstart.sh                       # the defaults
#   scripts/quickstart.sh label.backend=local   # extra key=value overrides go to `repotune run`
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
start=$(date +%s)
.venv/bin/repotune run "$@"
.venv/bin/repotune status local
echo "finished in $(( $(date +%s) - start ))s; artifacts under $PWD/.repotune/runs/local/"
