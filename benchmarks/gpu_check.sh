#!/usr/bin/env bash
# One-shot GPU check (benchmarks/gpu_check.py): PaliGemma2-3B scoring at batch 1/16/64, early exit against
# its layer-count bound, one 4-bit QLoRA step of the 10B -- random weights, nothing downloaded, under 8 minutes
# on one H100/H200 (~25 GB of GPU memory, ~20 GB of disk for the 10B checkpoint it saves and reloads in 4-bit).
# Needs a Python with CUDA torch and the pinned requirements (PYTHON=..., default .venv/bin/python, else python3);
# it installs nothing (GPU machines here have no network). Without a GPU it runs the toy-size path on the CPU.
#   bash benchmarks/gpu_check.sh [--out FILE] [--qlora-batch 4]    -> benchmarks/results/gpu_check.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -c "import torch, transformers, peft, bitsandbytes, accelerate" || {
  echo "gpu_check: $PY lacks torch/transformers/peft/bitsandbytes/accelerate (pip install -r requirements.txt)" >&2; exit 1; }
"$PY" -c "import torch; print('gpu_check: torch', torch.__version__, '| CUDA:', torch.cuda.get_device_name() if torch.cuda.is_available() else 'none (toy sizes on the CPU)')"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false
timeout 480 "$PY" benchmarks/gpu_check.py "$@"
