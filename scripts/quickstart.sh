#!/usr/bin/env bash
# Set up and run the whole pipeline on one machine with embedded defaults (preset quickstart): the bundled sample,
# a local file:// store, local Ray, offline labels, LoRA on SmolLM2-135M-Instruct on CPU, evaluation, a local
# predictor answering one request. About 5 minutes on 2 cores after setup (the first run also fetches the model).
#   scripts/quickstart.sh                       # the defaults
#   scripts/quickstart.sh label.backend=local   # extra key=value overrides go to `repotune run`
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
start=$(date +%s)
.venv/bin/repotune run --preset quickstart "$@"
.venv/bin/repotune status local
echo "finished in $(( $(date +%s) - start ))s; artifacts under $PWD/.repotune/runs/local/"
