#!/usr/bin/env bash
# The wheels benchmarks/gpu_check.sh needs on the GPU machine that its image lacks, into .whl/ (git-ignored; the run
# carries it, and gpu_check.sh installs it there). That image (Python 3.12, torch 2.11+cu130, transformers 5.17,
# tokenizers, peft, accelerate, safetensors, pillow, pyyaml) lacks only bitsandbytes: the check runs as it is on
# transformers 5.17, so transformers stays behind. bitsandbytes' wheel (py3, manylinux_2_24) holds the CUDA 13.0
# kernels and needs only torch, numpy and packaging, all there; its version is requirements.txt's.
# Prints each wheel and what travels (tracked and untracked, not ignored, files + .whl); fails over 60 MiB (limit 64).
#   bash scripts/device_wheels.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
LIMIT_MIB=60
pins=$(grep -E '^bitsandbytes==' requirements.txt) || { echo "device_wheels: requirements.txt pins no bitsandbytes" >&2; exit 1; }
rm -rf .whl  # one version of each: two would stop the install there
"$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "$pins" || { echo "device_wheels: cannot download $pins for cp312 manylinux x86_64" >&2; exit 1; }
du -b .whl/*.whl | awk '{printf "device_wheels: %s %.1f MiB\n", $2, $1 / 2^20}'
tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -n 1 | cut -f 1)
wheels=$(du -cb .whl/*.whl | tail -n 1 | cut -f 1)
awk -v t="$tree" -v w="$wheels" -v max="$LIMIT_MIB" 'BEGIN {
  total = (t + w) / 2^20
  printf "device_wheels: tree %.1f MiB + wheels %.1f MiB = %.1f MiB (at most %d)\n", t / 2^20, w / 2^20, total, max
  exit (total > max) }' || { echo "device_wheels: over $LIMIT_MIB MiB: the run would not carry it" >&2; exit 1; }
