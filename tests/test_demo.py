"""The demo corpus: TVSum layout, real mp4s, deterministic bytes, and importance that needs title and audio."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from deevisum.config import DemoParams
from deevisum.data.benchmarks import read_tvsum
from deevisum.data.demo import corpus as demo
from deevisum.data.demo.corpus import generate_corpus
from deevisum.data.demo.plan import COLOURS, EVENTS_FILE, OBJECTS, plan_corpus, read_videos
from deevisum.io import InputError

TINY = DemoParams(seed=3, n_videos=2, min_seconds=4, max_seconds=5, width=32, height=24)


def _hashes(root: Path) -> dict[str, str]:
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(root.rglob("*")) if f.is_file()}


def _events(root: Path) -> dict:
    return json.loads((root / "data" / EVENTS_FILE).read_text())["videos"]


def _ffprobe(path: Path, stream: str, entries: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", stream, "-show_entries", f"stream={entries}",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout
    streams = json.loads(out)["streams"]
    return streams[0] if streams else {}


def _decode_frames(path: Path, w: int, h: int) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3).astype(np.float32)


def _second_db(path: Path, sr: int, n_seconds: int) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(sr), "-"],
                         capture_output=True, check=True).stdout
    a = np.frombuffer(raw, np.int16).astype(np.float64) / 32768
    return np.array([10 * np.log10(np.mean(a[i * sr: (i + 1) * sr] ** 2) + 1e-12) for i in range(n_seconds)])


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_corpus(first, TINY)
    second.mkdir()
    (second / "stale.txt").write_text("left from an earlier run")
    generate_corpus(second, TINY)  # replaces the whole folder
    generate_corpus(other, DemoParams(**{**TINY.__dict__, "seed": TINY.seed + 1}))
    a, b, c = _hashes(first), _hashes(second), _hashes(other)
    assert a == b
    assert len([k for k in a if k.endswith(".mp4")]) == TINY.n_videos
    assert set(a.values()).isdisjoint(c.values())


def test_a_failed_run_leaves_the_previous_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    out = tmp_path / "demo"
    generate_corpus(out, TINY)
    before = _hashes(out)
    # Videos render in spawned worker processes, which a monkeypatch does not reach: an ffmpeg first on the
    # PATH (the workers inherit it) encodes the first video it is asked for and dies at the end of every other one.
    fake = _fake_ffmpeg(tmp_path_factory.mktemp("fake_ffmpeg"), 'if mkdir "{dir}/first" 2>/dev/null; then exec "{real}" "$@"; fi\n'
                        'cat > /dev/null\necho killed >&2\nexit 1\n')
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RuntimeError, match=r"ffmpeg failed encoding .*killed"):
        generate_corpus(out, DemoParams(**{**TINY.__dict__, "seed": 99}))
    assert (fake / "first").is_dir()  # the fake one ran (in a worker)
    assert _hashes(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no temporary left behind


def _fake_ffmpeg(folder: Path, body: str) -> Path:
    """``folder`` holding an executable ``ffmpeg`` shell script (``{dir}``: the folder, ``{real}``: the real ffmpeg)."""
    real = shutil.which("ffmpeg")
    assert real
    (folder / "ffmpeg").write_text("#!/bin/sh\n" + body.format(dir=folder, real=real))
    (folder / "ffmpeg").chmod(0o755)
    return folder


def test_an_ffmpeg_that_dies_early_is_reported_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ffmpeg exiting before it read the frames (a bad option, a missing codec) fails with what it logged."""
    from deevisum.data.demo.render import encode_mp4, render_frames, synth_audio
    from deevisum.data.wav import write_wav

    (tmp_path / "bin").mkdir()
    fake = _fake_ffmpeg(tmp_path / "bin", "echo no such codec >&2\nexit 1\n")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    plan = plan_corpus(TINY)[0]
    write_wav(tmp_path / "a.wav", synth_audio(plan, TINY), TINY.sample_rate)
    with pytest.raises(RuntimeError, match=r"ffmpeg failed encoding .*out\.mp4 \(exit 1\): no such codec"):
        encode_mp4(render_frames(plan, TINY), tmp_path / "a.wav", TINY, tmp_path / "out.mp4")


def test_parallel_rendering_changes_no_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three videos rendered side by side (twice) and one after another give the same files."""
    p = DemoParams(seed=5, n_videos=3, min_seconds=4, max_seconds=5, width=32, height=24)
    monkeypatch.setattr(demo, "worker_count", lambda: 3)
    generate_corpus(tmp_path / "a", p)
    generate_corpus(tmp_path / "b", p)
    monkeypatch.setattr(demo, "worker_count", lambda: 1)
    generate_corpus(tmp_path / "serial", p)
    a = _hashes(tmp_path / "a")
    assert len([k for k in a if k.endswith(".mp4")]) == 3
    assert a == _hashes(tmp_path / "b") == _hashes(tmp_path / "serial")


def test_layout_is_read_by_the_tvsum_reader(mini_corpus: Path) -> None:
    bench = read_tvsum(mini_corpus)
    events = _events(mini_corpus)
    assert set(bench.videos) == set(events) and len(bench.videos) == 3
    for vid, ann in bench.videos.items():
        assert bench.video_path(vid).is_file()
        assert ann.n_users == 20 and ann.kind == "scores"
        assert ann.fps == pytest.approx(15.0)
        assert ann.duration == events[vid]["n_seconds"]
        assert ann.title == events[vid]["title"]
        colour, obj = events[vid]["target"]
        assert colour in ann.title and obj in ann.title  # the title names what matters


def test_mp4_frame_count_equals_annotation_and_has_audio(mini_corpus: Path) -> None:
    bench = read_tvsum(mini_corpus)
    for vid, ann in bench.videos.items():
        v = _ffprobe(bench.video_path(vid), "v:0", "codec_name,pix_fmt,width,height,nb_read_frames")
        assert (v["codec_name"], v["pix_fmt"], v["width"], v["height"]) == ("h264", "yuv420p", 64, 48)
        assert int(v["nb_read_frames"]) == ann.n_frames
        a = _ffprobe(bench.video_path(vid), "a:0", "codec_name,sample_rate,channels")
        assert (a["codec_name"], int(a["sample_rate"]), a["channels"]) == ("aac", 16000, 1)


def test_annotations_are_integer_ratings_constant_over_segments(mini_corpus: Path) -> None:
    seg = 2 * 15
    for ann in read_tvsum(mini_corpus).videos.values():
        u = ann.user_scores
        assert np.array_equal(u, np.rint(u)) and u.min() >= 1 and u.max() <= 5
        for start in range(0, ann.n_frames, seg):
            block = u[:, start: start + seg]
            assert (block == block[:, :1]).all()
        assert len({tuple(row) for row in u.tolist()}) > 1  # annotators disagree


def test_rendered_events_shots_and_sounds_are_in_the_files(mini_corpus: Path) -> None:
    """What the plan says is really in the pixels and samples: objects, flashes, cuts, loud cues."""
    fps, seen = 15, set()
    for vid, plan in _events(mini_corpus).items():
        path = mini_corpus / "video" / f"{vid}.mp4"
        frames = _decode_frames(path, 64, 48)
        in_event = np.zeros(len(frames), bool)
        for e in plan["events"]:
            span = slice(e["start"] * fps, e["end"] * fps)
            in_event[span] = True
            if e["kind"] == "flash":
                seen.add("flash")
                assert frames[span].mean() > 180
            else:
                seen.add("object")
                colour = np.asarray(COLOURS[e["colour"]], np.float32)
                share = (np.abs(frames[span] - colour).sum(-1) < 60).mean(axis=(1, 2))
                assert share.min() > 0.05  # a big object in every frame of the event
        diffs = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
        for start, _ in plan["shots_frames"][1:]:
            if not in_event[start - 1] and not in_event[start]:
                seen.add("cut")
                assert diffs[start - 1] > 3 * np.median(diffs)  # a hard cut, not a drift
        db = _second_db(path, 16000, plan["n_seconds"])
        cue = np.zeros(plan["n_seconds"], bool)
        for e in plan["events"]:
            cue[e["start"]: e["end"]] |= e["sound"] is not None
        if cue.any():
            seen.add("sound")
            assert db[cue].min() > db[~cue].max() + 6
    assert seen >= {"flash", "object", "sound", "cut"}, f"the mini corpus lacks some event types: {seen}"


def test_read_videos_gives_each_seconds_latent_importance_and_the_events(mini_corpus: Path) -> None:
    videos = read_videos(mini_corpus / "data" / EVENTS_FILE)
    events = _events(mini_corpus)
    assert set(videos) == set(events)
    for vid, video in videos.items():
        values = video["latent"]
        assert values == events[vid]["latent"] and len(values) == events[vid]["n_seconds"]
        assert all(isinstance(v, float) and 0 <= v <= 1 for v in values)
        assert video["events"] == events[vid]["events"]


@pytest.mark.parametrize("content", [
    None,  # missing
    b"\xff\xfe not text",
    "{not json",
    "[1, 2]",
    '{"rules": {}}',
    '{"videos": []}',
    '{"videos": {"v0": {"n_seconds": 3}}}',
    '{"videos": {"v0": {"latent": 0.5}}}',
    '{"videos": {"v0": {"latent": ["high", 0.1], "events": []}}}',
    '{"videos": {"v0": {"latent": [0.1], "events": 3}}}',
])
def test_read_videos_names_a_missing_or_garbled_file(tmp_path: Path, content: str | bytes | None) -> None:
    path = tmp_path / EVENTS_FILE
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="file not found" if content is None else "not a corpus events file") as info:
        read_videos(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("bad", [{"width": 33}, {"min_seconds": 50, "max_seconds": 40}, {"max_shot_seconds": 1.0}])
def test_impossible_params_are_refused_before_writing(tmp_path: Path, bad: dict) -> None:
    with pytest.raises(ValueError, match=r"params: demo\."):
        generate_corpus(tmp_path / "demo", DemoParams(**bad))
    assert not (tmp_path / "demo").exists()


@pytest.fixture(scope="module")
def plans():
    """The default corpus's plans (annotations included, no video encoding)."""
    return plan_corpus(DemoParams())


def _mean_rating(plan, seconds: list[int]) -> float:
    frames = np.concatenate([np.arange(s * plan.fps, (s + 1) * plan.fps) for s in seconds])
    return float(plan.user_scores[:, frames].mean())


def _seconds(plan, pred) -> list[int]:
    return [s for e in plan.events if pred(e) for s in range(e.start, e.end)]


def test_every_colour_object_pair_is_some_videos_target(plans) -> None:
    assert {p.target for p in plans} == {(c, o) for c in COLOURS for o in OBJECTS}


def test_same_object_is_important_only_where_the_title_names_it(plans) -> None:
    gaps = []
    for a in plans:
        for b in plans:
            own = _seconds(a, lambda e: e.kind == "target" and e.narration != "talk_down")
            foreign = _seconds(b, lambda e, t=a.target: e.kind == "distractor" and (e.colour, e.obj) == t)
            if own and foreign:
                gaps.append(_mean_rating(a, own) - _mean_rating(b, foreign))
    assert len(gaps) >= 5
    assert min(gaps) > 1.5


def test_flash_matters_only_with_its_sound(plans) -> None:
    loud = [_mean_rating(p, s) for p in plans if (s := _seconds(p, lambda e: e.kind == "flash" and e.sound))]
    silent = [_mean_rating(p, s) for p in plans
              if (s := _seconds(p, lambda e: e.kind == "flash" and not e.sound and e.narration != "point_out"))]
    quiet = [_mean_rating(p, s) for p in plans if (s := [i for i in range(p.n_seconds) if i not in set(_seconds(p, lambda e: True))])]
    assert loud and silent
    assert min(loud) > max(silent) + 1.0
    assert abs(np.mean(silent) - np.mean(quiet)) < 0.5  # a silent flash is as dull as nothing
    # the sound alone decides nothing: sounded distractors stay unimportant
    sounded = [_mean_rating(p, s) for p in plans if (s := _seconds(p, lambda e: e.kind == "distractor" and e.sound))]
    assert sounded and max(sounded) < min(loud) - 1.0


def test_only_the_narrators_words_change_importance(plans) -> None:
    """Pointed-out silent flashes matter, talked-down targets do not; fillers change nothing."""
    def ratings(pred) -> list[float]:
        return [_mean_rating(p, s) for p in plans if (s := _seconds(p, pred))]

    pointed = ratings(lambda e: e.kind == "flash" and not e.sound and e.narration == "point_out")
    filler_flash = ratings(lambda e: e.kind == "flash" and not e.sound and e.narration == "filler")
    talked_down = ratings(lambda e: e.kind == "target" and e.narration == "talk_down")
    kept = ratings(lambda e: e.kind == "target" and e.narration != "talk_down")
    assert pointed and filler_flash and talked_down and kept
    assert min(pointed) > max(filler_flash) + 1.0  # same picture, same (lack of) sound: only the words differ
    assert np.mean(kept) > np.mean(talked_down) + 1.5
    intents = {line.intent for p in plans for line in p.narration}
    assert intents == {"point_out", "talk_down", "filler"}
    for p in plans:
        for line in p.narration:  # each line is said inside the segment it is about
            inside = [e for e in p.events if e.start <= line.start < e.end]
            end = inside[0].end if inside else (int(line.start) // 2 + 1) * 2
            assert line.end <= end


def test_annotators_agree_like_noisy_humans(plans) -> None:
    """Leave-one-out agreement clearly above chance, far from unanimous."""
    rhos = []
    for p in plans:
        seg = p.user_scores[:, :: 2 * p.fps]
        for i in range(len(seg)):
            rest = np.delete(seg, i, axis=0).mean(axis=0)
            rhos.append(spearmanr(seg[i], rest)[0])
    assert 0.3 < np.nanmean(rhos) < 0.95
