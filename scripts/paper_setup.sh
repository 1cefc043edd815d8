#!/usr/bin/env bash
# The paper's setup (DEEVISum) in one command: PaliGemma2 28B teacher (4-bit NF4 QLoRA), 10B mentor
# and 3B student (LoRA, bf16), 224 px frames, the real TVSum. Needs GPUs, HF_TOKEN in the
# environment (gated google/paligemma2-* checkpoints) and TVSum in the release layout at $1.
#   scripts/paper_setup.sh /data/tvsum [more dvc exp run options, e.g. -S train.epochs=5]
# Multi-GPU: run a training stage with `accelerate launch --config_file configs/accelerate_fsdp.yaml
# stages/<stage>.py <its dvc.yaml arguments>`, then `dvc commit <stage>` (see README).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
TVSUM=${1:?usage: scripts/paper_setup.sh /path/to/tvsum [dvc exp run options]}
shift
dvc exp run \
  -S "data.dataset_dir=$TVSUM" -S frames.image_size=224 -S asr.model=large-v3 \
  -S models.teacher.source=google/paligemma2-28b-pt-224 -S models.teacher.quantize_4bit=true \
  -S models.teacher.compute_dtype=bfloat16 -S models.teacher.lora_r=16 \
  -S models.mentor.source=google/paligemma2-10b-pt-224 -S models.mentor.compute_dtype=bfloat16 \
  -S models.mentor.lora_r=16 \
  -S models.student.source=google/paligemma2-3b-pt-224 -S models.student.compute_dtype=bfloat16 \
  -S models.student.lora_r=16 \
  -S train.batch_size=4 -S train.grad_accum=4 -S train.lr=0.0002 -S train.epochs=3 -S train.eval_batch_size=16 \
  "$@"
