"""The TVSum-scale benchmark's corpus (benchmarks/tvsum_scale.py): the real videos' shape, cut short."""

from __future__ import annotations

import importlib.util
import sys
from fractions import Fraction
from pathlib import Path
from types import ModuleType

from deevisum.data.benchmarks import read_tvsum
from deevisum.data.video import check_annotation, probe

REPO = Path(__file__).resolve().parents[1]


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tvsum_scale", REPO / "benchmarks" / "tvsum_scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_real_shape(shared_data: Path) -> None:
    bench = _benchmark()
    videos = bench.real_videos(shared_data / "tvsum")
    assert len(videos) == 50 and sum(v.n_frames for v in videos) == 352353
    assert {v.rate for v in videos} == {Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001),
                                        Fraction(30)}
    assert 3.2 < sum(v.hours for v in videos) < 3.6
    assert len({v.category for v in bench.balanced(videos)[:10]}) == 10  # any prefix is category-balanced


def test_corpus_matches_its_annotations(shared_data: Path, tmp_path: Path) -> None:
    """Two videos (30000/1001 and 25 fps) cut to ~3 s: frame counts and rates as annotated, audio present."""
    bench = _benchmark()
    tvsum = shared_data / "tvsum"
    videos = bench.real_videos(tvsum)
    picked = [next(v for v in videos if v.rate == rate).cut(80) for rate in (Fraction(30000, 1001), Fraction(25))]
    plans = bench.render_corpus(tmp_path / "videos", picked, 64, 48)
    bench.write_dataset(tmp_path / "dataset", picked, tmp_path / "videos", plans, tvsum)
    dataset = read_tvsum(tmp_path / "dataset")
    assert list(dataset.videos) == [v.video_id for v in picked]
    for v in picked:
        info = probe(dataset.video_path(v.video_id))
        check_annotation(info, dataset.videos[v.video_id], dataset.video_path(v.video_id))
        assert (info.n_frames, info.frame_rate, info.has_audio) == (80, v.rate, True)
