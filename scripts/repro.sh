#!/usr/bin/env bash
# The main job: set up, then run the whole DVC pipeline on the embedded demo default.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
dvc repro "$@"
dvc metrics show
python scripts/results_table.py --readme README.md   # README results block, from metrics/*.json
