"""Pretraining of the roles' tiny architectures (deevisum.distill.pretrain): latent-importance targets, the
held-out videos, and a role pretrained, saved as a checkpoint its ``source`` loads, resumed, and trained the
same side by side as alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_vlm import read_curves, tiny_model, write_corpus

from deevisum.config import ModelParams, PretrainParams, TrainParams
from deevisum.data.captions import CAPTION_PROMPTS
from deevisum.data.demo.plan import EVENTS_FILE
from deevisum.data.examples import read_examples
from deevisum.distill import parallel, trainer
from deevisum.distill.pretrain import (
    PretrainJob,
    _sets,
    held_out_videos,
    latent_targets,
    pretrain_config,
    pretrain_roles,
)
from deevisum.models.tokenizer import train_tokenizer
from deevisum.models.vlm import build_vlm

ANSWERS = np.arange(1, 6)


def test_latent_targets_expect_the_answer_4l_plus_1() -> None:
    latent = np.concatenate([[0, 1, 0.25, 0.5, 0.75, 0.1, 0.999, 1e-9], np.random.default_rng(0).uniform(0, 1, 200)])
    t = latent_targets(latent)
    assert t.shape == (len(latent), 5) and t.dtype == np.float32
    assert (t >= 0).all()
    np.testing.assert_allclose(t.sum(1), 1, atol=1e-6)
    np.testing.assert_allclose(t @ ANSWERS, 4 * latent + 1, atol=1e-5)
    assert ((t > 0).sum(1) <= 2).all()  # two-hot: the two answers around 4 l + 1
    np.testing.assert_array_equal(t[0], [1, 0, 0, 0, 0])  # l = 0: answer 1
    np.testing.assert_array_equal(t[1], [0, 0, 0, 0, 1])  # l = 1: answer 5
    np.testing.assert_allclose(t[2], [0, 1, 0, 0, 0])  # l = 1/4: exactly answer 2
    np.testing.assert_allclose(t[5], [0.6, 0.4, 0, 0, 0], atol=1e-6)  # l = 0.1: score 1.4


def test_latent_targets_clip_to_the_answer_range() -> None:
    np.testing.assert_array_equal(latent_targets([-0.5, 1.5]), [[1, 0, 0, 0, 0], [0, 0, 0, 0, 1]])
    assert latent_targets([]).shape == (0, 5)


def test_held_out_videos_are_a_seeded_sorted_draw() -> None:
    ids = [f"video_{i}" for i in range(30)]
    drawn = held_out_videos(ids, 7, seed=3)
    assert len(drawn) == len(set(drawn)) == 7 and set(drawn) <= set(ids)
    assert drawn == sorted(drawn)
    assert held_out_videos(list(reversed(ids)), 7, seed=3) == drawn  # the ids' order does not matter
    assert held_out_videos(ids, 7, seed=3) == drawn
    assert len({tuple(held_out_videos(ids, 7, seed=s)) for s in range(5)}) > 1
    assert held_out_videos(ids, 30, seed=0) == sorted(ids)
    with pytest.raises(ValueError):
        held_out_videos(ids, 31, seed=0)


def test_pretrain_config_takes_the_pretrain_settings_and_the_architectures_rate() -> None:
    p = PretrainParams(seed=4, batch_size=12, warmup_steps=5)
    cfg = pretrain_config(p, p.teacher)
    assert (cfg.seeds, cfg.epochs, cfg.batch_size, cfg.warmup_steps, cfg.lr) == ([4], p.teacher.epochs, 12, 5, p.teacher.lr)
    defaults = TrainParams()
    assert (cfg.weight_decay, cfg.max_grad_norm, cfg.eval_batch_size) == (
        defaults.weight_decay, defaults.max_grad_norm, defaults.eval_batch_size)


LATENT = {1: 0.0, 2: 0.25, 3: 0.5, 4: 0.75, 5: 1.0}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A processed corpus (the synthetic one of tiny_vlm) with its events file and tokenizer, laid out as
    pretrain_corpus and build_tokenizer lay it out; a second's latent importance is its cue's level."""
    root = tmp_path_factory.mktemp("pretrain")
    data = write_corpus(root, n_videos=5)
    examples = read_examples(data.examples_file)
    latent: dict[str, list[float]] = {}
    for e in examples:
        latent.setdefault(e["video_id"], []).append(LATENT[e["target"]])
    events = root / "corpus" / "data" / EVENTS_FILE
    events.parent.mkdir(parents=True)
    # every video shows a red ball over its seconds 2..3 (its captions)
    ball = [{"start": 2, "end": 4, "kind": "target", "colour": "red", "obj": "ball"}]
    events.write_text(json.dumps({"videos": {v: {"latent": values, "events": ball} for v, values in latent.items()}}),
                      encoding="utf-8")
    words = "red green blue yellow ball flag kite none"
    train_tokenizer([e["prompt"] for e in examples] + list(CAPTION_PROMPTS.values()) + [words], 100).save_pretrained(
        str(root / "tokenizer"))
    return root


def job(corpus: Path, role: str, out: Path, num_layers: int = 1, epochs: int = 3) -> PretrainJob:
    params = PretrainParams(val_videos=1, seed=0, batch_size=8, warmup_steps=1)
    processed = corpus / "data" / "processed"
    return PretrainJob(role, tiny_model(num_layers=num_layers, epochs=epochs), params, 32, processed / "examples.jsonl",
                       processed / "frames.h5", corpus / "corpus" / "data" / EVENTS_FILE, corpus / "tokenizer",
                       out / "models" / role, out / "checkpoints" / role)


def test_sets_hold_out_the_drawn_videos_labelled_with_latent_importance(corpus: Path) -> None:
    sets = _sets(job(corpus, "student", corpus))
    examples = read_examples(corpus / "data" / "processed" / "examples.jsonl")
    [val_video] = held_out_videos(sorted({e["video_id"] for e in examples}), 1, 0)
    val = [e for e in examples if e["video_id"] == val_video]
    assert sets["val"].prompts == [e["prompt"] for e in sorted(val, key=lambda e: e["second"])]  # importance only
    np.testing.assert_allclose(sets["val"].targets[:, :5] @ ANSWERS, [4 * LATENT[e["target"]] + 1 for e in val], atol=1e-6)
    assert not sets["val"].targets[:, 5:].any()
    # training: every second's importance prompt, then its captions (seconds 2 and 3: colour and object;
    # the other seconds of the ball-free ones divisible by EMPTY_EVERY: colour "none")
    train = sets["train"]
    n_importance = len(examples) - len(val)
    colour, obj = CAPTION_PROMPTS["colour"], CAPTION_PROMPTS["object"]
    assert train.prompts[n_importance:][:4] == [colour, colour, obj, colour]
    words = list(train.words)
    answers = [words[i] for i in train.targets[n_importance:, 5:].argmax(1)]
    assert answers[:4] == ["none", "red", "ball", "red"]
    assert np.allclose(train.targets.sum(1), 1) and not train.targets[n_importance:, :5].any()
    assert train.images.shape[1:] == (32, 32, 3) and len(train.images) == len(train.prompts)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def test_pretrained_roles_are_checkpoints_their_source_loads(corpus: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Two roles pretrained side by side: each saved as a model directory ``source`` loads (its own
    architecture, whatever ``pretrain.<role>`` now says), with curves; the same weights as trained alone;
    a re-run with the outputs deleted resumes from the checkpoints without training."""
    monkeypatch.setattr(parallel, "worker_count", lambda: 2)
    jobs = [job(corpus, "teacher", tmp_path, num_layers=2), job(corpus, "student", tmp_path)]
    pretrain_roles(jobs, tmp_path / "dvclive")
    for j in jobs:
        model, processor = build_vlm(ModelParams(source=str(j.out)), tiny_model(num_layers=5), "unused", 32, seed=9)
        assert model.config.text_config.num_hidden_layers == j.arch.num_layers
        init, init_processor = build_vlm(ModelParams(source="tiny"), j.arch, j.tokenizer, 32, seed=j.params.seed)
        init_state = init.state_dict()
        assert model.state_dict().keys() == init_state.keys()
        assert any(not torch.equal(v, init_state[k]) for k, v in model.state_dict().items())  # trained, not the init
        assert processor.tokenizer.get_vocab() == init_processor.tokenizer.get_vocab()  # the checkpoint brings the tokenizer
        curve = read_curves(tmp_path / "dvclive", j.role)
        assert list(curve["epoch"]) == [0, 1, 2, 3]  # epoch 0: the random weights' validation loss
        assert curve["train_loss"].iloc[-1] < curve["train_loss"].iloc[1]
    assert json.loads((tmp_path / "dvclive" / "metrics.json").read_text()).keys() >= {"teacher", "student"}

    # alone (no worker processes): the same bytes
    monkeypatch.setattr(parallel, "worker_count", lambda: 1)
    alone = job(corpus, "student", tmp_path / "alone")
    pretrain_roles([alone], tmp_path / "alone" / "dvclive")
    assert snapshot(alone.out) == snapshot(jobs[1].out)

    # as `dvc repro` re-runs the stage: outputs deleted, checkpoints kept
    before = snapshot(jobs[1].out), snapshot(tmp_path / "dvclive")
    shutil.rmtree(tmp_path / "dvclive")
    for j in jobs:
        shutil.rmtree(j.out)
    monkeypatch.setattr(trainer, "batch_losses", lambda *a, **k: pytest.fail("trained again"))
    pretrain_roles(jobs, tmp_path / "dvclive")
    assert (snapshot(jobs[1].out), snapshot(tmp_path / "dvclive")) == before
