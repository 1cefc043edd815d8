"""MSKD: the KD term, the answer-vocabulary check, stored distributions, and the three stages end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_vlm import tiny_model, tiny_train, write_corpus

from deevisum import mskd, training
from safetensors.torch import load_file

from deevisum.distillation import check_answer_vocab, kd_term, load_distributions, save_distributions
from deevisum.examples import example_key, load_frames
from deevisum.io import InputError
from deevisum.models import load_vlm
from deevisum.scoring import score_examples
from deevisum.tokenizer import train_tokenizer
from deevisum.training import KDConfig


def test_kd_term_zero_for_equal_distributions() -> None:
    logits = torch.randn(6, 5)
    assert torch.allclose(kd_term(logits, logits.clone(), 2.0), torch.zeros(6), atol=1e-6)
    # shifting all logits of a row leaves its distribution unchanged
    assert torch.allclose(kd_term(logits, logits + 3.0, 2.0), torch.zeros(6), atol=1e-5)
    assert (kd_term(logits, torch.randn(6, 5), 2.0) > 0).all()


def test_kd_term_is_t2_scaled_kl_of_trained_against_target() -> None:
    s, t, temp = torch.randn(4, 5), torch.randn(4, 5), 3.0
    p, q = torch.softmax(s / temp, -1), torch.softmax(t / temp, -1)
    expected = temp**2 * (p * (p.log() - q.log())).sum(-1)
    assert torch.allclose(kd_term(s, t, temp), expected, atol=1e-5)


def test_kd_gradient_reaches_only_the_trained_model() -> None:
    torch.manual_seed(0)
    student, teacher = torch.nn.Linear(3, 5), torch.nn.Linear(3, 5)
    x = torch.randn(8, 3)
    kd_term(student(x), teacher(x), 2.0).mean().backward()
    assert student.weight.grad is not None and student.weight.grad.abs().sum() > 0
    assert teacher.weight.grad is None and teacher.bias.grad is None


def test_answer_vocab_mismatch_fails_naming_models() -> None:
    assert check_answer_vocab({"teacher": [5, 6, 7, 8, 9], "student": [5, 6, 7, 8, 9]}) == [5, 6, 7, 8, 9]
    with pytest.raises(ValueError, match="mentor"):
        check_answer_vocab({"teacher": [5, 6, 7, 8, 9], "mentor": [5, 6, 7, 8, 10]})


def test_stored_distributions_roundtrip_by_key(tmp_path) -> None:
    logits = torch.randn(3, 5)
    save_distributions(tmp_path / "t.safetensors", ["a/0", "a/1", "b/0"], logits, [1, 2, 3, 4, 5])
    got, ids = load_distributions(tmp_path / "t.safetensors", ["b/0", "a/0"])
    assert torch.equal(got, logits[[2, 0]]) and ids == [1, 2, 3, 4, 5]
    with pytest.raises(InputError, match="c/9"):
        load_distributions(tmp_path / "t.safetensors", ["c/9"])


def test_stored_distributions_are_byte_identical_across_saves(tmp_path) -> None:
    """Same content, same bytes: otherwise DVC sees a new file (and re-runs what follows) every run."""
    logits = torch.randn(4, 5)
    blobs = set()
    for i in range(8):  # safetensors orders several metadata entries by a per-map random hash
        save_distributions(tmp_path / f"{i}.safetensors", ["a/0", "a/1", "b/0", "b/1"], logits, [1, 2, 3, 4, 5])
        blobs.add((tmp_path / f"{i}.safetensors").read_bytes())
    assert len(blobs) == 1


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Tokenizer, teacher, teacher distributions, mentor (KD), MSKD student, on a synthetic corpus."""
    root = tmp_path_factory.mktemp("mskd")
    write_corpus(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        examples = mskd.split_examples("train", "val")
        train_tokenizer([e["prompt"] for e in examples], 100).save_pretrained(str(mskd.TOKENIZER))
        cfg = tiny_train()
        mskd.train_role("teacher", tiny_model(num_layers=2), cfg, 32, KDConfig())
        mskd.store_distributions("teacher", 16)
        mskd.train_role("mentor", tiny_model(num_layers=1), cfg, 32, KDConfig({"teacher": 1.0}, 2.0))
        mskd.store_distributions("mentor", 16)
        mskd.train_role("student", tiny_model(num_layers=1), cfg, 32, KDConfig({"mentor": 1.0, "teacher": 0.5}, 2.0))
        mskd.train_role("student_frame", tiny_model(num_layers=1), tiny_train(epochs=1), 32, KDConfig(), "frame",
                        "score importance 1 to 5. category: {category}. audio: {audio}.")
        yield root


def test_stages_write_models_curves_and_distributions(pipeline) -> None:
    for name in ("teacher", "mentor", "student", "student_frame"):
        assert (pipeline / "models" / name / "model.safetensors").is_file()
        curve = pd.read_csv(pipeline / "plots" / "train" / f"{name}.csv")
        assert list(curve["epoch"]) == list(range(1, len(curve) + 1))
    for name in ("teacher", "mentor", "student"):
        curve = pd.read_csv(pipeline / "plots" / "train" / f"{name}.csv")
        assert curve["train_loss"].iloc[-1] < curve["train_loss"].iloc[0]
    student = pd.read_csv(pipeline / "plots" / "train" / "student.csv")
    assert (student["train_kd"] > 0).all()
    assert json.loads((pipeline / "models" / "student_frame" / "prompt.json").read_text())["modalities"] == "frame"


def test_stored_teacher_distributions_match_the_saved_teacher(pipeline, monkeypatch) -> None:
    monkeypatch.chdir(pipeline)
    examples = mskd.split_examples("train", "val")
    stored, _ = load_distributions(mskd.DISTILL / "teacher.safetensors", [example_key(e) for e in examples])
    model, processor = load_vlm("models/teacher")
    again = score_examples(model, processor, [e["prompt"] for e in examples], load_frames(mskd.FRAMES, examples), 7)
    np.testing.assert_allclose(stored.numpy(), again, atol=1e-5)


def test_rerun_resumes_from_checkpoint_without_training(pipeline, monkeypatch) -> None:
    """As `dvc repro` re-runs a stage: its outputs deleted, the checkpoints (not outputs) kept."""
    monkeypatch.chdir(pipeline)
    weights, curves = pipeline / "models" / "teacher" / "model.safetensors", pipeline / "plots" / "train" / "teacher.csv"
    before = weights.read_bytes(), curves.read_bytes()
    weights.unlink()
    curves.unlink()
    monkeypatch.setattr(training, "batch_losses", lambda *a, **k: pytest.fail("trained again"))
    mskd.train_role("teacher", tiny_model(num_layers=2), tiny_train(), 32, KDConfig())
    assert (weights.read_bytes(), curves.read_bytes()) == before


def test_interrupted_training_resumes_to_the_same_weights(pipeline, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(pipeline)
    model, processor = mskd.build_vlm(tiny_model(num_layers=1), mskd.TOKENIZER, 32, 0)
    sets = [mskd.split_examples(s) for s in ("train", "val")]
    train, val = (mskd.example_set(ex, [e["prompt"] for e in ex], soft=True) for ex in sets)
    cfg = tiny_train(epochs=2)

    def run(ckpt: str):
        m, _ = mskd.build_vlm(tiny_model(num_layers=1), mskd.TOKENIZER, 32, 0)
        return training.train_vlm(m, processor, train, val, cfg, KDConfig(), tmp_path / ckpt, tmp_path / f"{ckpt}.csv", {})

    reference = run("straight").state_dict()
    real_write = training.write_history

    def crash_after_first_epoch(history, path):
        real_write(history, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "write_history", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run("interrupted")
    monkeypatch.setattr(training, "write_history", real_write)
    resumed = run("interrupted").state_dict()
    for name, value in reference.items():
        torch.testing.assert_close(resumed[name], value, rtol=0, atol=1e-6)
    assert len(pd.read_csv(tmp_path / "interrupted.csv")) == 2


DDP_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from accelerate import PartialState
from pathlib import Path
from tiny_vlm import tiny_model, tiny_train
from deevisum import mskd
from deevisum.training import KDConfig

mskd.train_role("ddp", tiny_model(num_layers=1), tiny_train(epochs=2), 32, KDConfig({{"teacher": 1.0}}, 2.0))
state = PartialState()
assert Path("models/ddp/model.safetensors").is_file(), f"rank {{state.process_index}} returned before the save"
print(f"process {{state.process_index}} of {{state.num_processes}} done", flush=True)
"""


def test_training_runs_under_two_process_ddp(pipeline, tmp_path) -> None:
    """Scale-out, for real: two CPU processes (gloo DDP) train one model; only the main one writes it.

    Catches parameters that take no part in the loss (DDP stops on them) and a process reading
    the model before the main one has saved it.
    """
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT.format(tests=str(Path(__file__).parent)), encoding="utf-8")
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script)], cwd=pipeline, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "process 0 of 2 done" in run.stdout and "process 1 of 2 done" in run.stdout
    model, _ = load_vlm(pipeline / "models" / "ddp")
    best = load_file(str(pipeline / "checkpoints" / "ddp" / "best" / "trainable.safetensors"))
    weights = model.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in best.items())
    assert list(pd.read_csv(pipeline / "plots" / "train" / "ddp.csv")["epoch"]) == [1, 2]


def test_a_role_learning_rate_overrides_the_shared_one(pipeline, monkeypatch) -> None:
    monkeypatch.chdir(pipeline)
    seen = []

    def fake_train(model, processor, train, val, cfg, *args, **kwargs):
        seen.append(cfg.lr)
        raise KeyboardInterrupt

    monkeypatch.setattr(mskd, "train_vlm", fake_train)
    for role_lr in (None, 1e-4):
        with pytest.raises(KeyboardInterrupt):
            mskd.train_role("lr_probe", tiny_model(num_layers=1, lr=role_lr), tiny_train(lr=3e-3), 32, KDConfig())
    assert seen == [3e-3, 1e-4]
