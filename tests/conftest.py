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
