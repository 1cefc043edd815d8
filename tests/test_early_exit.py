"""Early exit: exactness at full depth, real row removal, heads round trip, resumable training, and
threshold calibration on validation rows.

A tiny PaliGemma2-architecture model (Gemma2 decoder with alternating sliding/full attention,
a sliding window shorter than the sequence, attention and final logit soft-capping; a tiny
SigLIP tower on 32 px images) stands in for the student.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration

from deevisum.checkpointing import Checkpoint
from deevisum.config import EEParams, ExitTrainParams, Params
from deevisum.early_exit.calibration import (
    NEVER,
    agrees,
    auroc,
    calibrate,
    disagreements,
    first_exit,
)
from deevisum.early_exit.heads import (
    CONFIDENCES,
    GAMMA_TRAINING,
    VIDEO_CODES,
    ExitConfig,
    ExitHeads,
    load_exit_heads,
    load_validation,
    save_exit_heads,
)
from deevisum.early_exit.runner import EarlyExitRunner
from deevisum.early_exit.training import (
    ExitData,
    collect_exit_data,
    exit_losses,
    exit_outputs,
    exit_quality,
    fit_agreement,
    load_cached_data,
    out_of_fold_answers,
    save_cached_data,
    train_exit_heads,
)
from deevisum.io import InputError

VOCAB, IMAGE_TOKEN, HIDDEN, DEPTH = 64, 63, 32, 4
ANSWERS = [5, 6, 7, 8, 9]
EXITS = [1, 2, 3]


@pytest.fixture(scope="module")
def model() -> PaliGemmaForConditionalGeneration:
    torch.manual_seed(0)
    config = PaliGemmaConfig(
        text_config=dict(
            model_type="gemma2", vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=64,
            num_hidden_layers=DEPTH, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
            sliding_window=6, query_pre_attn_scalar=16, final_logit_softcapping=30.0, attn_logit_softcapping=50.0,
        ),
        vision_config=dict(
            model_type="siglip_vision_model", hidden_size=16, intermediate_size=32, num_hidden_layers=1,
            num_attention_heads=2, image_size=32, patch_size=16,
        ),
        image_token_id=IMAGE_TOKEN, projection_dim=HIDDEN, hidden_size=HIDDEN,
    )
    return PaliGemmaForConditionalGeneration(config).eval()


def make_batch(batch: int = 6, length: int = 18, seed: int = 0) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Right-padded rows of different lengths: 4 image tokens, then text; answer at the last real token."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, IMAGE_TOKEN, (batch, length), generator=g)
    ids[:, :4] = IMAGE_TOKEN
    lengths = torch.randint(10, length + 1, (batch,), generator=g)
    mask = (torch.arange(length)[None] < lengths[:, None]).long()
    inputs = {
        "input_ids": ids * mask,
        "attention_mask": mask,
        "token_type_ids": torch.zeros_like(ids),
        "pixel_values": torch.randn(batch, 3, 32, 32, generator=g),
    }
    return inputs, lengths - 1


def make_heads(seed: int = 0) -> ExitHeads:
    torch.manual_seed(seed)
    return ExitHeads(ExitConfig(hidden_size=HIDDEN, exit_layers=EXITS, n_answers=len(ANSWERS), head_dim=8, n_prototypes=2)).eval()


def reference(model: PaliGemmaForConditionalGeneration, inputs: dict, pos: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        logits = model(**inputs).logits
    return logits[torch.arange(len(pos)), pos][:, ANSWERS]


def count_rows(model: PaliGemmaForConditionalGeneration) -> tuple[list[int], list]:
    """Rows each decoder layer processes, via forward pre-hooks."""
    counts = [0] * DEPTH
    hooks = []
    for i, layer in enumerate(model.model.language_model.layers):
        def hook(_m, args, kwargs, i=i):
            hidden = args[0] if args else kwargs["hidden_states"]
            counts[i] += hidden.shape[0]
        hooks.append(layer.register_forward_pre_hook(hook, with_kwargs=True))
    return counts, hooks


def exit_confidences(heads: ExitHeads, states: list[torch.Tensor], measure: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Each exit's answer logits (n_exits, B, n_answers) and ``measure`` (n_exits, B) on collected states."""
    with torch.no_grad():
        outs = [heads.confidences(i, s) for i, s in enumerate(states)]
    return torch.stack([o[0].float() for o in outs]), torch.stack([o[1][measure].float() for o in outs])


def test_no_thresholds_gives_full_depth_scores(model) -> None:
    inputs, pos = make_batch()
    runner = EarlyExitRunner(model, ANSWERS, make_heads())
    out = runner.run(inputs, pos, thresholds=None)
    assert torch.allclose(out.logits, reference(model, inputs, pos), atol=1e-5, rtol=1e-5)
    assert out.layers.tolist() == [DEPTH] * len(pos)
    assert torch.isnan(out.confidence).all()
    no_heads = EarlyExitRunner(model, ANSWERS).run(inputs, pos)
    assert torch.equal(no_heads.logits, out.logits)
    for never in ([math.inf] * len(EXITS), [1.01] * len(EXITS)):  # not evaluated / no confidence reaches it
        same = runner.run(inputs, pos, thresholds=never, measure="max_prob")
        assert torch.allclose(same.logits, out.logits, atol=1e-6) and same.layers.tolist() == out.layers.tolist()
    with pytest.raises(ValueError, match="2 thresholds"):
        runner.run(inputs, pos, thresholds=[0.5, 0.5])


@pytest.mark.parametrize("measure", CONFIDENCES)
def test_threshold_zero_exits_everything_at_first_exit(model, measure: str) -> None:
    inputs, pos = make_batch()
    heads = make_heads()
    runner = EarlyExitRunner(model, ANSWERS, heads)
    counts, hooks = count_rows(model)
    try:
        out = runner.run(inputs, pos, thresholds=[0.0] * len(EXITS), measure=measure)
    finally:
        for h in hooks:
            h.remove()
    assert out.layers.tolist() == [EXITS[0]] * len(pos)
    assert counts == [len(pos)] * EXITS[0] + [0] * (DEPTH - EXITS[0])
    states, _ = runner.collect(inputs, pos)
    logits, conf = exit_confidences(heads, states, measure)
    assert torch.allclose(out.logits, logits[0], atol=1e-5)
    assert torch.allclose(out.confidence, conf[0], atol=1e-6)
    assert ((conf >= 0) & (conf <= 1)).all()


@pytest.mark.parametrize("measure", CONFIDENCES)
def test_exited_rows_run_no_later_layer(model, measure: str) -> None:
    """Per-exit thresholds (the middle exit switched off): each row leaves at the first exit whose
    confidence reaches that exit's threshold, and no later layer processes it."""
    inputs, pos = make_batch(batch=8, seed=1)
    heads = make_heads(seed=3)
    runner = EarlyExitRunner(model, ANSWERS, heads)
    states, _ = runner.collect(inputs, pos)
    logits, conf = exit_confidences(heads, states, measure)

    def between_middle(values: torch.Tensor) -> float:  # halfway between two values: no row sits on the threshold
        v = values.sort().values
        return float(v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

    thresholds = [between_middle(conf[0]), math.inf, between_middle(conf[2])]
    counts, hooks = count_rows(model)
    try:
        out = runner.run(inputs, pos, thresholds=thresholds, measure=measure)
    finally:
        for h in hooks:
            h.remove()
    first = [next((e for e in range(len(EXITS)) if conf[e, b] >= thresholds[e]), None) for b in range(len(pos))]
    assert out.layers.tolist() == [DEPTH if e is None else EXITS[e] for e in first]
    assert 0 < sum(e is not None for e in first) < len(pos), "test setup: want a mixed batch"
    assert EXITS[1] not in out.layers.tolist()
    assert counts == [int((out.layers > i).sum()) for i in range(DEPTH)]
    stay = out.layers == DEPTH
    assert torch.allclose(out.logits[stay], reference(model, inputs, pos)[stay], atol=1e-5)
    assert torch.isnan(out.confidence[stay]).all()
    for b, e in enumerate(first):
        if e is not None:
            assert torch.allclose(out.logits[b], logits[e, b], atol=1e-5)
            assert out.confidence[b] == pytest.approx(float(conf[e, b]), abs=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_heads_follow_the_models_device_and_dtype(model, dtype: torch.dtype) -> None:
    """float32 heads given to a model in another dtype are moved to its decoder's device and dtype, and run."""
    cast = copy.deepcopy(model).to(dtype)
    weight = cast.model.language_model.layers[0].input_layernorm.weight
    heads = make_heads()
    runner = EarlyExitRunner(cast, ANSWERS, heads)
    assert {(w.dtype, w.device) for w in heads.parameters()} == {(dtype, weight.device)}
    inputs, pos = make_batch()
    full = runner.run(inputs, pos)
    assert full.logits.dtype == torch.float32 and torch.isfinite(full.logits).all()
    if dtype == torch.float64:
        assert torch.allclose(full.logits, reference(cast, inputs, pos).float(), atol=1e-6)
    out = runner.run(inputs, pos, thresholds=[0.0] * len(EXITS), measure="classifier")
    assert out.layers.tolist() == [EXITS[0]] * len(pos)
    states, _ = runner.collect(inputs, pos)
    logits, conf = exit_confidences(heads, states, "classifier")
    assert torch.allclose(out.logits, logits[0], atol=1e-2) and torch.allclose(out.confidence, conf[0], atol=1e-2)


def test_heads_round_trip_safetensors(tmp_path, model) -> None:
    heads = make_heads(seed=5)
    save_exit_heads(heads, tmp_path / "bare")
    assert sorted(p.name for p in (tmp_path / "bare").iterdir()) == ["config.json", "model.safetensors"]
    with pytest.raises(InputError, match="validation"):
        load_validation(tmp_path / "bare")
    validation = {"final_logits": torch.randn(3, 5), "logits_0": torch.randn(3, 5), "classifier_0": torch.rand(3)}
    save_exit_heads(heads, tmp_path / "exits", validation)
    assert sorted(p.name for p in (tmp_path / "exits").iterdir()) == ["config.json", "model.safetensors",
                                                                       "validation.safetensors"]
    assert {k: v.tolist() for k, v in load_validation(tmp_path / "exits").items()} == {k: v.tolist() for k, v in validation.items()}
    loaded = load_exit_heads(tmp_path / "exits")
    assert loaded.config == heads.config
    h = torch.randn(4, HIDDEN)
    with torch.no_grad():
        for i in range(len(EXITS)):
            (a, conf_a), (b, conf_b) = heads.confidences(i, h), loaded.confidences(i, h)
            assert torch.equal(a, b) and all(torch.equal(conf_a[m], conf_b[m]) for m in CONFIDENCES)
            assert torch.equal(conf_a["gamma"], (1 + heads(i, h)[1]) / 2)


@pytest.mark.parametrize("gamma", GAMMA_TRAINING)
def test_the_one_confidence_an_exit_decides_by_equals_the_full_set(gamma: str) -> None:
    torch.manual_seed(0)
    n_prototypes = len(ANSWERS) if gamma == "joint" else 2
    heads = ExitHeads(ExitConfig(HIDDEN, EXITS, len(ANSWERS), head_dim=8, n_prototypes=n_prototypes, gamma=gamma)).eval()
    h = torch.randn(4, HIDDEN)
    with torch.no_grad():
        for i in range(len(EXITS)):
            logits, every = heads.confidences(i, h)
            for m in CONFIDENCES:
                one_logits, one = heads.confidence(i, h, m)
                assert torch.equal(one_logits, logits) and torch.equal(one, every[m])


def test_training_learns_and_resumes_identically(tmp_path, model) -> None:
    runner = EarlyExitRunner(model, ANSWERS, make_heads())
    batches = [(*make_batch(batch=8, seed=s), torch.softmax(torch.randn(8, 5), -1)) for s in range(4)]
    data = collect_exit_data(runner, batches)
    assert [s.shape for s in data.states] == [(32, HIDDEN)] * len(EXITS)
    params = ExitTrainParams(epochs=6, lr=1e-2, batch_size=8, head_dim=8, n_prototypes=2)

    straight = make_heads(seed=7)
    history = train_exit_heads(straight, data, data, params, Checkpoint(tmp_path / "a", "fp"))
    assert history[-1]["train_loss"] < history[0]["train_loss"]

    interrupted = make_heads(seed=7)
    train_exit_heads(interrupted, data, data, dataclasses.replace(params, epochs=3), Checkpoint(tmp_path / "b", "fp"))
    resumed = make_heads(seed=7)
    history_b = train_exit_heads(resumed, data, data, params, Checkpoint(tmp_path / "b", "fp"))
    assert history_b == history
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    # another fingerprint (changed params, data or code) starts over instead of resuming the 6 epochs
    restarted = train_exit_heads(make_heads(seed=7), data, data, dataclasses.replace(params, epochs=3),
                                 Checkpoint(tmp_path / "b", "changed"))
    assert [r["epoch"] for r in restarted] == [1, 2, 3]
    assert restarted == history[:3]

    outputs = exit_outputs(straight, data)
    assert set(outputs) == {"final_logits", *(f"{k}_{i}" for k in ("logits", *CONFIDENCES) for i in range(len(EXITS)))}
    assert all(((outputs[f"{m}_{i}"] >= 0) & (outputs[f"{m}_{i}"] <= 1)).all() for m in CONFIDENCES for i in range(len(EXITS)))
    before = copy.deepcopy(straight.state_dict())
    fit_agreement(straight, data, None, params)  # the agreement classifiers only: answers and gamma stay as they were
    changed = {k for k, v in straight.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("agreement.") for k in changed)
    quality = exit_quality(straight, data, None)
    assert {f"exit{layer}_auroc_{m}" for layer in EXITS for m in CONFIDENCES} <= set(quality)

    save_cached_data(tmp_path / "b", "fp", {"train": data})
    assert load_cached_data(tmp_path / "b", "other") is None
    cached = load_cached_data(tmp_path / "b", "fp")["train"]
    assert torch.equal(cached.final_logits, data.final_logits) and torch.equal(cached.states[2], data.states[2])


def test_joint_gamma_learns_with_the_answer_loss_alone(tmp_path, model) -> None:
    """``gamma: joint`` (the paper's): the head answers by scaled cosine to one prototype per answer, nothing
    regresses gamma, and gamma is the cosine to the prototype of the answer given."""
    with pytest.raises(ValueError, match="one prototype per answer"):
        ExitHeads(ExitConfig(hidden_size=HIDDEN, exit_layers=EXITS, n_answers=5, n_prototypes=2, gamma="joint"))
    with pytest.raises(ValueError, match=r"ee.train.n_prototypes = 2: applies to gamma: closeness only"):
        ExitTrainParams(gamma="joint", n_prototypes=2)
    runner = EarlyExitRunner(model, ANSWERS, make_heads())
    data = collect_exit_data(runner, [(*make_batch(batch=8, seed=s), torch.softmax(torch.randn(8, 5), -1)) for s in range(4)])
    torch.manual_seed(3)
    config = ExitConfig(hidden_size=HIDDEN, exit_layers=EXITS, n_answers=5, head_dim=8, n_prototypes=5, gamma="joint")
    heads = ExitHeads(config)
    assert not any(k.startswith("classifiers.") for k in heads.state_dict())
    losses = exit_losses(heads, data, 1.0)
    assert float(losses["conf"]) == 0.0
    losses["loss"].backward()
    assert heads.prototypes.grad.abs().sum() > 0 and heads.log_scale.grad.abs().sum() > 0
    with torch.no_grad():
        logits, gamma = heads(1, data.states[1])
        cos = logits / heads.log_scale[1].exp()
        assert torch.allclose(gamma, cos.gather(1, logits.argmax(-1, keepdim=True)).squeeze(1))
    history = train_exit_heads(heads, data, data, ExitTrainParams(epochs=6, lr=1e-2, batch_size=8, head_dim=8, gamma="joint"),
                               Checkpoint(tmp_path / "joint", "fp"))
    assert history[-1]["train_loss"] < history[0]["train_loss"] and all(r["train_conf"] == 0.0 for r in history)
    save_exit_heads(heads.eval(), tmp_path / "exits")
    loaded = load_exit_heads(tmp_path / "exits")
    assert loaded.config == config
    with torch.no_grad():
        (a, conf_a), (b, conf_b) = heads.confidences(2, data.states[2]), loaded.confidences(2, data.states[2])
    assert torch.equal(a, b) and torch.equal(conf_a["gamma"], conf_b["gamma"])


def test_out_of_fold_answers_come_from_heads_that_never_saw_the_video(tmp_path, model) -> None:
    runner = EarlyExitRunner(model, ANSWERS, make_heads())
    data = collect_exit_data(runner, [(*make_batch(batch=8, seed=s), torch.softmax(torch.randn(8, 5), -1)) for s in range(2)])
    videos = [f"v{r // 2}" for r in range(16)]  # 8 videos of 2 rows, dealt into folds by sorted name
    params = ExitTrainParams(epochs=2, lr=1e-2, batch_size=8, head_dim=8, n_prototypes=2, cross_fit_folds=2)
    config = make_heads().config
    answers = out_of_fold_answers(config, data, videos, data, params, tmp_path / "cf", "fp")
    assert [a.shape for a in answers] == [(16, 5)] * len(EXITS)
    held = torch.tensor([r for r in range(16) if (r // 2) % 2 == 1])  # fold 1: v1, v3, v5, v7
    kept = torch.tensor([r for r in range(16) if (r // 2) % 2 == 0])
    torch.manual_seed(params.seed + 2)
    fold1 = ExitHeads(config)
    train_exit_heads(fold1, ExitData([x[kept] for x in data.states], data.final_logits[kept], data.targets[kept]), data,
                     params, Checkpoint(tmp_path / "ref", "fp"))
    with torch.no_grad():
        assert all(torch.allclose(answers[i][held], fold1(i, data.states[i][held])[0]) for i in range(len(EXITS)))
    again = out_of_fold_answers(config, data, videos, data, params, tmp_path / "cf", "fp")  # resumed: the same
    assert all(torch.equal(a, b) for a, b in zip(answers, again))
    heads = make_heads()
    before = copy.deepcopy(heads.state_dict())
    fit_agreement(heads, data, None, params, answers)
    assert {k for k, v in heads.state_dict().items() if not torch.equal(v, before[k])} <= {
        k for k in before if k.startswith("agreement.")}
    with pytest.raises(ValueError, match="cannot fill 2 folds"):
        out_of_fold_answers(config, data, ["v"] * 16, data, params, tmp_path / "one", "fp")


def test_corpus_videos_train_the_heads_and_calibrate_them(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ee.train.unlabelled_videos`` corpus videos join the fold's training rows (heads, agreement classifier and
    cross-fitting, where a corpus video never shares a demo video's name) with the student's full-depth answer
    distribution as their target (their labels are never read); the next ``ee.calibration_videos`` are the rows
    saved for calibration, in place of the fold's validation rows, and never trained on; each is part of the
    states' fingerprint."""
    from safetensors.torch import load_file
    from tiny_vlm import TEMPLATE, build_tiny_vlm, tiny_model, tiny_source, write_corpus

    import deevisum.early_exit.training as training
    from deevisum.io import tensors_index
    from deevisum.models.tokenizer import train_tokenizer
    from deevisum.models.vlm import save_vlm

    data = write_corpus(tmp_path / "demo", n_videos=4, seconds=6).for_fold(0)  # train vid0, vid1; val vid2
    corpus = write_corpus(tmp_path / "corpus", n_videos=5, seconds=5).examples_file.parent  # vid0 .. vid4 again
    train_tokenizer([TEMPLATE.format(category="sports", title="match vid0", speech="hello there", audio="loud")],
                    100).save_pretrained(str(tmp_path / "tokenizer"))
    model, processor = build_tiny_vlm(tiny_model(), tmp_path / "tokenizer")
    save_vlm(model, processor, tmp_path / "student", tiny_source())
    assert training.read_corpus_videos(corpus, [0, 0]) == [None, None]
    with pytest.raises(ValueError, match="4 corpus videos asked for: give the corpus folder"):
        training.read_corpus_videos(None, [4, 0])
    with pytest.raises(InputError, match="holds 5 videos; ee.train.unlabelled_videos \\+ ee.calibration_videos ask for 6"):
        training.read_corpus_videos(corpus, [3, 3])
    unlabelled, calibration = training.read_corpus_videos(corpus, [2, 3])
    assert sorted(set(unlabelled.videos())) == ["vid0", "vid1"] and sorted(set(calibration.videos())) == ["vid2", "vid3", "vid4"]
    assert len(unlabelled.examples) == 10 and unlabelled.frames.shape == (10, 32, 32, 3)

    seen: dict[str, object] = {}
    real_train, real_fit, real_oof = training.train_exit_heads, training.fit_agreement, training.out_of_fold_answers

    def train_exit_heads(heads, train, val, *args, **kwargs):
        seen.setdefault("trained", len(train.targets))
        return real_train(heads, train, val, *args, **kwargs)

    def fit_agreement(heads, data, *args, **kwargs):
        seen["classified"] = len(data.targets)
        return real_fit(heads, data, *args, **kwargs)

    def out_of_fold_answers(config, train, videos, *args, **kwargs):
        seen["videos"] = sorted(set(videos))
        return real_oof(config, train, videos, *args, **kwargs)

    monkeypatch.setattr(training, "train_exit_heads", train_exit_heads)
    monkeypatch.setattr(training, "fit_agreement", fit_agreement)
    monkeypatch.setattr(training, "out_of_fold_answers", out_of_fold_answers)
    ee = EEParams(exit_layers=[1], calibration_videos=3, train=ExitTrainParams(epochs=2, batch_size=8, head_dim=8,
                                                                               unlabelled_videos=2, cross_fit_folds=2))
    with pytest.raises(ValueError, match="ee.calibration_videos is 3, but 0 such videos are given"):
        training.fit_exit_heads(tmp_path / "student", data, ee, TEMPLATE, True, tmp_path / "ck", unlabelled=unlabelled)

    _, _, saved = training.fit_exit_heads(tmp_path / "student", data, ee, TEMPLATE, True, tmp_path / "ck",
                                          unlabelled=unlabelled, calibration=calibration)
    assert seen == {"trained": 12 + 10, "classified": 12 + 10,
                    "videos": ["unlabelled/vid0", "unlabelled/vid1", "vid0", "vid1"]}
    cache = tmp_path / "ck" / training.STATES_CACHE
    assert tensors_index(cache)["splits"] == ["train", "val", "unlabelled", "calibration"]
    states = load_file(str(cache))
    assert states["unlabelled.state_0"].shape == (10, 64) and states["train.state_0"].shape == (12, 64)
    assert torch.allclose(states["unlabelled.targets"], states["unlabelled.final_logits"].softmax(-1))
    assert torch.equal(saved["final_logits"], states["calibration.final_logits"])
    assert saved[VIDEO_CODES].tolist() == [0] * 5 + [1] * 5 + [2] * 5
    fingerprints = {tensors_index(cache)["fingerprint"]}
    for unlabelled_videos, calibration_videos in ((2, 2), (1, 3), (0, 0)):
        groups = training.read_corpus_videos(corpus, [unlabelled_videos, calibration_videos])
        seen.clear()
        _, _, saved = training.fit_exit_heads(
            tmp_path / "student", data, dataclasses.replace(ee, calibration_videos=calibration_videos, train=dataclasses.replace(
                ee.train, unlabelled_videos=unlabelled_videos, cross_fit_folds=1)), TEMPLATE, True, tmp_path / "ck",
            unlabelled=groups[0], calibration=groups[1])
        fingerprints.add(tensors_index(cache)["fingerprint"])
        assert seen["trained"] == 12 + 5 * unlabelled_videos
    assert len(fingerprints) == 4 and tensors_index(cache)["splits"] == ["train", "val"]
    assert torch.equal(saved["final_logits"], load_file(str(cache))["val.final_logits"]) and saved[VIDEO_CODES].tolist() == [0] * 6


def test_matches_team_scoring_on_left_padded_batches() -> None:
    """Same inputs as the scoring stage (left padding, explicit position_ids): same answer logits."""
    import numpy as np

    from deevisum.config import ArchParams
    from deevisum.models.scoring import answer_logits, answer_token_ids, build_batch
    from deevisum.models.tokenizer import train_tokenizer
    from deevisum.models.vlm import make_processor, tiny_config

    prompts = ["score importance 1 to 5. title: a dog", "score 2 3 4 5 audio: loud music and speech here", "x"]
    tokenizer = train_tokenizer(prompts, vocab_size=60)
    mp = ArchParams(hidden_size=32, num_layers=3, num_heads=2, intermediate_size=64, vision_hidden_size=32, patch_size=16)
    torch.manual_seed(0)
    vlm = PaliGemmaForConditionalGeneration(tiny_config(mp, tokenizer, 32)).eval()
    processor = make_processor(tokenizer, 32, mp.patch_size)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    batch = build_batch(processor, prompts, images)
    ids = answer_token_ids(tokenizer)
    with torch.no_grad():
        want = answer_logits(vlm, batch, ids)
    torch.manual_seed(0)
    heads = ExitHeads(ExitConfig(hidden_size=32, exit_layers=[1, 2], n_answers=5))
    got = EarlyExitRunner(vlm, ids, heads).run(batch, thresholds=[1.5, 1.5])  # heads run, no row leaves
    assert torch.allclose(got.logits, want, atol=1e-5, rtol=1e-5)


def test_timed_settings_time_every_setting_on_the_same_batches(model) -> None:
    from deevisum.early_exit.timing import (
        FULL,
        ORACLE_AT_TARGET,
        SCORING,
        TimedPass,
        exit_histogram,
        speed_summary,
        timed_settings,
    )

    batches = [make_batch(batch=4, seed=s)[0] for s in range(2)]
    for b in batches:  # the scoring convention: answer at the last position
        b["attention_mask"] = torch.ones_like(b["attention_mask"])
    runner = EarlyExitRunner(model, ANSWERS, make_heads())
    timed = timed_settings(runner, batches, [0.0, 1.01], "gamma", repeats=2)
    assert set(timed) == {FULL, SCORING, 0.0, 1.01}
    assert all(len(t.layers) == 8 for t in timed.values())
    assert all(len(t.times) == 2 for k, t in timed.items() if k != SCORING) and timed[SCORING].times == []  # untimed
    assert torch.allclose(timed[FULL].logits, timed[SCORING].logits, atol=1e-5)
    assert torch.allclose(timed[1.01].logits, timed[FULL].logits, atol=1e-6)
    assert timed[0.0].layers.tolist() == [EXITS[0]] * 8 and timed[1.01].layers.tolist() == [DEPTH] * 8
    assert ((timed[0.0].confidence >= 0) & (timed[0.0].confidence <= 1)).all() and timed[FULL].confidence.isnan().all()
    speed = speed_summary(timed[0.0], timed[FULL])
    assert speed["speedup"] > 0 and speed["speedup_fastest"] > 0 and speed["seconds_per_segment"] > 0
    both = TimedPass.concat([timed[0.0], timed[FULL]])
    assert both.layers.tolist() == [EXITS[0]] * 8 + [DEPTH] * 8
    assert both.times == [a + b for a, b in zip(timed[0.0].times, timed[FULL].times)]
    hist = exit_histogram(timed[0.0].layers, DEPTH, torch.tensor([DEPTH, EXITS[0], EXITS[0], EXITS[0]]))
    assert [h["count"] for h in hist] == [8 if k == EXITS[0] else 0 for k in range(1, DEPTH + 1)]
    assert [h[ORACLE_AT_TARGET] for h in hist] == [0.75 if k == EXITS[0] else 0.25 if k == DEPTH else 0 for k in range(1, DEPTH + 1)]


def test_scores_file_groups_seconds_by_video() -> None:
    from fractions import Fraction

    from deevisum.evaluation.scores import scores_file
    from deevisum.models.scoring import expected_score

    examples = [{"video_id": v, "second": s} for v, n in (("a", 3), ("b", 2)) for s in range(n)]
    logits = torch.randn(5, 5, generator=torch.Generator().manual_seed(0))
    want = expected_score(logits)
    out = scores_file(want, examples, {"a": Fraction(15), "b": Fraction(30000, 1001)})
    assert out["a"] == {"scores": pytest.approx(want[:3].tolist()), "frames_per_score": 15.0}
    assert out["b"] == {"scores": pytest.approx(want[3:].tolist()), "frames_per_score": "30000/1001"}


def test_scores_file_round_trips_exact_rates(tmp_path) -> None:
    import json
    from fractions import Fraction

    from deevisum.evaluation.scores import read_scores, scores_file

    examples = [{"video_id": "a", "second": s} for s in range(2)]
    path = tmp_path / "scores.json"
    path.write_text(json.dumps(scores_file([1.5, 4.0], examples, {"a": Fraction(30000, 1001)})), encoding="utf-8")
    back = read_scores(path)["a"]
    assert back.frames_per_score == Fraction(30000, 1001) and back.scores.tolist() == [1.5, 4.0]


# ---------------- calibration on validation rows ----------------

TARGET, DELTA = 0.95, 0.1
HELD_OUT = 200_000
"""Held-out rows: enough to stand for the population the guarantee is about (a few thousand rows'
agreement scatters by about 0.005 around it)."""


def synthetic(n: int, kind: str, seed: int = 0, n_exits: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, agree), each (n_exits, n). ``informative``: a row agrees with probability
    1 - 0.6 (1 - c)^2 (always at c = 1, 40% of the time at c = 0); ``random``: 70% of rows agree,
    whatever the confidence; ``saturated``: random too, with confidences of exactly 0 or 1."""
    rng = np.random.default_rng(seed)
    conf = rng.random((n_exits, n))
    if kind == "saturated":
        conf = np.round(conf)
    p_agree = 1 - 0.6 * (1 - conf) ** 2 if kind == "informative" else np.full_like(conf, 0.7)
    return conf, rng.random((n_exits, n)) < p_agree


def held_out(conf: np.ndarray, agree: np.ndarray, threshold: float) -> tuple[float, float]:
    """Agreement with full depth and the share of rows that exit early, at ``threshold``."""
    n = conf.shape[1]
    return 1 - disagreements(conf, agree, threshold) / n, float((first_exit(conf, threshold) >= 0).mean())


def test_agrees_compares_answers_and_expected_scores() -> None:
    full = torch.tensor([0.1, 0.2, 0.4, 0.2, 0.1]).log()  # answer 3, expected score 3.0
    exits = torch.tensor([[0.1, 0.1, 0.4, 0.3, 0.1],  # answer 3, expected 3.2
                          [0.05, 0.05, 0.4, 0.25, 0.25],  # answer 3, expected 3.6
                          [0.1, 0.1, 0.2, 0.5, 0.1]]).log()  # answer 4
    assert agrees(exits, full.expand(3, 5), None).tolist() == [True, True, False]
    assert agrees(exits, full.expand(3, 5), 0.25).tolist() == [True, False, False]


def test_auroc_by_hand() -> None:
    # agreeing rows 0.35 and 0.8 against disagreeing 0.1 and 0.4: 3 of the 4 pairs ordered right
    assert auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert auroc(np.array([0.5, 0.5, 0.9]), np.array([1, 0, 0])) == pytest.approx(0.25)  # a tie counts half
    assert math.isnan(auroc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_first_exit_and_disagreements_by_hand() -> None:
    conf = np.array([[0.9, 0.2, 0.5], [0.95, 0.8, 0.1]])
    agree = np.array([[False, True, True], [True, False, True]])
    assert first_exit(conf, 0.7).tolist() == [0, 1, -1]
    assert disagreements(conf, agree, 0.7) == 2  # row 0 leaves at exit 0, row 1 at exit 1, both disagree
    assert disagreements(conf, agree, 0.85) == 1 and disagreements(conf, agree, NEVER) == 0


def test_calibration_on_informative_confidence_meets_the_target_on_held_out_rows() -> None:
    cal = calibrate(*synthetic(2000, "informative"), TARGET, DELTA)
    assert cal.threshold != NEVER and cal.p_value <= DELTA and cal.n_rows == 2000
    assert cal.val_agreement >= TARGET
    agreement, exited = held_out(*synthetic(HELD_OUT, "informative", seed=1), cal.threshold)
    assert agreement >= TARGET
    assert exited > 0.5  # a good share leaves early (the true limit is about 0.48, where 88% would)
    assert cal.to_dict()["threshold"] == cal.threshold


def test_calibration_on_uninformative_confidence_exits_little_or_nothing() -> None:
    cal = calibrate(*synthetic(2000, "random"), TARGET, DELTA)  # 30% disagree at every confidence
    agreement, exited = held_out(*synthetic(HELD_OUT, "random", seed=1), cal.threshold)
    assert agreement >= TARGET and exited < 0.2  # only the few rows it can afford to lose leave
    saturated = calibrate(*synthetic(2000, "saturated"), TARGET, DELTA)  # disagreements even at confidence 1
    assert saturated.threshold == NEVER and "no threshold certified" in saturated.reason
    assert saturated.val_exit_fraction == 0 and saturated.to_dict()["threshold"] is None


def test_calibration_declines_on_too_few_calibration_rows() -> None:
    conf, agree = np.full((2, 20), 0.99), np.ones((2, 20), bool)  # perfect, but 0.95^20 = 0.36 > delta
    cal = calibrate(conf, agree, TARGET, DELTA)
    assert cal.threshold == NEVER and "20 calibration rows" in cal.reason
    assert calibrate(np.zeros((2, 0)), np.zeros((2, 0), bool), TARGET, DELTA).threshold == NEVER
    # 60 such rows suffice (0.95^60 = 0.046): no disagreement anywhere, so every grid point is certified
    assert calibrate(np.full((2, 60), 0.99), np.ones((2, 60), bool), TARGET, DELTA).threshold == 0.0


def validation_outputs(conf: np.ndarray, agree: np.ndarray, seed: int = 0) -> dict[str, torch.Tensor]:
    """Validation outputs as train_exits saves them: each exit's answer is full depth's where ``agree``,
    another where not; every measure equals ``conf``; videos of 20 rows."""
    final = torch.randn(conf.shape[1], len(ANSWERS), generator=torch.Generator().manual_seed(seed))
    out = {"final_logits": final, VIDEO_CODES: torch.arange(conf.shape[1]) // 20}
    for i, (c, a) in enumerate(zip(conf, agree)):
        out[f"logits_{i}"] = torch.where(torch.as_tensor(a)[:, None], final, final.roll(1, dims=-1))
        out |= {f"{m}_{i}": torch.as_tensor(c, dtype=torch.float32) for m in CONFIDENCES}
    return out


def test_operating_threshold_is_fixed_on_the_validation_rows_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run's threshold is calibrated on the validation outputs saved with its heads, before the
    run's test rows are touched: other test videos give the same thresholds; ee.threshold overrides."""
    import deevisum.early_exit.report as report
    from deevisum.data.examples import ProcessedData
    from deevisum.data.splits import splits_document

    exits = tmp_path / "exits"
    informative, saturated = synthetic(2000, "informative"), synthetic(2000, "saturated")
    save_exit_heads(make_heads(), exits / "fold0-seed0", validation_outputs(*informative))
    save_exit_heads(make_heads(), exits / "fold1-seed0", validation_outputs(*saturated))
    p = Params()
    cal = report.validation_calibration(exits / "fold0-seed0", p.ee.confidence, p)
    assert cal == dataclasses.replace(calibrate(informative[0].astype(np.float32), informative[1], p.ee.target_agreement,
                                                p.ee.delta), n_videos=100)
    assert report.validation_calibration(exits / "fold1-seed0", p.ee.confidence, p).threshold == NEVER

    class Scored(Exception):
        """Stands in for scoring the test rows: the thresholds are known by then."""

    def thresholds_given(test_videos: list[list[str]], params: Params) -> dict[str, list[float]]:
        folds = [{"train": ["t"], "val": ["v"], "test": videos} for videos in test_videos]
        splits = tmp_path / "splits.json"
        splits.write_text(json.dumps(splits_document(folds, [0, 1])))
        seen: dict[str, list[float]] = {}

        def run_outputs(_student: Path, exits_dir: Path, data: ProcessedData, run, _calibration, thresholds: list[float],
                        _p: Params):
            assert exits_dir == exits / run.name and data.fold == run.fold
            seen[run.name] = thresholds
            if len(seen) == len(folds):
                raise Scored

        monkeypatch.setattr(report, "run_outputs", run_outputs)
        data = ProcessedData(tmp_path / "no_examples.jsonl", splits, tmp_path / "no_frames.h5")
        with pytest.raises(Scored):
            report.early_exit_report(tmp_path / "students", exits, data, None, params)
        return seen

    got = thresholds_given([["a"], ["b"]], p)
    assert got == {"fold0-seed0": sorted({*p.ee.sweep, cal.threshold}), "fold1-seed0": sorted(p.ee.sweep)}
    assert thresholds_given([["c", "d"], ["e"]], p) == got
    manual = dataclasses.replace(p, ee=EEParams(threshold=0.93))
    assert thresholds_given([["a"], ["b"]], manual) == {r: sorted({*p.ee.sweep, 0.93}) for r in got}


def test_video_unit_calibrates_on_the_videos_saved_with_the_heads(tmp_path: Path) -> None:
    import deevisum.early_exit.report as report

    conf, agree = synthetic(2000, "informative")
    val = validation_outputs(conf, agree)
    p = dataclasses.replace(Params(), ee=EEParams(calibration_unit="video"))
    save_exit_heads(make_heads(), tmp_path / "uncoded", {k: v for k, v in val.items() if k != VIDEO_CODES})
    with pytest.raises(InputError, match="re-run it"):
        report.validation_calibration(tmp_path / "uncoded", p.ee.confidence, p)
    codes = val[VIDEO_CODES]  # 100 videos of 20 rows
    save_exit_heads(make_heads(), tmp_path / "coded", val)
    cal = report.validation_calibration(tmp_path / "coded", p.ee.confidence, p)
    assert cal == calibrate(conf.astype(np.float32), agree, p.ee.target_agreement, p.ee.delta, codes.numpy())
    assert cal.unit == "video" and cal.n_videos == 100
    by_row = report.validation_calibration(tmp_path / "coded", p.ee.confidence, Params())
    assert by_row.unit == "row" and by_row.n_videos == 100
