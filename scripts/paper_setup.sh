#!/usr/bin/env bash
# The paper's setup (DEEVISum): copies presets/paper.yaml over params.yaml, pointed at your TVSum, for
# `dvc repro` / `dvc exp run` on a GPU machine. PaliGemma2 28B teacher (4-bit NF4 QLoRA, bf16 compute), 10B
# mentor and 3B student with LoRA, 224 px frames, exits after layers 4/8/12, whisper small.en.
#
#   HF_TOKEN=hf_... scripts/paper_setup.sh /data/tvsum      then: dvc repro   (or dvc exp run ...)
#   PRESET=presets/gemma3.yaml HF_TOKEN=hf_... scripts/paper_setup.sh /data/tvsum   (the Gemma 3 twin)
#
# Weights: the gated google/paligemma2-{28b,10b,3b}-pt-224 checkpoints. Accept their license on
# huggingface.co, then export HF_TOKEN: transformers downloads them on first use into the Hugging Face
# cache (HF_HOME, ~70 GB). HF_TOKEN in the environment is the only place a token is read from; never
# write one into this repository. Already downloaded (or copied into HF_HOME): HF_HUB_OFFLINE=1 instead.
# whisper small.en is downloaded by faster-whisper on first use (or set asr.model to a local folder).
# GPU memory per stage: `deevisum plan --params presets/paper.yaml [--gpu-gb 80]` (run below).
# Restore the demo profile with `git checkout params.yaml`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TVSUM=${1:?usage: scripts/paper_setup.sh /path/to/tvsum   (TVSum in its release layout: video/, data/*.tsv)}
PRESET=${PRESET:-presets/paper.yaml}   # PRESET=presets/gemma3.yaml: the Gemma 3 27B/12B/4B twin

if [ ! -f "$TVSUM/data/ydata-tvsum50-anno.tsv" ] || [ ! -d "$TVSUM/video" ]; then
  echo "paper_setup: $TVSUM is not TVSum in its release layout (needs video/ and data/ydata-tvsum50-anno.tsv)" >&2
  exit 1
fi
if [ -z "${HF_TOKEN:-}" ] && [ "${HF_HUB_OFFLINE:-0}" != 1 ]; then
  echo "paper_setup: set HF_TOKEN (a Hugging Face token whose account accepted the checkpoints' license)," >&2
  echo "             or HF_HUB_OFFLINE=1 when the checkpoints are already in the Hugging Face cache" >&2
  exit 1
fi
source scripts/setup.sh

TVSUM=$(cd "$TVSUM" && pwd)
trap 'rm -f params.yaml.paper' EXIT
sed "s|^  dataset_dir: .*|  dataset_dir: $TVSUM|" "$PRESET" > params.yaml.paper
python -c "import sys; from deevisum.config import load_params; load_params(sys.argv[1])" params.yaml.paper
mv params.yaml.paper params.yaml
echo "paper_setup: params.yaml is now the paper profile ($PRESET, dataset_dir: $TVSUM)."
echo "paper_setup: GPU memory per stage (fits = with a 2 GiB reserve):"
deevisum plan --params params.yaml --gpu-gb "${GPU_GB:-80}" || echo "paper_setup: some stage does not fit ${GPU_GB:-80} GiB: lower train.batch_size / train.eval_batch_size / ee.batch_size" >&2
echo "paper_setup: next, on the GPU machine: dvc repro   (one fold first: dvc exp run -S 'prompts.folds=[0]')"
echo "paper_setup: back to the demo profile: git checkout params.yaml"
