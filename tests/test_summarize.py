"""``deevisum summarize``: cutting, reports, bad inputs, and the whole command on tiny models."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from deevisum.app.outputs import (
    SummaryResult,
    check_output,
    cut_video,
    report_paths,
    write_outputs,
)
from deevisum.data.video import frame_times, probe
from deevisum.io import InputError
from deevisum.summary.knapsack import knapsack

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")

FPS, W, H, SECONDS = 10, 64, 48, 8
TIMES = np.arange(SECONDS * FPS + 1) / FPS
"""When each frame of the test videos starts (and the last ends), from the file's start."""


def _brightness_video(path: Path, audio: bool = True, start: float = 0.0) -> Path:
    """A video whose grey level is 20 * (whole second), so a cut can be read back from the pixels;
    ``start``: the container's streams begin at this time stamp instead of 0."""
    args = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", f"color=c=black:size={W}x{H}:rate={FPS}:duration={SECONDS},format=gray,geq=lum='20*floor(T)'"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={SECONDS}", "-c:a", "aac"]
    subprocess.run([*args, "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", "-output_ts_offset", str(start), str(path)],
                   check=True)
    return path


def _probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type:format=duration",
                          "-of", "json", str(path)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def _grey_levels(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, H * W).mean(axis=1)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _brightness_video(tmp_path_factory.mktemp("in") / "in.mp4")


def _result(selected: list[int]) -> SummaryResult:
    shots = [(0.0, 2.0), (2.0, 3.0), (3.0, 6.0), (6.0, 8.0)]
    scores = [float(1 + (i * 7) % 5) for i in range(SECONDS)]
    return SummaryResult(duration=float(SECONDS), scores=scores, shots=shots,
                         shot_frames=[(round(s * FPS), round(e * FPS)) for s, e in shots],
                         shot_scores=[float(np.mean(scores[int(s):int(e)])) for s, e in shots], selected=selected)


@pytest.mark.parametrize("start", [0.0, 1.5])
def test_cut_keeps_exactly_the_selected_seconds_with_audio(start: float, tmp_path: Path) -> None:
    video = _brightness_video(tmp_path / "in.mp4", start=start)
    times = frame_times(video)
    # counted from the file's start, as ffmpeg seeks: its AAC stream starts first (encoder delay) when offset
    assert times[0] == (0 if start == 0 else pytest.approx(1024 / 16000))
    np.testing.assert_allclose(times - times[0], TIMES, atol=1e-6)
    out = tmp_path / "cut.mp4"
    cut_video(video, [(2 * FPS, 3 * FPS), (6 * FPS, 7 * FPS), (7 * FPS, 8 * FPS)], times, out, has_audio=True)
    info = _probe(out)
    assert sorted(s["codec_type"] for s in info["streams"]) == ["audio", "video"]
    assert float(info["format"]["duration"]) == pytest.approx(3.0, abs=0.1)
    levels = _grey_levels(out)
    assert len(levels) == 3 * FPS
    expected = np.repeat([20 * 2, 20 * 6, 20 * 7], FPS)  # seconds 2, 6, 7 in order
    assert np.abs(levels - expected).max() < 4


def test_cut_without_audio_stream(tmp_path: Path) -> None:
    silent = _brightness_video(tmp_path / "silent.mp4", audio=False)
    out = tmp_path / "cut.mp4"
    cut_video(silent, [(0, FPS)], TIMES, out, has_audio=False)
    assert [s["codec_type"] for s in _probe(out)["streams"]] == ["video"]


def test_write_outputs_writes_video_png_json(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "summary.mp4"
    result = _result([1, 3])
    write_outputs(video, out, result, has_audio=True, times=TIMES, title="demo")
    png, js = report_paths(out)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads(js.read_text())
    assert [(s["start"], s["end"]) for s in report["segments"]] == [(2.0, 3.0), (6.0, 8.0)]
    assert report["segments"][0]["score"] == result.shot_scores[1]
    assert report["scores"] == result.scores
    assert report["ratio"] == pytest.approx(3 / SECONDS)
    assert float(_probe(out)["format"]["duration"]) == pytest.approx(3.0, abs=0.1)
    assert sorted(p.name for p in out.parent.iterdir()) == ["summary.json", "summary.mp4", "summary.png"]


def test_failed_cut_leaves_no_partial_output(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    out = tmp_path / "out" / "summary.mp4"
    with pytest.raises(InputError, match="broken.mp4"):
        write_outputs(broken, out, _result([0]), has_audio=False, times=TIMES, title="x")
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_check_output_refuses_bad_destinations(video: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unsupported summary format"):
        check_output(tmp_path / "summary.txt", [video])
    with pytest.raises(InputError, match="is also the input"):
        check_output(video, [video])
    (tmp_path / "adir.mp4").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        check_output(tmp_path / "adir.mp4", [video])
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        check_output(afile / "summary.mp4", [video])
    assert check_output(tmp_path / "new" / "deeper" / "s.mp4", [video]) == tmp_path / "new" / "deeper" / "s.mp4"
    assert not (tmp_path / "new").exists()  # checked by writing a file where the output would go, not by making folders


def test_check_output_refuses_an_unwritable_place(video: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        user_only = [ro / "s.mp4"] if os.geteuid() != 0 else []  # root may write where a user may not
        for out in [*user_only, Path("/proc/deevisum/s.mp4")]:
            with pytest.raises(InputError, match="cannot write in"):
                check_output(out, [video])
    finally:
        ro.chmod(0o700)


# ---------------- the whole command on tiny models ----------------

def _validation(n_rows: int) -> dict:
    """Validation outputs of two exits that always agree with full depth at confidence 0.9: 100 rows
    certify every threshold (0 is calibrated: every second leaves at the first exit), 20 rows none."""
    import torch

    from deevisum.early_exit.heads import CONFIDENCES

    final = torch.randn(n_rows, 5, generator=torch.Generator().manual_seed(0))
    return {"final_logits": final, **{f"logits_{i}": final.clone() for i in range(2)},
            **{f"{m}_{i}": torch.full((n_rows,), 0.9) for m in CONFIDENCES for i in range(2)}}


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny PaliGemma student (+ its tokenizer/processor) and random exit heads: with validation
    outputs that calibrate threshold 0 (``exits``) or none (``never_exits``), without them, or
    of the wrong width."""
    from deevisum.config import ArchParams, ModelParams
    from deevisum.early_exit.heads import ExitConfig, ExitHeads, save_exit_heads
    from deevisum.models.tokenizer import train_tokenizer
    from deevisum.models.vlm import build_vlm, save_vlm

    root = tmp_path_factory.mktemp("models")
    words = "score importance 1 to 5. category: none. title: demo. speech: none. audio: loud, quiet, sudden sound, speech."
    train_tokenizer([words], vocab_size=64).save_pretrained(str(root / "tokenizer"))
    mp = ModelParams(source="tiny")
    arch = ArchParams(hidden_size=32, num_layers=3, num_heads=2, intermediate_size=64, vision_hidden_size=32,
                      vision_layers=1, patch_size=16)
    model, processor = build_vlm(mp, arch, root / "tokenizer", image_size=32, seed=0)
    save_vlm(model, processor, root / "student", mp)
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    heads = ExitHeads(ExitConfig(hidden_size=32, exit_layers=[1, 2], n_answers=5, head_dim=8))
    save_exit_heads(heads, root / "exits", _validation(100))
    save_exit_heads(heads, root / "never_exits", _validation(20))
    save_exit_heads(heads, root / "bare_exits")
    save_exit_heads(ExitHeads(ExitConfig(hidden_size=16, exit_layers=[1], n_answers=5, head_dim=8)), root / "bad_exits",
                    _validation(100))
    return {"student": root / "student", "exits": root / "exits", "never_exits": root / "never_exits",
            "bare_exits": root / "bare_exits", "bad_exits": root / "bad_exits"}


@pytest.fixture(scope="module")
def params_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's params with the tiny models' image size and fine KTS shots."""
    import yaml

    from deevisum.config import load_params, to_dict

    p = to_dict(load_params(Path(__file__).resolve().parents[1] / "params.yaml"))
    p["frames"]["image_size"] = 32
    p["evaluate"]["kts_vmax"] = 0.05  # KTS penalty low enough to find the 2-4 s shots of 7-s videos
    p["ee"]["threshold"] = None  # calibrated on the heads' validation outputs
    path = tmp_path_factory.mktemp("params") / "params.yaml"
    path.write_text(yaml.safe_dump(p))
    return path


HEARD = [{"start": 1.0, "end": 1.8, "text": "hello world", "no_speech_prob": 0.0, "avg_logprob": -0.1,
          "words": [{"start": 1.0, "end": 1.4, "word": "hello"}, {"start": 1.4, "end": 1.8, "word": "world"}]}]
"""What the stand-in transcriber hears in every WAV."""


@pytest.fixture
def fake_asr(monkeypatch: pytest.MonkeyPatch) -> list:
    """``load_asr`` replaced by a transcriber that hears :data:`HEARD`; returns the AsrParams it was given
    (whisper itself is tested in test_asr.py and by the end-to-end test here)."""
    import deevisum.data.asr

    loaded: list = []

    def load_asr(p: object) -> object:
        loaded.append(p)
        return lambda wav_path: [dict(s) for s in HEARD]

    monkeypatch.setattr(deevisum.data.asr, "load_asr", load_asr)
    return loaded


def _summarize(video: Path, out: Path, models: dict[str, Path], params: Path, *extra: str) -> int:
    from deevisum.app.cli import main

    return main(["summarize", str(video), "-o", str(out), "--student", str(models["student"]), "--exits",
                 str(models["exits"]), "--params", str(params), *extra])


def test_summarize_demo_video_end_to_end(mini_corpus: Path, tiny_models: dict, params_file: Path, tmp_path: Path) -> None:
    video = sorted((mini_corpus / "video").glob("*.mp4"))[0]
    out = tmp_path / "summary.mp4"
    assert _summarize(video, out, tiny_models, params_file, "--budget", "0.5", "--threshold", "0") == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    n_seconds = len(report["scores"])
    assert n_seconds == int(np.ceil(report["duration"])) and all(1 <= s <= 5 for s in report["scores"])
    assert report["exit_layers"] == [1] * n_seconds  # threshold 0: every second leaves at the first exit
    assert report["settings"]["threshold"] == 0 and report["settings"]["threshold_source"] == "manual"
    assert report["settings"]["budget"] == 0.5
    shots = [(s["start"], s["end"]) for s in report["shots"]]
    assert shots[0][0] == 0 and shots[-1][1] == pytest.approx(report["duration"], abs=1e-3)
    assert all(a[1] == b[0] for a, b in zip(shots, shots[1:]))
    chosen = report["segments"]
    assert chosen and 0 < report["summary_seconds"] <= 0.5 * report["duration"] + 1e-6
    # the selection is the evaluation's knapsack over the shots (lengths in frames of the video's exact
    # rate), capacity floor(budget * frames); a shot is worth its mean score, times its length under
    # the default summarize.shot_value "total"
    rate = probe(video).frame_rate
    lengths = np.array([round((e - s) * rate) for s, e in shots])
    values = np.array([s["score"] for s in report["shots"]])
    assert report["settings"]["shot_value"] == "total"
    best = knapsack(values * lengths, lengths, int(0.5 * round(report["duration"] * rate)))
    assert [s["shot"] for s in chosen] == best.tolist()
    info = _probe(out)
    assert sorted(s["codec_type"] for s in info["streams"]) == ["audio", "video"]
    assert float(info["format"]["duration"]) == pytest.approx(report["summary_seconds"], abs=0.15)


def test_no_early_exit_runs_full_depth(mini_corpus: Path, tiny_models: dict, params_file: Path, fake_asr: list,
                                      tmp_path: Path) -> None:
    video = sorted((mini_corpus / "video").glob("*.mp4"))[0]
    out = tmp_path / "full.mp4"
    assert _summarize(video, out, tiny_models, params_file, "--budget", "0.5", "--no-early-exit") == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert set(report["exit_layers"]) == {3}
    assert report["settings"]["exits"] is None and report["settings"]["threshold"] is None


@pytest.mark.parametrize(("exits", "threshold", "layers"), [("exits", 0.0, 1), ("never_exits", None, 3)])
def test_threshold_defaults_to_the_one_calibrated_on_validation(exits: str, threshold: float | None, layers: int,
                                                                video: Path, tiny_models: dict, params_file: Path,
                                                                fake_asr: list, tmp_path: Path) -> None:
    """No --threshold: the heads' validation outputs calibrate it; none certified: full depth."""
    out = tmp_path / "s.mp4"
    assert _summarize(video, out, {**tiny_models, "exits": tiny_models[exits]}, params_file, "--budget", "0.5") == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["settings"]["threshold"] == threshold and report["settings"]["threshold_source"].startswith("calibrated")
    assert set(report["exit_layers"]) == {layers}


def test_heads_without_validation_outputs_fail_clearly(video: Path, tiny_models: dict, params_file: Path, fake_asr: list,
                                                      tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out" / "s.mp4"
    assert _summarize(video, out, {**tiny_models, "exits": tiny_models["bare_exits"]}, params_file) == 1
    err = capsys.readouterr().err
    assert str(tiny_models["bare_exits"] / "validation.safetensors") in err and "re-run train_exits" in err
    assert not out.parent.exists()
    # a threshold given by hand needs no calibration
    assert _summarize(video, out, {**tiny_models, "exits": tiny_models["bare_exits"]}, params_file, "--threshold", "2") == 0


def test_asr_model_flag_overrides_the_asr_params(video: Path, tiny_models: dict, params_file: Path, fake_asr: list,
                                                 tmp_path: Path) -> None:
    from deevisum.config import load_params

    assert _summarize(video, tmp_path / "s.mp4", tiny_models, params_file, "--asr-model", "small.en") == 0
    assert fake_asr == [dataclasses.replace(load_params(params_file).asr, model="small.en")]


@pytest.mark.parametrize("problem", ["no video stream", "not a readable video", "not a saved model", "do not fit",
                                     "shorter than one frame"])
def test_bad_input_fails_clearly_without_output(problem: str, tiny_models: dict, params_file: Path, video: Path,
                                                fake_asr: list, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source, models, extra = video, dict(tiny_models), []
    if problem == "no video stream":
        source = tmp_path / "audio_only.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                        "sine=frequency=440:duration=2", "-c:a", "aac", str(source)], check=True)
    elif problem == "not a readable video":
        source = tmp_path / "garbage.mp4"
        source.write_bytes(random.Random(0).randbytes(2048))  # fixed: ~2% of random blocks parse as subtitles
    elif problem == "not a saved model":
        models["student"] = tmp_path / "nowhere"
    elif problem == "do not fit":
        models["exits"] = models["bad_exits"]
    else:
        extra = ["--budget", "0.01"]  # 0.8 of the 80 frames: no summary can be cut
    out = tmp_path / "out" / "summary.mp4"
    assert _summarize(source, out, models, params_file, *extra) == 1
    err = capsys.readouterr().err
    culprit = {"not a saved model": models["student"], "do not fit": models["exits"]}.get(problem, source)
    assert problem in err and "error" in err and str(culprit) in err  # the error names the file at fault
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def _check_summary(source: Path, out: Path, budget: float) -> dict:
    """The three outputs exist, the video plays (ffprobe) for as long as the report says, and the summary
    is as long as the budget allows: the knapsack's capacity floor(budget * frames) at most, and short of
    it by less than any shot left out (shot values are positive, so a skipped shot that fitted would
    have been taken; sub-shots keep every shot <= the capacity)."""
    report = json.loads(out.with_suffix(".json").read_text())
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    info, times = probe(source), frame_times(source)  # the report's times are the frames' time stamps

    def frame(t: float) -> int:
        return int(np.abs(times - t).argmin())

    frames = [(frame(s["start"]), frame(s["end"])) for s in report["shots"]]
    assert frames[0][0] == 0 and frames[-1][1] == info.n_frames
    chosen = {s["shot"] for s in report["segments"]}
    taken = sum(b - a for i, (a, b) in enumerate(frames) if i in chosen)
    room = math.floor(budget * info.n_frames) - taken
    assert chosen and 0 <= room < min(b - a for i, (a, b) in enumerate(frames) if i not in chosen)
    played = _probe(out)
    assert [s["codec_type"] for s in played["streams"]] == ["video", "audio"][: 1 + info.has_audio]
    assert float(played["format"]["duration"]) == pytest.approx(report["summary_seconds"], abs=0.1 + 1 / info.fps)
    spans = [times[b] - times[a] for i, (a, b) in enumerate(frames) if i in chosen]
    assert report["summary_seconds"] == pytest.approx(sum(spans), abs=1e-3 * len(spans))
    return report


def test_video_without_audio_is_summarized_silently(tiny_models: dict, params_file: Path, fake_asr: list,
                                                    tmp_path: Path) -> None:
    """No audio track: no transcript, silent cues, and a summary with a video stream only."""
    silent = _brightness_video(tmp_path / "silent.mp4", audio=False)
    out = tmp_path / "silent_summary.mp4"
    assert _summarize(silent, out, tiny_models, params_file, "--budget", "0.5") == 0
    report = _check_summary(silent, out, 0.5)
    assert report["settings"]["has_audio"] is False
    # the cut holds exactly the selected frames, read back from the grey levels (20 x their second)
    frames = [f for seg in report["segments"] for f in range(round(seg["start"] * FPS), round(seg["end"] * FPS))]
    assert np.abs(_grey_levels(out) - 20 * (np.array(frames) // FPS)).max() < 4


VFR = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=15:duration=3", "-f", "lavfi", "-i",
       "testsrc2=size=160x120:rate=30:duration=3,hue=h=90", "-f", "lavfi", "-i", "sine=frequency=440:duration=6",
       "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-map", "2:a", "-fps_mode", "vfr"]
"""3 s at 15 fps then 3 s at 30 fps, time stamps kept (Matroska then reports the first part's 15 fps)."""


USER_VIDEOS = {
    # name: (file suffix, lavfi video source of {s} seconds, seconds)
    "4-s clip": (".mp4", "testsrc2=size=320x240:rate=25:duration={s}", 4),
    "30000/1001 fps": (".mp4", "testsrc2=size=160x120:rate=30000/1001:duration={s}", 5),
    "640x272": (".mp4", "testsrc2=size=640x272:rate=24:duration={s}", 4),
    "720p": (".mp4", "testsrc2=size=1280x720:rate=30:duration={s}", 3),
    "odd size 321x241": (".mkv", "testsrc2=size=321x241:rate=25:duration={s}", 3),
    # a tripod camera: one shot (KTS finds no cut), 10x longer than the 10-s sub-shots
    "long single shot": (".mp4", "smptebars=size=160x120:rate=10:duration={s},noise=alls=10:allf=t", 100),
    "variable frame rate mp4": (".mp4", "vfr", 6),
    "variable frame rate mkv": (".mkv", "vfr", 6),
}
"""Videos as users have them (a no-audio one: test_video_without_audio_is_summarized_silently)."""


def _user_video(name: str, directory: Path) -> Path:
    suffix, source, seconds = USER_VIDEOS[name]
    path = directory / f"{name.replace(' ', '_').replace('/', '_')}{suffix}"
    args = VFR if source == "vfr" else ["-f", "lavfi", "-i", source.format(s=seconds), "-f", "lavfi", "-i",
                                        f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    codecs = ["-c:v", "libx264", "-pix_fmt", "yuv444p" if "odd" in name else "yuv420p", "-c:a", "aac"]
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args, *codecs, str(path)], check=True)
    return path


@pytest.mark.parametrize("name", list(USER_VIDEOS))
def test_videos_as_users_have_them_get_a_summary_of_about_the_budget(name: str, tiny_models: dict, params_file: Path,
                                                                      fake_asr: list, tmp_path: Path) -> None:
    source = _user_video(name, tmp_path)
    out = tmp_path / "summary.mp4"
    assert _summarize(source, out, tiny_models, params_file) == 0  # the default 15% budget
    report = _check_summary(source, out, 0.15)
    info = probe(source)
    assert len(report["scores"]) == info.n_seconds
    assert report["duration"] == pytest.approx(USER_VIDEOS[name][2], abs=2 / info.fps)  # VFR: frames / their span
    if name in ("4-s clip", "long single shot"):
        # one shot longer than the budget (0.6 s; 15 s > 10 s max): equal sub-shots, the summary within one of them
        assert report["summary_seconds"] == pytest.approx(0.15 * report["duration"], abs=1 / info.fps if name[0] == "4" else 1.0)
    if name == "640x272":
        sizes = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=width,height",
                                "-of", "csv=p=0", str(out)], check=True, capture_output=True, text=True).stdout
        assert sizes.strip() == "640,272"


def test_long_audio_is_transcribed_in_pieces_in_video_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The transcriber gets at most ASR_PIECE_SECONDS at once, cut at a quiet moment; its times come back in video time."""
    import wave

    from deevisum.app import summarize
    from deevisum.config import Params

    monkeypatch.setattr(summarize, "ASR_PIECE_SECONDS", 30)
    sr = 16000
    noise = (np.random.default_rng(0).normal(0, 3000, 70 * sr)).astype(np.int16)
    noise[int(27.3 * sr) : int(27.5 * sr)] = 0  # a pause inside the last 5 s of the first piece
    borders = summarize._piece_borders(noise, sr)
    assert borders[:2] == [0, int(27.3 * sr)] and borders[-1] == len(noise)
    assert all(25 * sr <= b - a <= 30 * sr for a, b in itertools.pairwise(borders[:-1])) and borders[-1] - borders[-2] <= 30 * sr
    video = _user_video("long single shot", tmp_path)  # 100 s of a steady tone
    heard: list[float] = []

    def transcriber(wav: Path) -> list[dict]:
        with wave.open(str(wav)) as w:
            heard.append(w.getnframes() / w.getframerate())
        return [dict(s) for s in HEARD]

    segments, cues = summarize._transcript_and_cues(video, True, 100, transcriber, Params())
    assert len(heard) == 4 and all(25 <= d <= 30 for d in heard[:-1]) and sum(heard) == pytest.approx(100, abs=0.1)
    offsets = np.cumsum([0.0, *heard[:-1]])
    assert [s["start"] for s in segments] == pytest.approx(offsets + 1.0, abs=1e-3)
    assert [w["end"] for s in segments for w in s["words"]] == pytest.approx(np.repeat(offsets, 2) + [1.4, 1.8] * 4, abs=1e-3)
    assert [c["second"] for c in cues if c["speech"]] == sorted({int(o + 1.0) for o in offsets} | {int(o + 1.8) for o in offsets})


def test_audio_cut_of_many_spans(tmp_path: Path) -> None:
    """A long video's summary has hundreds of runs: the audio cut must take them all (a flat ffmpeg
    expression failed past about a hundred)."""
    from deevisum.app.outputs import _cut_audio

    source = tmp_path / "tone.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=f=440:d=200", "-c:a", "aac", str(source)],
                   check=True)
    spans = [(i * 0.8, i * 0.8 + 0.3) for i in range(240)]
    _cut_audio(source, spans, tmp_path / "cut.m4a")
    duration = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                     str(tmp_path / "cut.m4a")], capture_output=True, text=True, check=True).stdout)
    assert abs(duration - 240 * 0.3) < 0.1


# ---------------- defaults, messages and the model card ----------------

def test_output_defaults_to_the_input_stem_beside_it(video: Path, tiny_models: dict, params_file: Path, fake_asr: list,
                                                     tmp_path: Path) -> None:
    from deevisum.app.cli import main

    source = tmp_path / "holiday.mp4"
    shutil.copy(video, source)
    assert main(["summarize", str(source), "--student", str(tiny_models["student"]), "--exits", str(tiny_models["exits"]),
                 "--params", str(params_file)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["holiday.mp4", "holiday.summary.json", "holiday.summary.mp4",
                                                          "holiday.summary.png"]


@pytest.fixture
def pipeline_repo(tiny_models: dict, params_file: Path, tmp_path: Path) -> Path:
    """A folder laid out like the repository after ``dvc repro``: params.yaml (the demo's) and the
    student and exit heads where summarize's defaults look for them, the student trained on frame + title."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(params_file, repo / "params.yaml")
    shutil.copytree(tiny_models["student"], repo / "models" / "student" / "fold0-seed0")
    shutil.copytree(tiny_models["exits"], repo / "models" / "exits" / "fold0-seed0")
    (repo / "models" / "student" / "fold0-seed0" / "prompt.json").write_text('{"modalities": "frame_title"}\n')
    return repo


def _lavfi_video(path: Path, size: str, rate: int) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate={rate}:duration=4", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
                   check=True)
    return path


@pytest.mark.parametrize(("size", "rate", "unlike"), [("64x48", 10, True), ("160x120", 15, False)])
def test_model_card_and_a_warning_for_videos_unlike_the_demo(size: str, rate: int, unlike: bool, pipeline_repo: Path,
                                                              fake_asr: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture) -> None:
    """Run from the repository with its defaults: the JSON says what the model was trained on (from its
    folder and params.yaml), and a video of another size or rate than the demo's clips is warned about."""
    from deevisum.app.cli import main

    source = _lavfi_video(tmp_path / "clip.mp4", size, rate)
    monkeypatch.chdir(pipeline_repo)
    assert main(["summarize", str(source), "--budget", "0.5"]) == 0
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if line.startswith("summarize: warning:")]
    assert len(warned) == int(unlike)
    if unlike:
        assert "synthetic 160x120, 15-fps demo clips" in warned[0] and f"{size} at {rate} fps" in warned[0]
    card = json.loads((tmp_path / "clip.summary.json").read_text())["model_card"]
    assert card["model"] == "models/student/fold0-seed0" and card["prompt_modalities"] == "frame_title"
    assert card["decoder"] == {"hidden_size": 32, "num_hidden_layers": 3} and card["vision"]["image_size"] == 32
    data = card["training_data"]
    assert data["params"] == "params.yaml" and data["role"] == "student" and data["synthetic"] is True
    assert data["finetuned_on"].startswith("the generated demo corpus: 20 videos of 25-55 s, 160x120, 15 fps")
    from deevisum.config import load_params

    corpus = load_params(pipeline_repo / "params.yaml").pretrain.corpus
    assert f"{corpus.n_videos} synthetic videos of {corpus.min_seconds}-{corpus.max_seconds} s" in data["pretrained_on"]
    assert card["input_unlike_training_data"] is unlike


def test_model_card_says_when_the_training_data_is_unknown(video: Path, tiny_models: dict, params_file: Path,
                                                           fake_asr: list, tmp_path: Path) -> None:
    """A model outside the params file's repository: the params do not describe it, and nothing is warned."""
    out = tmp_path / "s.mp4"
    assert _summarize(video, out, tiny_models, params_file) == 0
    card = json.loads(out.with_suffix(".json").read_text())["model_card"]
    assert card["training_data"] is None and "not in the repository of" in card["training_data_unknown"]
    assert card["prompt_modalities"] == "not recorded (all)" and card["input_unlike_training_data"] is None


STEPS = ("decoding", "transcribing", "scoring")
"""The steps of a long video that show a progress bar in seconds of video, with an ETA."""


def test_quiet_hides_progress_and_verbose_adds_settings(video: Path, tiny_models: dict, params_file: Path, fake_asr: list,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _summarize(video, tmp_path / "a.mp4", tiny_models, params_file) == 0
    err = capsys.readouterr().err
    assert "summarize: loading the model" in err
    assert all(re.search(rf"{step}: +\d+%\|.*\| *\d+/\d+ \[\d\d:\d\d<", err) for step in STEPS), err  # each bar: elapsed<ETA
    assert "Loading weights" not in err  # transformers' own bar: loading the model is one message
    assert _summarize(video, tmp_path / "b.mp4", tiny_models, params_file, "-q") == 0
    assert capsys.readouterr() == ("", "")
    assert _summarize(video, tmp_path / "c.mp4", tiny_models, params_file, "-v") == 0
    err = capsys.readouterr().err
    assert "summarize: debug: model card:" in err and "summarize: debug: params:" in err
    assert all(re.search(rf"{step}: +\d+%", err) for step in STEPS)
    from tqdm.std import tqdm

    assert not tqdm(range(1), file=open(os.devnull, "w")).disable  # -q's bar switch is undone after the command


def test_missing_exits_or_calibration_name_the_next_step(video: Path, tiny_models: dict, params_file: Path,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _summarize(video, tmp_path / "s.mp4", {**tiny_models, "exits": tmp_path}, params_file) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}: no exit heads here" in err and "--no-early-exit" in err and "--exits" in err
