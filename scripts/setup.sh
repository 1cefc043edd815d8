#!/usr/bin/env bash
# Idempotent set-up, safe to run (`bash scripts/setup.sh`) or to source (`source scripts/setup.sh`):
#   - ffmpeg and espeak-ng (the demo's narrator) from apt when missing (says so first: it may ask for sudo);
#   - .venv with the pinned requirements.txt (CPU torch first, so nothing pulls CUDA wheels) and deevisum
#     itself (editable), reinstalled only when requirements*.txt or pyproject.toml change
#     (stamp: .venv/.requirements.sha);
#   - a repository-local git identity when there is none (dvc exp needs one);
#   - exports: .venv/bin first on PATH, DVC analytics off, PYTHONHASHSEED=0, TOKENIZERS_PARALLELISM=false.
# Sourced, it leaves your shell as it was apart from those exports: its options (set -e, -u, pipefail...)
# are restored, it does not cd, and its variables and function are removed. A failure returns 1 (it never
# exits your shell). scripts/repro.sh and scripts/test.sh source it. Bash only.

_deevisum_setup() {
  local repo py stamp want
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || return 1
  set -o pipefail

  if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null || ! command -v espeak-ng >/dev/null; then
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing ffmpeg and espeak-ng with ${sudo:+sudo }apt-get" >&2
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq ffmpeg espeak-ng >/dev/null \
      || { echo "setup: apt-get failed; install ffmpeg and espeak-ng, then run this again" >&2; return 1; }
  fi

  py=${PYTHON:-python3.11}
  command -v "$py" >/dev/null || py=python3
  if [ ! -x "$repo/.venv/bin/python" ]; then
    echo "setup: creating $repo/.venv with $py" >&2
    "$py" -m venv "$repo/.venv" || return 1
  fi
  stamp="$repo/.venv/.requirements.sha"
  want=$(cat "$repo"/requirements*.txt "$repo/pyproject.toml" | sha256sum | cut -d' ' -f1) || return 1
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing the pinned requirements into .venv" >&2
    local pip=("$repo/.venv/bin/pip" install -q --disable-pip-version-check) req
    "${pip[@]}" torch==2.13.0 || return 1
    for req in "$repo"/requirements*.txt; do   # requirements.txt, and requirements-test.txt where there is one
      "${pip[@]}" -r "$req" || return 1
    done
    "${pip[@]}" --no-deps --no-build-isolation -e "$repo" || return 1
    echo "$want" > "$stamp" || return 1
  fi

  case ":$PATH:" in
    *":$repo/.venv/bin:"*) ;;
    *) PATH="$repo/.venv/bin:$PATH" ;;
  esac
  export PATH DVC_NO_ANALYTICS=1 PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false
  if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$repo" config user.email >/dev/null || git -C "$repo" config user.email "deevisum@localhost"
    git -C "$repo" config user.name >/dev/null || git -C "$repo" config user.name "deevisum"
  fi
  return 0
}

_deevisum_setup_options=$(set +o)   # every option as the command that restores it
_deevisum_setup_rc=0
_deevisum_setup "$@" || _deevisum_setup_rc=$?
eval "$_deevisum_setup_options"
unset -f _deevisum_setup
unset _deevisum_setup_options
if (return 0 2>/dev/null); then   # sourced: hand the status back, leave the shell open
  eval "unset _deevisum_setup_rc; return $_deevisum_setup_rc"
else
  exit "$_deevisum_setup_rc"
fi
