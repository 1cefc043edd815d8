"""deevisum.timebase and the frames store that records it, on hand-computed cases.

Second i covers frames [floor(i * fps), floor((i + 1) * fps)); its frame is floor((i + 1/2) * fps),
clamped to the last frame. Every expected number below is worked out by hand in the comments.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest

from deevisum.data.frames_store import (
    StoredVideo,
    load_example_frames,
    read_index,
    read_videos,
    video_rates,
    write_video,
)
from deevisum.io import InputError
from deevisum.timebase import (
    exact_rate,
    frame_time,
    frames_at_seconds,
    middle_frames,
    n_units,
    second_bounds,
    unit_starts,
)

NTSC = Fraction(30000, 1001)  # 29.97002997... frames per second


# ---------------- 30000/1001 ----------------


def test_ntsc_second_starts() -> None:
    # floor(29.97) = 29, floor(59.94) = 59, floor(89.91) = 89, floor(1000 * 29.97003) = floor(29970.03) = 29970,
    # and 1001 * 30000/1001 = 30000 exactly
    starts = unit_starts(NTSC, 1001)
    assert len(starts) == 1002
    assert starts[:4].tolist() == [0, 29, 59, 89]
    assert starts[1000] == 29970 and starts[1001] == 30000
    assert frames_at_seconds(np.array([0, 1, 2, 1000, 1001, 2002]), NTSC).tolist() == [0, 29, 59, 29970, 30000, 60000]


def test_ntsc_n_units() -> None:
    # n_units = ceil(n_frames * 1001 / 30000)
    assert n_units(0, NTSC) == 0
    assert n_units(1, NTSC) == 1
    assert n_units(29, NTSC) == 1  # 29029 / 30000 = 0.97
    assert n_units(30, NTSC) == 2  # 30030 / 30000 = 1.001: frame 29 opens second 1
    assert n_units(30000, NTSC) == 1001  # exactly 1001 seconds
    assert n_units(30001, NTSC) == 1002  # one frame more opens second 1001


def test_ntsc_middle_frames_clamped_in_a_short_last_second() -> None:
    # middle of second i: floor((2i + 1) * 30000 / 2002) = floor(14.985), floor(44.955), floor(74.925) = 14, 44, 74
    # 89 frames: ceil(89 * 1001 / 30000) = ceil(2.97) = 3 whole seconds
    assert middle_frames(NTSC, 89).tolist() == [14, 44, 74]
    # 90 frames: ceil(3.003) = 4 seconds, second 3 is frame 89 alone (middle floor(104.895) = 104 clamped to 89)
    assert middle_frames(NTSC, 90).tolist() == [14, 44, 74, 89]
    # 60 frames: ceil(60 * 1001 / 30000) = ceil(2.002) = 3 seconds; second 2 is [59, 89) cut to frame 59 alone,
    # so its middle frame 74 is clamped to the last frame, 59
    assert middle_frames(NTSC, 60).tolist() == [14, 44, 59]
    assert second_bounds(NTSC, 60).tolist() == [0, 29, 59, 60]
    # second 1001 of a 30001-frame video is frame 30000 alone; second 1000 is [29970, 30000), middle
    # floor(2001 * 30000 / 2002) = floor(29985.01) = 29985
    mid = middle_frames(NTSC, 30001)
    assert len(mid) == 1002 and mid[1000] == 29985 and mid[1001] == 30000
    assert second_bounds(NTSC, 30001)[-3:].tolist() == [29970, 30000, 30001]


def test_ntsc_frame_time() -> None:
    assert frame_time(30000, NTSC) == pytest.approx(1001.0)
    assert frame_time(29, NTSC) == pytest.approx(29 * 1001 / 30000)
    assert frame_time(np.array([0, 30, 60]), NTSC).tolist() == pytest.approx([0.0, 1.001, 2.002])


# ---------------- 15 and 25 fps ----------------


def test_15_fps() -> None:
    r = Fraction(15)
    assert unit_starts(r, 3).tolist() == [0, 15, 30, 45]
    assert n_units(45, r) == 3 and n_units(46, r) == 4 and n_units(40, r) == 3
    # 50 frames: 4 seconds, the last [45, 50)
    assert second_bounds(r, 50).tolist() == [0, 15, 30, 45, 50]
    # middles floor(7.5), floor(22.5), floor(37.5) = 7, 22, 37; a 32-frame video's last second is [30, 32): 31
    assert middle_frames(r, 45).tolist() == [7, 22, 37]
    assert middle_frames(r, 40).tolist() == [7, 22, 37]
    assert middle_frames(r, 32).tolist() == [7, 22, 31]
    assert middle_frames(r, 1).tolist() == [0]


def test_25_fps() -> None:
    r = Fraction(25)
    assert frames_at_seconds(np.arange(4), r).tolist() == [0, 25, 50, 75]
    # middles floor(12.5), floor(37.5), floor(62.5) = 12, 37, 62
    assert middle_frames(r, 75).tolist() == [12, 37, 62]
    # 51 frames: ceil(51 / 25) = 3 seconds, the last one frame 50 alone
    assert n_units(51, r) == 3 and n_units(50, r) == 2
    assert second_bounds(r, 51).tolist() == [0, 25, 50, 51]
    assert middle_frames(r, 51).tolist() == [12, 37, 50]
    assert frame_time(50, r) == 2.0


def test_exact_rate() -> None:
    assert exact_rate("30000/1001") == NTSC
    assert exact_rate(NTSC) == NTSC
    assert exact_rate(25) == Fraction(25)
    assert exact_rate(2.5) == Fraction(5, 2)
    assert exact_rate(29.97) != NTSC  # 29.97 is not NTSC's rate
    for bad in (0, -25, "-1/2"):
        with pytest.raises(ValueError, match="must be positive"):
            exact_rate(bad)


# ---------------- the frames store ----------------


def _frames(n_seconds: int, base: int, size: int = 4) -> np.ndarray:
    """Frames whose every pixel is ``base + second``, so a frame tells which second it stands for."""
    return np.broadcast_to((base + np.arange(n_seconds, dtype=np.uint8))[:, None, None, None], (n_seconds, size, size, 3)).copy()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        write_video(f, "ntsc", NTSC, 60, _frames(3, 10))  # 3 seconds (see above)
        write_video(f, "pal", Fraction(25), 51, _frames(3, 20))  # 3 seconds
    return path


def test_frames_store_round_trip_keeps_the_exact_rate(store: Path) -> None:
    index = read_index(store)
    assert index == {
        "ntsc": StoredVideo("ntsc", Fraction(30000, 1001), 60, 3),
        "pal": StoredVideo("pal", Fraction(25), 51, 3),
    }
    ntsc = index["ntsc"]
    assert type(ntsc.rate) is Fraction and ntsc.rate == Fraction(30000, 1001)
    assert (ntsc.rate.numerator, ntsc.rate.denominator) == (30000, 1001)
    assert ntsc.fps == 30000 / 1001
    with h5py.File(store) as f:
        g = f["ntsc"]
        assert {k: int(v) for k, v in g.attrs.items()} == {"fps_num": 30000, "fps_den": 1001, "n_frames": 60, "n_seconds": 3}
        assert g["frames"].chunks == (1, 4, 4, 3)  # one second per chunk
    assert video_rates(store, ["pal", "ntsc"]) == {"pal": Fraction(25), "ntsc": NTSC}
    with pytest.raises(InputError, match=r"no frames for video\(s\) \['gone'\]"):
        video_rates(store, ["ntsc", "gone"])


def test_read_videos_in_the_asked_order(store: Path) -> None:
    assert [(m.video_id, int(f[0, 0, 0, 0])) for m, f in read_videos(store)] == [("ntsc", 10), ("pal", 20)]
    assert [m.video_id for m, _ in read_videos(store, ["pal", "ntsc"])] == ["pal", "ntsc"]
    with pytest.raises(InputError, match="no frames for video gone"):
        list(read_videos(store, ["gone"]))


def test_load_example_frames_returns_each_examples_second(store: Path) -> None:
    examples = [
        {"video_id": "pal", "second": 2},
        {"video_id": "ntsc", "second": 0},
        {"video_id": "pal", "second": 0},
        {"video_id": "ntsc", "second": 2},
    ]
    frames = load_example_frames(store, examples)
    assert frames.dtype == np.uint8 and frames.shape == (4, 4, 4, 3)
    assert frames[:, 0, 0, 0].tolist() == [22, 10, 20, 12]
    assert (frames == frames[:, :1, :1, :1]).all()  # every pixel of a frame is its marker
    assert load_example_frames(store, []).shape == (0, 1, 1, 3)
    with pytest.raises(InputError, match=re.escape(f"{store}: video ntsc has 3 seconds of frames, example asks second 3")):
        load_example_frames(store, [{"video_id": "ntsc", "second": 3}])
    with pytest.raises(InputError, match="no frames for video gone"):
        load_example_frames(store, [{"video_id": "gone", "second": 0}])


def test_write_video_refuses_a_frame_count_that_is_not_one_per_second(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "frames.h5", "w") as f, pytest.raises(ValueError, match="v: 2 frames for 3 seconds"):
        write_video(f, "v", NTSC, 60, _frames(2, 0))


def test_group_without_the_rate_attrs_names_the_file(tmp_path: Path) -> None:
    # a frames.h5 written by the old layout: a float fps and a duration, no fps_num / fps_den
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("old")
        g.create_dataset("frames", data=_frames(3, 0))
        g.attrs.update(fps=29.97, n_frames=60, duration=60 / 29.97, n_seconds=3)
    for read in (lambda: read_index(path), lambda: load_example_frames(path, [{"video_id": "old", "second": 0}])):
        with pytest.raises(InputError) as e:
            read()
        assert e.value.path == str(path)
        assert str(e.value).startswith(f"{path}: group old lacks the attrs ['fps_num', 'fps_den']")
        assert "re-run extract_frames" in str(e.value)


def test_missing_store_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'none.h5'}: file not found (run extract_frames first)")):
        read_index(tmp_path / "none.h5")
