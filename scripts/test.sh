#!/usr/bin/env bash
# The test suite, as CI and a newcomer run it: set up .venv, install the offline Kubernetes tools,
# then pytest (the S3 tests start a real Ceph radosgw through scripts/s3-server.sh).
#   scripts/test.sh                 # the default suite
#   scripts/test.sh -m slow         # the slow tests (real corpora, real models)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ -x scripts/install-tools.sh ]; then scripts/install-tools.sh; fi
export PATH="$PWD/.tools/bin:$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
