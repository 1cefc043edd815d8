"""Prompts: per-second targets, transcript windows, modality subsets, video-level folds."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io.wavfile
import yaml
from tiny_vlm import processed, write_corpus

from deevisum.config import PromptsParams
from deevisum.data.benchmarks import VideoAnnotation
from deevisum.data.examples import build_examples, second_targets, split_examples
from deevisum.data.frames_store import StoredVideo, read_index, write_video
from deevisum.data.prompts import (
    MAX_WORD_CHARS,
    prompt_fields,
    render_prompt,
    speech_words,
)
from deevisum.data.splits import Run, make_splits, read_splits, runs, splits_document
from deevisum.io import InputError

P = PromptsParams()
EXAMPLE = {
    "category": "dog show",
    "title": "Chasing the {red} ball",  # braces in values must not be re-interpreted
    "speech": "look at that",
    "audio": "loud, sudden sound",
}


def annotation(scores: list[list[float]], kind: str = "scores") -> VideoAnnotation:
    return VideoAnnotation("v", "cat", "a title", np.array(scores, dtype=np.float32), kind)  # type: ignore[arg-type]


def test_second_targets_from_hand_made_annotations() -> None:
    # fps 2: second 0 = frames 0-1, second 1 = frames 2-3, second 2 = frame 4 (partial last second)
    ann = annotation([[1, 2, 5, 5, 3], [2, 2, 4, 5, 3], [5, 4, 1, 1, 4]])
    dist, target, mean = second_targets(ann, Fraction(2), 3)
    # per-user second scores: s0 = [1.5->2, 2, 4.5->5], s1 = [5, 4.5->5, 1], s2 = [3, 3, 4]
    np.testing.assert_allclose(dist.sum(axis=1), 1.0)
    np.testing.assert_allclose(dist[0], [0, 2 / 3, 0, 0, 1 / 3])
    np.testing.assert_allclose(dist[1], [1 / 3, 0, 0, 0, 2 / 3])
    np.testing.assert_allclose(mean, [3.0, 11 / 3, 10 / 3])
    assert target.tolist() == [3, 4, 3]


def test_targets_round_half_up_and_fractional_fps() -> None:
    ann = annotation([[2, 3, 3, 4, 4]] * 2)
    # fps 2.5: seconds cover frames [0, 2) and [2, 5)
    dist, target, mean = second_targets(ann, Fraction(5, 2), 2)
    assert target.tolist() == [3, 4]  # means 2.5 and 3.67: half rounds up
    np.testing.assert_allclose(mean, [3, 4])


def test_selection_annotations_map_to_1_and_5() -> None:
    dist, target, _ = second_targets(annotation([[0, 0, 1, 1], [0, 1, 1, 1]], kind="selection"), Fraction(2), 2)
    np.testing.assert_allclose(dist, [[0.5, 0, 0.5, 0, 0], [0, 0, 0, 0, 1]])
    assert target.tolist() == [2, 5]  # second 0: users score 1 and 3


def test_second_targets_exact_for_ntsc_rates() -> None:
    # 30000/1001 fps: second 1000 is frames [29970, 30000), second 1001 starts at frame 30000 exactly
    # (one frame early and its target would be the mean of 1 and 5). 30001 frames: 1002 seconds,
    # the last one frame 30000 alone.
    scores = np.full(30001, 3.0)
    scores[29970:30000] = 1
    scores[30000] = 5
    _, target, mean = second_targets(annotation([scores.tolist()]), Fraction(30000, 1001), 1002)
    assert len(target) == 1002
    assert target[1000] == 1 and target[1001] == 5 and mean[1001] == 5
    assert (target[:1000] == 3).all()
    # second 0 is frames [0, 29): 29 frames, not 30
    first = np.full(30001, 3.0)
    first[:29] = 1
    assert second_targets(annotation([first.tolist()]), Fraction(30000, 1001), 2)[1].tolist() == [1, 3]


SEGMENTS = [
    {"start": 0.0, "end": 2.0, "text": "one two three four"},  # words at [0,.5) [.5,1) [1,1.5) [1.5,2)
    {"start": 5.0, "end": 6.0, "text": "five six"},
]


@pytest.mark.parametrize(
    ("second", "window", "expected"),
    [
        (0, 0.0, "one two"),
        (1, 0.0, "three four"),
        (2, 0.0, "none"),
        (3, 1.0, "none"),  # window [2, 5): 'four' ends at 2.0 and 'five' starts at 5.0
        (2, 1.0, "three four"),  # window [1, 4)
        (6, 1.0, "five six"),
    ],
)
def test_speech_words_window(second: int, window: float, expected: str) -> None:
    assert speech_words(SEGMENTS, second, window, 12) == expected


def test_speech_words_use_word_timestamps_and_normalise() -> None:
    seg = {"start": 0.0, "end": 9.0, "text": "Watch this, the best part.",
           "words": [{"start": 4.1, "end": 4.4, "word": " Watch"}, {"start": 4.4, "end": 4.6, "word": " this,"},
                     {"start": 4.7, "end": 4.8, "word": " the"}, {"start": 4.8, "end": 5.1, "word": " best"},
                     {"start": 5.1, "end": 5.6, "word": " part."}]}
    assert speech_words([seg], 4, 0.0, 12) == "watch this the best"  # not spread over the segment's 9 s
    assert speech_words([seg], 5, 0.0, 12) == "best part"
    assert speech_words([seg], 0, 1.0, 12) == "none"


def test_speech_words_keeps_nearest_and_clips_long_words() -> None:
    segs = [{"start": 0.0, "end": 4.0, "text": "a b c d e f g h"}]  # 0.5 s per word
    assert speech_words(segs, 2, 2.0, 2) == "e f"  # the two words around 2.5 s, in time order
    long = [{"start": 0.0, "end": 1.0, "text": "x" * 200}]
    assert speech_words(long, 0, 0.0, 12) == "x" * MAX_WORD_CHARS


def test_render_prompt_adds_one_modality_per_step() -> None:
    full = render_prompt(EXAMPLE, P.template, "frame_title_audio_speech")
    title_audio = render_prompt(EXAMPLE, P.template, "frame_title_audio")
    title = render_prompt(EXAMPLE, P.template, "frame_title")
    frame = render_prompt(EXAMPLE, P.template, "frame")
    for value in EXAMPLE.values():
        assert value in full
        assert value not in frame
    assert EXAMPLE["title"] in title and EXAMPLE["category"] in title
    assert "speech" not in title and "audio" not in title
    assert EXAMPLE["audio"] in title_audio and "speech" not in title_audio
    assert not any(word in frame for word in ("title", "category", "speech", "audio"))
    assert frame == "score importance 1 to 5."
    assert title_audio.endswith(f"audio: {EXAMPLE['audio']}.")
    assert render_prompt(EXAMPLE, P.template) == full
    no_title = render_prompt(EXAMPLE, P.template, "frame_audio_speech")  # the probe's: all but category and title
    assert no_title == "score importance 1 to 5. " + full.split(f"{EXAMPLE['title']}. ", 1)[1]
    assert EXAMPLE["speech"] in no_title and "title" not in no_title and "category" not in no_title
    with pytest.raises(ValueError, match="unknown modalities"):
        render_prompt(EXAMPLE, P.template, "audio_only")


def test_build_examples_one_per_second() -> None:
    ann = annotation([[1, 1, 5, 5, 3, 3]] * 3)
    cues = [{"second": i, "text": t} for i, t in enumerate(["none", "loud, speech", "quiet"])]
    examples = build_examples(ann, 3, Fraction(2), SEGMENTS, cues, P)
    assert [ex["second"] for ex in examples] == [0, 1, 2]
    assert set(examples[0]) == {
        "video_id", "second", "category", "title", "speech", "audio", "prompt", "target_dist", "target", "mean"
    }
    assert [ex["target"] for ex in examples] == [1, 5, 3]
    assert examples[1]["audio"] == "loud, speech" and examples[1]["speech"] == "one two three four"  # window [0, 3)
    for ex in examples:
        assert ex["prompt"] == render_prompt(ex, P.template)
        assert sum(ex["target_dist"]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="2 cue entries for 3 seconds"):
        build_examples(ann, 3, Fraction(2), SEGMENTS, cues[:2], P)


def test_prompt_fields_fill_missing_text_with_none() -> None:
    fields = prompt_fields("", "", [], [{"text": "quiet"}], P)
    assert fields == [{"category": "none", "title": "none", "speech": "none", "audio": "quiet"}]


IDS = [f"v{i:02d}" for i in range(13)]
CATS = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"]


def test_splits_are_video_level_and_cover_every_video_once() -> None:
    folds = make_splits(IDS, CATS, 5, 2, seed=0)
    assert len(folds) == 5
    assert Counter(v for f in folds for v in f["test"]) == Counter(IDS)
    for f in folds:
        train, val, test = set(f["train"]), set(f["val"]), set(f["test"])
        assert not (train & val or train & test or val & test)
        assert train | val | test == set(IDS)
        assert len(val) == 2
    sizes = sorted(len(f["test"]) for f in folds)
    assert sizes[-1] - sizes[0] <= 1
    # stratified: the 5 'a' videos land in 5 different test folds
    assert all(sum(CATS[IDS.index(v)] == "a" for v in f["test"]) == 1 for f in folds)


def test_splits_deterministic_per_seed() -> None:
    assert make_splits(IDS, CATS, 5, 1, seed=3) == make_splits(IDS, CATS, 5, 1, seed=3)
    assert any(make_splits(IDS, CATS, 5, 1, seed=s) != make_splits(IDS, CATS, 5, 1, seed=0) for s in range(1, 4))


def test_splits_document_lists_every_fold_and_the_selected_ones() -> None:
    folds = make_splits(IDS, CATS, 5, 1, seed=0)
    doc = splits_document(folds, [3, 1])
    assert doc == {"n_folds": 5, "selected": [1, 3], "folds": folds}
    with pytest.raises(ValueError, match=r"prompts.folds = \[1, 5\]: folds \[5\] are not in 0..4"):
        splits_document(folds, [1, 5])


def test_runs_pair_every_selected_fold_with_every_seed_fold_major(tmp_path: Path) -> None:
    path = tmp_path / "splits.json"
    path.write_text(json.dumps(splits_document(make_splits(IDS, CATS, 5, 1, seed=0), [4, 2])))
    assert runs(path, [7, 0]) == [Run(2, 7), Run(2, 0), Run(4, 7), Run(4, 0)]
    assert [r.name for r in runs(path, [0])] == ["fold2-seed0", "fold4-seed0"]
    assert read_splits(path)["selected"] == [2, 4]


@pytest.mark.parametrize(
    "doc",
    [
        {"n_folds": 1, "fold": 0, "train": ["a"], "val": ["b"], "test": ["c"]},  # the old one-fold layout
        {"n_folds": 1, "selected": [1], "folds": [{"train": ["a"], "val": ["b"], "test": ["c"]}]},
        {"n_folds": 1, "selected": [0], "folds": [{"train": ["a"], "val": "b", "test": ["c"]}]},
        {"n_folds": 1, "selected": [0], "folds": [{"train": ["a"], "test": ["c"]}]},
        ["not", "a", "mapping"],
    ],
)
def test_read_splits_rejects_what_is_not_a_splits_document(tmp_path: Path, doc: object) -> None:
    path = tmp_path / "splits.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="not a splits document"):
        read_splits(path)


def test_processed_data_reads_the_lists_of_its_fold(tmp_path: Path) -> None:
    data = write_corpus(tmp_path, n_folds=2)  # fold k: the four videos rotated by k
    assert {e["video_id"] for e in data.examples("test")} == {"vid3"}
    fold1 = data.for_fold(1)
    assert {e["video_id"] for e in fold1.examples("test")} == {"vid0"}
    assert [e["video_id"] for e in fold1.examples("val", "train")][::10] == ["vid1", "vid2", "vid3"]  # (video, second) order
    assert split_examples(data.examples_file, data.splits_file, 1, "train", "val") == fold1.examples("train", "val")
    with pytest.raises(ValueError, match="needs a fold"):
        processed(tmp_path, fold=None).examples("train")


def test_splits_reject_impossible_configs() -> None:
    with pytest.raises(ValueError, match="cannot fill"):
        make_splits(IDS[:3], CATS[:3], 5, 1, seed=0)
    with pytest.raises(ValueError, match="cannot hold out"):
        make_splits(IDS[:5], CATS[:5], 5, 4, seed=0)


def test_read_frames_index(tmp_path: Path) -> None:
    path = tmp_path / "frames.h5"
    with h5py.File(path, "w") as f:
        write_video(f, "abc", Fraction(15), 100, np.zeros((7, 4, 4, 3), np.uint8))  # ceil(100 / 15) = 7 seconds
    assert read_index(path) == {"abc": StoredVideo("abc", Fraction(15), 100, 7)}
    with pytest.raises(InputError, match="run extract_frames"):
        read_index(tmp_path / "missing.h5")


REPO = Path(__file__).resolve().parents[1]


def _stage(name: str, cwd: Path, **paths: str) -> None:
    """Run ``stages/<name>.py`` in ``cwd`` (it reads params.yaml there) with dvc.yaml's ``--<path>`` arguments."""
    args = [a for k, v in paths.items() for a in (f"--{k}", v)]
    subprocess.run([sys.executable, str(REPO / "stages" / f"{name}.py"), *args], cwd=cwd, check=True, capture_output=True)


def test_cues_and_prompt_stages_skip_a_video_without_audio(tmp_path: Path) -> None:
    """The stages end to end on a hand-made TVSum folder; a video whose WAV is missing is skipped and reported."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(dataset="tvsum", dataset_dir="bench", on_error="skip")
    params["prompts"].update(n_folds=3, folds=[2, 0], val_videos=1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    ids, fps, n_frames = ["a1", "b2", "c3", "d4"], 15, 40  # 40 frames at 15 fps: 3 seconds, the last partial
    (tmp_path / "bench" / "data").mkdir(parents=True)
    scores = {v: ",".join(str(1 + (k + f // fps) % 5) for f in range(n_frames)) for k, v in enumerate(ids)}
    rows = [f"{v}\tFM\t{scores[v]}" for v in ids for _ in range(3)]  # 3 annotators, all alike
    (tmp_path / "bench" / "data" / "ydata-tvsum50-anno.tsv").write_text("\n".join(rows) + "\n")
    info = ["category\tvideo_id\ttitle\turl\tlength"]
    info += [f"FM\t{v}\ttitle {v}\thttp://x\t0:{n_frames / fps:05.2f}" for v in ids]
    (tmp_path / "bench" / "data" / "ydata-tvsum50-info.tsv").write_text("\n".join(info) + "\n")
    processed = tmp_path / "data" / "processed"
    (processed / "audio").mkdir(parents=True)
    with h5py.File(processed / "frames.h5", "w") as f:
        for v in ids:
            write_video(f, v, Fraction(fps), n_frames, np.zeros((3, 4, 4, 3), np.uint8))
    audio = (0.01 * np.random.default_rng(0).standard_normal(int(16000 * n_frames / fps)) * 32767).astype(np.int16)
    audio[16000 : 16000 + 4000] = 20000  # a loud block in second 1
    for v in ids[:3]:
        scipy.io.wavfile.write(processed / "audio" / f"{v}.wav", 16000, audio)
    segment = {"start": 0.2, "end": 1.0, "text": "hello there", "no_speech_prob": 0.1, "avg_logprob": -0.2}
    (processed / "transcripts.json").write_text(json.dumps({v: [segment] for v in ids[:3]} | {"d4": []}))

    d = "data/processed"
    _stage("audio_cues", tmp_path, frames=f"{d}/frames.h5", audio=f"{d}/audio", transcripts=f"{d}/transcripts.json",
           out=f"{d}/cues.json", report=f"{d}/audio_cues_report.json")
    cues = json.loads((processed / "cues.json").read_text())
    assert sorted(cues) == ids[:3] and all(len(c) == 3 for c in cues.values())
    assert "loud" in cues["a1"][1]["text"] and cues["a1"][0]["speech"] and not cues["a1"][2]["speech"]
    report = json.loads((processed / "audio_cues_report.json").read_text())
    assert [s["item"] for s in report["skipped"]] == ["d4"] and "d4.wav" in report["skipped"][0]["path"]

    _stage("build_prompts", tmp_path, dataset="bench", frames=f"{d}/frames.h5", transcripts=f"{d}/transcripts.json",
           cues=f"{d}/cues.json", out=f"{d}/examples.jsonl", splits=f"{d}/splits.json",
           report=f"{d}/build_prompts_report.json")
    examples = [json.loads(line) for line in (processed / "examples.jsonl").read_text().splitlines()]
    assert [(e["video_id"], e["second"]) for e in examples] == [(v, s) for v in ids[:3] for s in range(3)]
    assert examples[0]["speech"] == "hello there" and examples[0]["target"] == 1 and examples[1]["target"] == 2
    assert examples[2]["target"] == 3  # the partial last second: frames 30..39
    splits = read_splits(processed / "splits.json")
    assert splits["n_folds"] == 3 and splits["selected"] == [0, 2]
    assert all(sorted(f["train"] + f["val"] + f["test"]) == ids[:3] for f in splits["folds"])
    report = json.loads((processed / "build_prompts_report.json").read_text())
    assert [s["item"] for s in report["skipped"]] == ["d4"]
