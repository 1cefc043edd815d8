"""scripts/setup.sh is safe to source: the caller's shell options, directory and variables are left as they
were (bar its documented exports), a failure returns instead of closing the shell, and the venv's
``deevisum`` ends up on PATH. Run on a copy of the script in a folder whose venv is a stub with a matching
requirements stamp, and with stub ffmpeg/ffprobe/espeak-ng first on PATH, so nothing is installed."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")


def _stub(path: Path, body: str = "exit 0") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A folder laid out like the repository after set-up: the script, requirements, pyproject and a
    venv (stubs) whose stamp matches them, so the script has nothing to install."""
    repo = tmp_path / "repo with space"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", repo / "scripts" / "setup.sh")
    (repo / "requirements.txt").write_text("numpy==2.4.6\n")
    (repo / "pyproject.toml").write_text("[project]\nname = 'deevisum'\n")
    for name in ("python", "deevisum"):
        _stub(repo / ".venv" / "bin" / name)
    _stub(repo / ".venv" / "bin" / "pip", "echo 'pip must not run' >&2; exit 1")
    digest = hashlib.sha256((repo / "requirements.txt").read_bytes() + (repo / "pyproject.toml").read_bytes()).hexdigest()
    (repo / ".venv" / ".requirements.sha").write_text(digest + "\n")
    for tool in ("ffmpeg", "ffprobe", "espeak-ng"):
        _stub(tmp_path / "tools" / tool)
    (tmp_path / "elsewhere").mkdir()
    return repo


def _bash(script: str, checkout: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{checkout.parent / 'tools'}:{os.environ['PATH']}", "SETUP": str(checkout / "scripts" / "setup.sh")}
    env.pop("PYTHONHASHSEED", None)
    return subprocess.run(["bash", "-c", script], cwd=checkout.parent / "elsewhere", env=env, capture_output=True, text=True,
                          timeout=60)


PROBE = """
before_opts=$(set +o); before_pwd=$PWD; before_vars=$(compgen -v | grep -v -e '^BASH' -e '^_$' -e '^PIPESTATUS$' | sort)
source "$SETUP"; rc=$?
[ "$(set +o)" == "$before_opts" ] && echo "options unchanged"
[ "$PWD" == "$before_pwd" ] && echo "pwd unchanged"
new=$(comm -13 <(echo "$before_vars") <(compgen -v | grep -v -e '^BASH' -e '^_$' -e '^PIPESTATUS$' -e '^before_' -e '^rc$' \
      -e '^DVC_NO_ANALYTICS$' -e '^PYTHONHASHSEED$' -e '^TOKENIZERS_PARALLELISM$' | sort))   # the documented exports
echo "rc=$rc new_vars=[$(echo $new)] functions=[$(declare -F | grep -c _deevisum)]"
echo "deevisum=$(command -v deevisum)"
echo "hashseed=$PYTHONHASHSEED"
"""


@pytest.mark.parametrize("options", ["", "set -euo pipefail", "set -x; shopt -s extglob"])
def test_sourcing_leaves_the_shell_as_it_was(options: str, checkout: Path) -> None:
    twice = 'source "$SETUP"; echo "venv on PATH $(tr : "\\n" <<< "$PATH" | grep -cxF "${SETUP%/scripts/setup.sh}/.venv/bin") time(s)"'
    run = _bash(f"{options}\n{PROBE}\n{twice}", checkout)
    out = run.stdout
    assert run.returncode == 0, run.stderr
    assert "options unchanged" in out and "pwd unchanged" in out
    assert "rc=0 new_vars=[] functions=[0]" in out  # its exports aside, nothing left behind
    assert f"deevisum={checkout}/.venv/bin/deevisum" in out and "hashseed=0" in out
    assert "venv on PATH 1 time(s)" in out  # sourced twice: PATH holds the venv once
    assert "pip must not run" not in run.stderr


def test_a_failure_returns_without_closing_the_shell(checkout: Path) -> None:
    """A changed requirements file needs pip, which fails here: the sourcing returns 1, the shell goes on
    with its options as they were, and nothing was recorded as installed."""
    (checkout / "requirements.txt").write_text("numpy==2.4.7\n")
    stamp = (checkout / ".venv" / ".requirements.sha").read_text()
    run = _bash(PROBE + "echo still here", checkout)
    assert "pip must not run" in run.stderr
    assert "options unchanged" in run.stdout and "pwd unchanged" in run.stdout
    assert "rc=1 new_vars=[] functions=[0]" in run.stdout and "still here" in run.stdout
    assert (checkout / ".venv" / ".requirements.sha").read_text() == stamp


def test_running_it_works_too(checkout: Path) -> None:
    run = _bash('bash "$SETUP" && echo ok', checkout)
    assert run.returncode == 0 and run.stdout == "ok\n", run.stderr
