#!/usr/bin/env bash
# The main job: set up, then run the whole DVC pipeline on the embedded demo default
# (DEEVISUM_PUSH=1: then dvc push the outputs to the default remote).
# README.md is never touched: its results block is rewritten only by
#   python scripts/results_table.py --readme README.md
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! git rev-parse --verify -q HEAD >/dev/null; then   # dvc exp needs a commit to compare with
  echo "repro: the repository has no commit yet; making an empty one (dvc exp needs one)" >&2
  git commit -q --allow-empty -m "initial commit (dvc exp needs one)"
fi
dvc repro "$@"
if [ "${DEEVISUM_PUSH:-0}" = 1 ]; then   # share the outputs: dvc push to the default remote
  dvc remote default >/dev/null 2>&1 || { echo "repro: DEEVISUM_PUSH=1 but no default remote: dvc remote add -d storage <url>" >&2; exit 1; }
  dvc push
fi
echo "repro: done. Results: python scripts/results_table.py (tables) | dvc metrics show (headline numbers) | python scripts/results_table.py --readme README.md (update the README's results)"
