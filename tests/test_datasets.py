"""Benchmark readers on the real TVSum/SumMe annotations (../shared/data) and on broken inputs."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from deevisum.data.benchmarks import (
    TVSUM_ANNO,
    TVSUM_INFO,
    read_benchmark,
    read_summe,
    read_tvsum,
    read_tvsum_mat,
)
from deevisum.io import InputError


@pytest.fixture(scope="module")
def tvsum(shared_data: Path):
    return read_tvsum(shared_data / "tvsum")


@pytest.fixture(scope="module")
def tvsum_mat(shared_data: Path):
    return read_tvsum_mat(shared_data / "tvsum" / "ydata-tvsum50.mat")


def _mat_gt(path: Path) -> dict[str, np.ndarray]:
    """The release's own ``gt_score`` per video, straight from the .mat."""
    with h5py.File(path, "r") as f:
        t = f["tvsum50"]
        ids = [bytes(np.asarray(f[t["video"][i, 0]][()], np.uint8).ravel()).decode() for i in range(t["video"].shape[0])]
        return {vid: np.asarray(f[t["gt_score"][i, 0]][()], np.float64).ravel() for i, vid in enumerate(ids)}


def test_tvsum_has_50_videos_by_20_annotators_in_10_categories(tvsum) -> None:
    assert len(tvsum.videos) == 50
    assert {v.n_users for v in tvsum.videos.values()} == {20}
    cats = [v.category for v in tvsum.videos.values()]
    assert len(set(cats)) == 10 and all(cats.count(c) == 5 for c in set(cats))
    for v in tvsum.videos.values():
        assert v.kind == "scores"
        assert v.user_scores.min() >= 1 and v.user_scores.max() <= 5
        assert 20 < v.fps < 35  # frame count / length (m:ss) gives YouTube-like frame rates


def test_tsv_equals_mat_user_anno(tvsum, tvsum_mat) -> None:
    assert list(tvsum.videos) == list(tvsum_mat)  # same videos, same order
    for vid, v in tvsum.videos.items():
        m = tvsum_mat[vid]
        assert np.array_equal(v.user_scores, m.user_scores)
        assert v.category == m.category and v.title == m.title
        assert v.duration == pytest.approx(m.duration, abs=0.5)  # info length is m:ss, rounded


def test_gt_score_is_the_annotator_mean(tvsum, shared_data: Path) -> None:
    gt = _mat_gt(shared_data / "tvsum" / "ydata-tvsum50.mat")
    for vid, v in tvsum.videos.items():
        assert np.allclose(v.gt_score, gt[vid], atol=1e-4)


def test_titles_decode_as_utf8(tvsum_mat) -> None:
    titles = [v.title for v in tvsum_mat.values()]
    assert all(titles)
    assert any(not t.isascii() for t in titles)  # e.g. 'ŠKODA': bytes decoded as UTF-8, not Latin-1
    assert not any("\ufffd" in t or "Ã" in t for t in titles)


def test_summe_has_25_videos_with_15_to_18_users(shared_data: Path) -> None:
    bench = read_benchmark("summe", shared_data / "summe")
    assert len(bench.videos) == 25
    for v in bench.videos.values():
        assert 15 <= v.n_users <= 18 and v.kind == "selection"
        assert v.fps and v.duration and v.n_frames == pytest.approx(v.fps * v.duration, rel=0.05)
        assert ((v.user_scores > 0).mean(axis=1) < 0.5).all()  # each user selects a short summary


def _tvsum_dir(tmp_path: Path, info: bytes, anno: str) -> Path:
    (tmp_path / "data").mkdir(parents=True)
    (tmp_path / "data" / TVSUM_INFO).write_bytes(info)
    (tmp_path / "data" / TVSUM_ANNO).write_text(anno, encoding="utf-8")
    return tmp_path


INFO_HEADER = b"category\tvideo_id\ttitle\turl\tlength\n"


@pytest.mark.parametrize(
    ("info", "anno", "problem", "bad_file"),
    [
        pytest.param(b"VT\ta\tCaf\xe9 tyres\t\t0:02\n", "a\tVT\t1,2,3\n", "line 2 is not valid UTF-8", TVSUM_INFO,
                     id="non-utf8-title"),
        pytest.param(b"VT\ta\tA\t\t0:02\n", "a\tVT\t1,2,3\nb\tVT\t4,5,1\n", "no info row for annotated video b",
                     TVSUM_INFO, id="missing-info-row"),
        pytest.param(b"VT\ta\tA\t\t0:02\n", "a\tVT\t1,2,3\na\tVT\t1,2\n", "line 2: a has 2 frames, earlier rows 3",
                     TVSUM_ANNO, id="frame-count-mismatch"),
    ],
)
def test_bad_tvsum_files_name_the_file_and_problem(tmp_path: Path, info: bytes, anno: str, problem: str, bad_file: str) -> None:
    root = _tvsum_dir(tmp_path, INFO_HEADER + info, anno)
    with pytest.raises(InputError, match=problem) as err:
        read_tvsum(root)
    assert err.value.path == str(root / "data" / bad_file)


def test_missing_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="annotation file not found"):
        read_tvsum(tmp_path)
    with pytest.raises(InputError, match="no SumMe GT"):
        read_summe(tmp_path)
    root = _tvsum_dir(tmp_path / "x", INFO_HEADER + b"VT\ta\tA\t\tsoon\n", "a\tVT\t1,2,3\n")
    with pytest.raises(InputError, match="bad length 'soon'"):
        read_tvsum(root)
    with pytest.raises(ValueError, match="unknown dataset"):
        read_benchmark("youtube", root)
