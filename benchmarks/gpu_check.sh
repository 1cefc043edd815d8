#!/usr/bin/env bash
# One-shot GPU check (benchmarks/gpu_check.py) of the paper's sizes with random weights, nothing downloaded, in two
# parts, each its own process under its own time limit, so that a first run on a lent GPU can succeed in part:
#   scoring  PaliGemma2-3B bf16 scoring at batch 1/16/64, early exit against its layer bound   (at most 4 min)
#   qlora    one 4-bit QLoRA step of the 10B, saved and reloaded (~20 GB of disk)             (at most 5 min);
#            skipped, with the reason in its JSON, when peft, accelerate or bitsandbytes does not import
# Wheels in .whl/ (scripts/device_wheels.sh; another folder: WHEELS=DIR) are installed into a temporary folder
# first: GPU machines here have no network. JSON per part into $OUT when set, else benchmarks/results/.
# Python: PYTHON=..., default .venv/bin/python, else python3. Without a GPU, toy sizes on the CPU.
#   bash benchmarks/gpu_check.sh [--tiny] [--repeats 3] [--qlora-batch 4]      PARTS=qlora: that part alone
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
WHEELS=${WHEELS:-.whl}
if [ -d "$WHEELS" ]; then
  site=$(mktemp -d)
  trap 'rm -rf "$site"' EXIT
  "$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
    "$WHEELS"/*.whl || { echo "gpu_check: cannot install the wheels in $WHEELS into $PY" >&2; exit 1; }
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false
"$PY" -c "import torch, transformers, tokenizers, PIL, yaml; print('gpu_check: torch', torch.__version__, '| CUDA:',
  torch.cuda.get_device_name() if torch.cuda.is_available() else 'none (toy sizes on the CPU)')" || {
  echo "gpu_check: $PY lacks torch/transformers/tokenizers/pillow/pyyaml, which both parts need" >&2; exit 1; }

declare -A LIMIT=([scoring]=240 [qlora]=300) NEEDS=([scoring]="" [qlora]="peft, accelerate, bitsandbytes")
args=(--out-dir "${OUT:-benchmarks/results}" "$@")
summary=() status=0
for part in ${PARTS:-scoring qlora}; do
  [ -n "${LIMIT[$part]:-}" ] || { echo "gpu_check: unknown part '$part' (scoring, qlora)" >&2; exit 2; }
  if [ -n "${NEEDS[$part]}" ] && ! why=$("$PY" -c "import ${NEEDS[$part]}" 2>&1); then
    why=$(tail -n 1 <<<"$why")
    echo "gpu_check: $part skipped: $why"
    "$PY" benchmarks/gpu_check.py "$part" --skipped "$why" "${args[@]}"
    summary+=("$part skipped")
    continue
  fi
  rc=0
  timeout -k 10 "${LIMIT[$part]}" "$PY" benchmarks/gpu_check.py "$part" "${args[@]}" || rc=$?
  case $rc in
    0) summary+=("$part ok") ;;
    124|137) summary+=("$part stopped at ${LIMIT[$part]} s (its JSON keeps what it measured)"); status=1 ;;
    *) summary+=("$part failed (exit $rc)"); status=1 ;;
  esac
done
joined=$(printf ', %s' "${summary[@]}")
echo "gpu_check: ${joined:2}"
exit $status
