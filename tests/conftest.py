"""Shared test fixtures: the real annotations in ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data with the real TVSum and SumMe annotations."""
    if not (SHARED_DATA / "tvsum" / "ydata-tvsum50-anno.tsv").is_file():
        pytest.skip(f"real benchmark annotations not found at {SHARED_DATA} (see shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mini_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A miniature generated demo corpus in the TVSum layout (3 videos of 6-8 s, 2-4 s shots, 64x48, 15 fps).

    Returns its root: ``video/<id>.mp4`` and ``data/ydata-tvsum50-{anno,info}.tsv``
    (read it with ``deevisum.data.benchmarks.read_tvsum``), plus ``data/demo-events.json``.
    Session-scoped and read-only: copy it before modifying anything in it.
    """
    from deevisum.config import DemoParams
    from deevisum.data.demo.corpus import generate_corpus

    root = tmp_path_factory.mktemp("mini_corpus") / "demo"
    generate_corpus(root, DemoParams(seed=0, n_videos=3, min_seconds=6, max_seconds=8, width=64, height=48,
                                     min_shot_seconds=2, max_shot_seconds=4))
    return root
