#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: ffmpeg and espeak-ng (the demo's narrator), a venv with the pinned
# requirements (CPU torch first, so nothing pulls CUDA wheels), DVC analytics off,
# and a git identity (dvc exp needs one). Sourced by scripts/repro.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null || ! command -v espeak-ng >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg espeak-ng >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.requirements.sha
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi

export DVC_NO_ANALYTICS=1 PATH="$PWD/.venv/bin:$PATH" PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false
git config user.email >/dev/null || git config user.email "deevisum@localhost"
git config user.name >/dev/null || git config user.name "deevisum"
git rev-parse --verify -q HEAD >/dev/null || git commit -q --allow-empty -m "initial commit (dvc exp needs one)"
