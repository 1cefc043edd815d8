"""MSKD: the KD term, the answer-vocabulary check, stored distributions, and the three stages end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tiny_vlm import build_tiny_vlm, processed, read_curves, tiny_model, tiny_train, train_role, write_corpus

from deevisum.checkpointing import PACKAGE_ROOT, Checkpoint, code_digest, import_closure
from deevisum.data.examples import ProcessedData, answer_targets, example_key
from deevisum.data.prompts import FULL
from deevisum.data.splits import Run
from deevisum.distill import roles, trainer
from deevisum.distill.distributions import load_distributions, save_distributions
from deevisum.distill.losses import check_answers, kd_term
from deevisum.distill.roles import (
    RoleFiles,
    distributions_file,
    store_distributions,
    stored_logits,
)
from deevisum.distill.trainer import ExampleSet, KDConfig, train_vlm
from deevisum.io import InputError
from deevisum.models.scoring import answer_words, score_examples, score_saved
from deevisum.models.tokenizer import ANSWERS, train_tokenizer
from deevisum.models.vlm import load_vlm, model_modalities

FRAME_TEMPLATE = "score importance 1 to 5. category: {category}. audio: {audio}."
RUN = Run(0, 0)
"""The one run of a role on the one-fold corpus with ``tiny_train``'s seeds."""


def test_kd_term_zero_for_equal_distributions() -> None:
    logits = torch.randn(6, 5)
    assert torch.allclose(kd_term(logits, logits.clone(), 2.0), torch.zeros(6), atol=1e-6)
    # shifting all logits of a row leaves its distribution unchanged
    assert torch.allclose(kd_term(logits, logits + 3.0, 2.0), torch.zeros(6), atol=1e-5)
    assert (kd_term(logits, torch.randn(6, 5), 2.0) > 0).all()


def test_kd_term_is_t2_scaled_kl_in_the_chosen_direction() -> None:
    s, t, temp = torch.randn(4, 5), torch.randn(4, 5), 3.0
    p, q = torch.softmax(s / temp, -1), torch.softmax(t / temp, -1)
    forward = temp**2 * (q * (q.log() - p.log())).sum(-1)  # KL(P_target || P_trained): standard KD, the default
    reverse = temp**2 * (p * (p.log() - q.log())).sum(-1)  # KL(P_trained || P_target)
    assert torch.allclose(kd_term(s, t, temp), forward, atol=1e-5)
    assert torch.allclose(kd_term(s, t, temp, "forward"), forward, atol=1e-5)
    assert torch.allclose(kd_term(s, t, temp, "reverse"), reverse, atol=1e-5)
    assert not torch.allclose(forward, reverse)
    with pytest.raises(ValueError, match="forward"):
        kd_term(s, t, temp, "sideways")


def test_exit_heads_use_the_same_kd_term() -> None:
    from deevisum.early_exit.heads import ExitConfig, ExitHeads
    from deevisum.early_exit.training import ExitData, exit_losses

    torch.manual_seed(0)
    heads = ExitHeads(ExitConfig(hidden_size=8, exit_layers=[1], n_answers=5))
    data = ExitData([torch.randn(6, 8)], torch.randn(6, 5), torch.softmax(torch.randn(6, 5), -1))
    logits, _ = heads(0, data.states[0])
    for direction in ("forward", "reverse"):
        expected = kd_term(logits, data.final_logits, 1.0, direction).mean()
        assert torch.allclose(exit_losses(heads, data, 1.0, direction)["kd"], expected)


def test_kd_gradient_reaches_only_the_trained_model() -> None:
    torch.manual_seed(0)
    student, teacher = torch.nn.Linear(3, 5), torch.nn.Linear(3, 5)
    x = torch.randn(8, 3)
    kd_term(student(x), teacher(x), 2.0).mean().backward()
    assert student.weight.grad is not None and student.weight.grad.abs().sum() > 0
    assert teacher.weight.grad is None and teacher.bias.grad is None


def test_answer_mismatch_fails_naming_models() -> None:
    assert check_answers({"teacher": ANSWERS, "student": list(ANSWERS)}) == list(ANSWERS)
    with pytest.raises(ValueError, match="mentor"):
        check_answers({"teacher": ANSWERS, "mentor": ["1", "2", "3", "5", "4"]})


def test_stored_distributions_roundtrip_by_key(tmp_path) -> None:
    logits = torch.randn(3, 5)
    save_distributions(tmp_path / "t.safetensors", ["a/0", "a/1", "b/0"], logits, ANSWERS)
    got, answers = load_distributions(tmp_path / "t.safetensors", ["b/0", "a/0"])
    assert torch.equal(got, logits[[2, 0]]) and answers == list(ANSWERS)
    with pytest.raises(InputError, match="c/9"):
        load_distributions(tmp_path / "t.safetensors", ["c/9"])


def test_stored_logits_refuse_other_answers(tmp_path) -> None:
    logits = torch.randn(2, 5)
    save_distributions(tmp_path / "t.safetensors", ["a/0", "a/1"], logits, ANSWERS)
    examples = [{"video_id": "a", "second": 1}]
    assert torch.equal(stored_logits(tmp_path / "t.safetensors", examples, list(ANSWERS)), logits[[1]])
    with pytest.raises(ValueError, match="answer mismatch"):
        stored_logits(tmp_path / "t.safetensors", examples, ["0", "1", "2", "3", "4"])


def test_stored_distributions_are_byte_identical_across_saves(tmp_path) -> None:
    """Same content, same bytes: otherwise DVC sees a new file (and re-runs what follows) every run."""
    logits = torch.randn(4, 5)
    blobs = set()
    for i in range(8):  # safetensors orders several metadata entries by a per-map random hash
        save_distributions(tmp_path / f"{i}.safetensors", ["a/0", "a/1", "b/0", "b/1"], logits, ANSWERS)
        blobs.add((tmp_path / f"{i}.safetensors").read_bytes())
    assert len(blobs) == 1


def role_files(root: Path, name: str, *kd_from: str) -> RoleFiles:
    """A role's paths laid out as dvc.yaml lays them out (models/, checkpoints/, dvclive/, data/distill/)."""
    return RoleFiles(root / "models" / "tokenizer", root / "models" / name, root / "checkpoints" / name,
                     root / "dvclive" / name, {t: root / "data" / "distill" / t for t in kd_from})


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative name."""
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def distributions(root: Path, name: str) -> Path:
    """Role ``name``'s stored distributions of :data:`RUN`."""
    return distributions_file(root / "data" / "distill" / name, RUN)


def save_tokenizer(data: ProcessedData, tokenizer: Path) -> None:
    """The one tokenizer of every fold and role (the build_tokenizer stage; here on the corpus's own prompts,
    standing in for the pretraining corpus's)."""
    examples = data.for_fold(0).examples("train", "val", "test")
    train_tokenizer([e["prompt"] for e in examples], 100).save_pretrained(str(tokenizer))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Tokenizer, teacher, teacher distributions, mentor (KD), MSKD student, on a synthetic corpus."""
    root = tmp_path_factory.mktemp("mskd")
    data = write_corpus(root)
    save_tokenizer(data, root / "models" / "tokenizer")
    cfg = tiny_train()
    train_role(tiny_model(num_layers=2), cfg, 32, KDConfig(), data, role_files(root, "teacher"))
    store_distributions(root / "models" / "teacher", data, root / "data" / "distill" / "teacher", 16, cfg.seeds)
    train_role(tiny_model(num_layers=1), cfg, 32, KDConfig({"teacher": 1.0}, 2.0), data, role_files(root, "mentor", "teacher"))
    store_distributions(root / "models" / "mentor", data, root / "data" / "distill" / "mentor", 16, cfg.seeds)
    train_role(tiny_model(num_layers=1), cfg, 32, KDConfig({"mentor": 1.0, "teacher": 0.5}, 2.0), data,
               role_files(root, "student", "mentor", "teacher"))
    train_role(tiny_model(num_layers=1), tiny_train(epochs=1), 32, KDConfig(), data, role_files(root, "student_frame"),
               "frame", FRAME_TEMPLATE)
    return root


def test_stages_write_models_curves_and_distributions(pipeline) -> None:
    for name in ("teacher", "mentor", "student", "student_frame"):
        assert sorted(p.name for p in (pipeline / "models" / name).iterdir()) == [RUN.name]
        assert (pipeline / "models" / name / RUN.name / "model.safetensors").is_file()
        curve = read_curves(pipeline / "dvclive" / name)
        assert list(curve["epoch"]) == list(range(len(curve)))  # epoch 0: the starting weights' validation
        summary = json.loads((pipeline / "dvclive" / name / "metrics.json").read_text())
        kept = int(curve["val_ce"].idxmin())  # the summary is the epoch whose weights were kept, not the last
        assert summary["step"] == len(curve) - 1 and summary[RUN.name]["epoch"] == curve["epoch"].iloc[kept]
        assert summary[RUN.name]["val_ce"] == pytest.approx(curve["val_ce"].iloc[kept])
    for name in ("teacher", "mentor", "student"):
        curve = read_curves(pipeline / "dvclive" / name)
        assert len(curve) == 4
        assert curve["train_loss"].iloc[-1] < curve["train_loss"].iloc[1]
    assert (read_curves(pipeline / "dvclive" / "student")["train_kd"].dropna() > 0).all()
    assert (read_curves(pipeline / "dvclive" / "teacher")["train_kd"].dropna() == 0).all()
    for name in ("teacher", "mentor"):
        assert distributions(pipeline, name).is_file()
    assert model_modalities(pipeline / "models" / "student_frame" / RUN.name) == "frame"
    assert model_modalities(pipeline / "models" / "student" / RUN.name) == FULL


def test_a_role_trains_one_model_per_fold_and_seed(tmp_path) -> None:
    """Two folds x two seeds: a model per run, each with the one tokenizer, all curves in one folder,
    and the distributions of each run on its own fold's train and val videos."""
    data = write_corpus(tmp_path, n_folds=2)
    save_tokenizer(data, tmp_path / "models" / "tokenizer")
    files, cfg = role_files(tmp_path, "teacher"), tiny_train(epochs=1, seeds=[3, 1])
    histories = train_role(tiny_model(num_layers=1), cfg, 32, KDConfig(), processed(tmp_path, fold=None), files)
    names = ["fold0-seed3", "fold0-seed1", "fold1-seed3", "fold1-seed1"]  # fold-major, seeds as listed
    assert list(histories) == names
    assert sorted(p.name for p in files.model.iterdir()) == sorted(names)
    summary = json.loads((files.curves / "metrics.json").read_text())
    for name in names:
        assert list(read_curves(files.curves, name)["epoch"]) == [0, 1]
        assert summary[name]["val_ce"] == pytest.approx(min(row["val_ce"] for row in histories[name]))
    # every run carries the one tokenizer (build_tokenizer's, trained on the pretraining corpus, not per fold)
    vocab = load_vlm(files.model / "fold0-seed1")[1].tokenizer.get_vocab()
    assert "vid0" in vocab and "vid3" in vocab
    for name in names:
        assert load_vlm(files.model / name)[1].tokenizer.get_vocab() == vocab
    seed3, seed1 = (load_file(str(files.model / n / "model.safetensors")) for n in names[:2])
    assert any(not torch.equal(seed3[k], seed1[k]) for k in seed3)

    out = tmp_path / "data" / "distill" / "teacher"
    store_distributions(files.model, processed(tmp_path, fold=None), out, 16, cfg.seeds)
    assert sorted(f.name for f in out.iterdir()) == sorted(f"{n}.safetensors" for n in names)
    for k in (0, 1):
        fold = data.for_fold(k)
        keys = [example_key(e) for e in fold.examples("train", "val")]
        assert len(load_distributions(distributions_file(out, Run(k, 1)), keys)[0]) == len(keys)
        with pytest.raises(InputError):  # the test videos are never scored for KD
            load_distributions(distributions_file(out, Run(k, 1)), [example_key(e) for e in fold.examples("test")])


def test_stored_teacher_distributions_match_the_saved_teacher(pipeline) -> None:
    data = processed(pipeline)
    examples = data.examples("train", "val")
    stored, answers = load_distributions(distributions(pipeline, "teacher"), [example_key(e) for e in examples])
    model, processor = load_vlm(pipeline / "models" / "teacher" / RUN.name)
    assert answers == answer_words(processor.tokenizer) == list(ANSWERS)
    again = score_examples(model, processor, [e["prompt"] for e in examples], data.frames(examples), 7)
    np.testing.assert_allclose(stored.numpy(), again, atol=1e-5)


def test_score_saved_renders_the_prompts_the_model_was_trained_with(pipeline) -> None:
    data = processed(pipeline)
    examples = data.examples("test")
    model_dir = pipeline / "models" / "student_frame" / RUN.name
    logits, answers = score_saved(model_dir, data, examples, 5, FRAME_TEMPLATE)
    model, processor = load_vlm(model_dir)
    prompts = ["score importance 1 to 5."] * len(examples)  # the frame modality keeps no sentence with a field
    assert answers == list(ANSWERS)
    np.testing.assert_allclose(logits, score_examples(model, processor, prompts, data.frames(examples), 5), atol=1e-5)
    full = score_examples(model, processor, [e["prompt"] for e in examples], data.frames(examples), 5)
    assert np.abs(logits - full).max() > 1e-3  # not the stored (all-modality) prompts


def test_rerun_resumes_from_checkpoint_without_training(pipeline, monkeypatch) -> None:
    """As `dvc repro` re-runs a stage: its outputs deleted, the checkpoints (not outputs) kept."""
    model_dir, curves = pipeline / "models" / "teacher", pipeline / "dvclive" / "teacher"

    before = snapshot(model_dir), snapshot(curves)
    assert f"{RUN.name}/model.safetensors" in before[0] and f"plots/metrics/{RUN.name}/train_loss.tsv" in before[1]
    shutil.rmtree(model_dir)
    shutil.rmtree(curves)
    monkeypatch.setattr(trainer, "batch_losses", lambda *a, **k: pytest.fail("trained again"))
    train_role(tiny_model(num_layers=2), tiny_train(), 32, KDConfig(), processed(pipeline), role_files(pipeline, "teacher"))
    assert (snapshot(model_dir), snapshot(curves)) == before


def crash_after_save(real_save):
    """``trainer._save`` that interrupts training once the first epoch's checkpoint is written."""
    def save_and_crash(*args, **kwargs) -> None:
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    return save_and_crash


def test_interrupted_training_resumes_to_the_same_weights(pipeline, monkeypatch, tmp_path) -> None:
    data = processed(pipeline)
    tokenizer = pipeline / "models" / "tokenizer"
    _, processor = build_tiny_vlm(tiny_model(num_layers=1), tokenizer, 32, 0)
    train, val = (ExampleSet([e["prompt"] for e in ex], data.frames(ex), answer_targets(ex, soft=True))
                  for ex in (data.examples("train"), data.examples("val")))
    cfg = tiny_train(epochs=2)

    def run(name: str) -> tuple[torch.nn.Module, list[dict[str, float]]]:
        m, _ = build_tiny_vlm(tiny_model(num_layers=1), tokenizer, 32, 0)
        return train_vlm(m, processor, train, val, cfg, KDConfig(), Checkpoint(tmp_path / name, "fp"), 0, desc=name)

    reference, history = run("straight")
    assert [row["epoch"] for row in history] == [0, 1, 2]
    with monkeypatch.context() as m:
        m.setattr(trainer, "_save", crash_after_save(trainer._save))
        with pytest.raises(KeyboardInterrupt):
            run("interrupted")
    state = Checkpoint(tmp_path / "interrupted", "fp").state()
    assert state["epoch"] == 1 and state["history"] == history[:2]  # epoch 0 and epoch 1
    resumed, resumed_history = run("interrupted")
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], value, rtol=0, atol=1e-6)
    assert resumed_history == history  # the resumed run's curves are the straight run's


def test_a_code_change_starts_training_over(pipeline, monkeypatch, capsys, tmp_path) -> None:
    """The training code is part of a checkpoint's fingerprint: after an edit a re-run must not resume.

    (Epochs are part of the fingerprint too, the LR schedule spans them: a resume is for the same
    run, killed, so both re-runs here continue a 2-epoch run killed after its first epoch.)
    """
    data, cfg, mp = processed(pipeline), tiny_train(epochs=2), tiny_model(num_layers=1)
    killed = role_files(tmp_path, "killed")
    with monkeypatch.context() as m:
        m.setattr(trainer, "_save", crash_after_save(trainer._save))
        with pytest.raises(KeyboardInterrupt):
            train_role(mp, cfg, 32, KDConfig(), data, RoleFiles(pipeline / "models" / "tokenizer", killed.model,
                                                                  killed.checkpoint, killed.curves, {}))
    state_file = killed.checkpoint / RUN.name / "last" / "state.json"
    first = json.loads(state_file.read_text())
    assert first["epoch"] == 1
    for name in ("edited", "unchanged"):
        shutil.copytree(killed.checkpoint, tmp_path / "checkpoints" / name)

    def rerun(name: str) -> tuple[str, dict]:
        files = role_files(tmp_path, name)
        capsys.readouterr()
        train_role(mp, cfg, 32, KDConfig(), data, RoleFiles(pipeline / "models" / "tokenizer", files.model,
                                                            files.checkpoint, files.curves, {}))
        trained = re.findall(rf"^{name} {RUN.name} epoch (\d+):", capsys.readouterr().out, re.MULTILINE)
        return " ".join(trained), json.loads((files.checkpoint / RUN.name / "last" / "state.json").read_text())

    with monkeypatch.context() as m:
        m.setattr(roles, "code_digest", lambda *modules: "an edited trainer")
        trained, state = rerun("edited")
    assert trained == "0 1 2"  # started over
    assert state["fingerprint"] != first["fingerprint"] and [r["epoch"] for r in state["history"]] == [0, 1, 2]

    trained, state = rerun("unchanged")
    assert trained == "2"  # resumed after epoch 1
    assert state["fingerprint"] == first["fingerprint"] and state["history"][0] == first["history"][0]
    # both reach what an uninterrupted run gives
    edited = load_file(str(tmp_path / "models" / "edited" / RUN.name / "model.safetensors"))
    unchanged = load_file(str(tmp_path / "models" / "unchanged" / RUN.name / "model.safetensors"))
    for name, value in unchanged.items():
        torch.testing.assert_close(edited[name], value, rtol=0, atol=1e-6)


def test_import_closure_covers_the_training_code() -> None:
    def names(paths) -> set[str]:
        return {p.relative_to(PACKAGE_ROOT.parent).as_posix() for p in paths}

    closure = import_closure(["deevisum.distill.roles"])
    assert closure == sorted(closure) and all(p.is_file() for p in closure)
    got = names(closure)
    assert {"deevisum/distill/roles.py", "deevisum/distill/trainer.py", "deevisum/checkpointing.py",
            "deevisum/tracking.py", "deevisum/models/scoring.py", "deevisum/data/frames_store.py"} <= got
    # each package on the way: importing deevisum.distill.trainer runs deevisum/__init__ and deevisum/distill/__init__
    assert {"deevisum/__init__.py", "deevisum/distill/__init__.py", "deevisum/models/__init__.py",
            "deevisum/data/__init__.py"} <= got
    assert not any(n.startswith(("deevisum/early_exit/", "deevisum/evaluation/", "deevisum/app/")) for n in got)
    # a stage script: its own file is not ours, what it imports is
    stage = names(import_closure([PACKAGE_ROOT.parent / "stages" / "mskd_stage3.py"]))
    assert got | {"deevisum/app/__init__.py", "deevisum/app/stage.py"} <= stage
    with pytest.raises(ValueError, match="not a deevisum module"):
        import_closure(["numpy"])


def test_import_closure_follows_function_level_and_from_package_imports(tmp_path) -> None:
    pkg = tmp_path / "deevisum"
    (pkg / "sub").mkdir(parents=True)
    for f in ("__init__.py", "sub/__init__.py", "leaf.py", "unused.py"):
        (pkg / f).write_text("")
    (pkg / "sub" / "mod.py").write_text("import os\n\ndef f():\n    from deevisum import leaf\n    return leaf\n")
    (pkg / "entry.py").write_text("import numpy\nfrom deevisum.sub.mod import f\n")
    closure = import_closure(["deevisum.entry"], root=pkg)
    assert [p.relative_to(tmp_path).as_posix() for p in closure] == [
        "deevisum/__init__.py", "deevisum/entry.py", "deevisum/leaf.py", "deevisum/sub/__init__.py", "deevisum/sub/mod.py"]


DIGESTS_SCRIPT = """
import json, sys
from pathlib import Path
from deevisum.checkpointing import code_digest
pkg = Path(sys.argv[1])
out = {"before": code_digest("deevisum.distill.roles"), "again": code_digest("deevisum.distill.roles")}
with (pkg / "early_exit" / "heads.py").open("a") as f:
    f.write("# not imported by the trainer\\n")
out["unrelated_edit"] = code_digest("deevisum.distill.roles")
with (pkg / "tracking.py").open("a") as f:
    f.write("# imported by the roles (their curves)\\n")
out["trainer_edit"] = code_digest("deevisum.distill.roles")
print(json.dumps(out))
"""


def test_code_digest_is_stable_and_changes_with_the_imported_code(tmp_path) -> None:
    assert code_digest("deevisum.distill.roles") == code_digest("deevisum.distill.roles")
    assert code_digest("deevisum.distill.roles") != code_digest("deevisum.tracking")
    # edits go to a copy of the package (the real one is shared), imported from there in a subprocess
    shutil.copytree(PACKAGE_ROOT, tmp_path / "deevisum", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", DIGESTS_SCRIPT, str(tmp_path / "deevisum")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    d = json.loads(run.stdout.strip().splitlines()[-1])
    assert d["before"] == d["again"] == code_digest("deevisum.distill.roles")  # same source, same digest anywhere
    assert d["unrelated_edit"] == d["before"]
    assert d["trainer_edit"] != d["before"]


DDP_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from accelerate import PartialState
from pathlib import Path
from tiny_vlm import processed, tiny_model, tiny_train, train_role
from deevisum.distill.roles import RoleFiles
from deevisum.distill.trainer import KDConfig

root = Path({root!r})
files = RoleFiles(root / "models" / "tokenizer", root / "models" / "ddp", root / "checkpoints" / "ddp", root / "dvclive" / "ddp",
                  {{"teacher": root / "data" / "distill" / "teacher"}})
train_role(tiny_model(num_layers=1), tiny_train(epochs=2), 32, KDConfig({{"teacher": 1.0}}, 2.0), processed(root), files)
state = PartialState()
assert (files.model / "fold0-seed0" / "model.safetensors").is_file(), f"rank {{state.process_index}} returned before the save"
print(f"process {{state.process_index}} of {{state.num_processes}} done", flush=True)
"""


def test_training_runs_under_two_process_ddp(pipeline, tmp_path) -> None:
    """Scale-out, for real: two CPU processes (gloo DDP) train one model; only the main one writes it.

    Catches parameters that take no part in the loss (DDP stops on them) and a process reading
    the model before the main one has saved it.
    """
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT.format(tests=str(Path(__file__).parent), root=str(pipeline)), encoding="utf-8")
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script)], cwd=pipeline, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "process 0 of 2 done" in run.stdout and "process 1 of 2 done" in run.stdout
    model, _ = load_vlm(pipeline / "models" / "ddp" / RUN.name)
    best = Checkpoint(pipeline / "checkpoints" / "ddp" / RUN.name, "").tensors("trainable", slot="best")
    weights = model.state_dict()
    assert best and all(torch.equal(weights[k], v) for k, v in best.items())
    assert list(read_curves(pipeline / "dvclive" / "ddp")["epoch"]) == [0, 1, 2]


def test_a_role_learning_rate_overrides_the_shared_one(pipeline, monkeypatch) -> None:
    seen = []

    def fake_train(model, processor, train, val, cfg, *args, **kwargs):
        seen.append(cfg.lr)
        raise KeyboardInterrupt

    monkeypatch.setattr(roles, "train_vlm", fake_train)
    for role_lr in (None, 1e-4):
        with pytest.raises(KeyboardInterrupt):
            train_role(tiny_model(num_layers=1), tiny_train(lr=3e-3), 32, KDConfig(), processed(pipeline),
                       role_files(pipeline, "lr_probe"), lr=role_lr)
    assert seen == [3e-3, 1e-4]
