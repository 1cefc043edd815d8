"""The committed benchmark figures (benchmarks/results/) describe the run, not the machine's file system."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

RESULTS = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "results").glob("*.json"))


def _strings(obj: object) -> list[str]:
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return [obj] if isinstance(obj, str) else []


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.name)
def test_results_name_no_absolute_path(path: Path) -> None:
    absolute = [s for s in _strings(json.loads(path.read_text(encoding="utf-8"))) if any(
        word.startswith(("/", "~/")) or (len(word) > 2 and word[1:3] == ":\\\\") for word in s.split())]
    assert not absolute, f"{path.name} records paths of the machine it ran on: {absolute}"
