"""Does the ``dvc plots show`` page draw every plot with the network off? Headless Chromium says.

    dvc plots show && python scripts/check_plots_offline.py dvc_plots/index.html

Chromium (Debian: ``apt-get install chromium``) loads the page headless, in a network namespace of
its own when ``unshare -n`` is allowed (root) and with every host name unresolvable in any case,
runs its scripts for 10 s of virtual time and hands back the DOM. A plot counts as drawn when its
``<div>`` holds a vega canvas of non-zero size. Exit status 0 when every plot is drawn, 1 when one
is not, 2 when Chromium is missing; one line per plot either way.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=10000", "--dump-dom")
PLOT_DIV = re.compile(r'<div id\s*=\s*"([^"]+)"')
"""A plot's container in the page (dvc_render's VegaRenderer.DIV) and in Chromium's DOM."""
DRAWN = re.compile(r'<canvas width="[1-9]\d*" height="[1-9]\d*" class="marks"')


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM if (path := shutil.which(name))), None)


def _offline_prefix() -> list[str]:
    """``unshare -n`` (no network interface but loopback) where this user may create namespaces."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True, check=False).returncode == 0:
        return [unshare, "-n"]
    return []


def rendered_dom(page: Path, chromium: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([*_offline_prefix(), chromium, *FLAGS, f"--user-data-dir={profile}", page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def drawn_plots(page: Path, dom: str) -> dict[str, bool]:
    """Each plot of the page (in page order) -> whether the DOM holds a drawn canvas inside its div."""
    ids = PLOT_DIV.findall(page.read_text(encoding="utf-8"))
    starts = [(m.start(), m.group(1)) for m in PLOT_DIV.finditer(dom) if m.group(1) in ids]
    ends = [s for s, _ in starts[1:]] + [len(dom)]
    found = {plot: bool(DRAWN.search(dom, start, end)) for (start, plot), end in zip(starts, ends)}
    return {plot: found.get(plot, False) for plot in ids}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", nargs="?", type=Path, default=Path("dvc_plots/index.html"))
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print(f"no Chromium found ({', '.join(CHROMIUM)}): apt-get install chromium", file=sys.stderr)
        return 2
    drawn = drawn_plots(args.page, rendered_dom(args.page, chromium))
    for plot, ok in drawn.items():
        print(f"{'drawn' if ok else 'NOT DRAWN'}  {plot}")
    print(f"{sum(drawn.values())}/{len(drawn)} plots drawn offline ({'own network namespace' if _offline_prefix() else 'host names unresolvable'})")
    return 0 if drawn and all(drawn.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
