#!/usr/bin/env bash
# The test suite: set up, then pytest (unit tests + an end-to-end smoke test on a miniature config).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python -m pytest -q "$@"
