"""Early exit: exactness at full depth, real row removal, heads round trip, resumable training.

A tiny PaliGemma2-architecture model (Gemma2 decoder with alternating sliding/full attention,
a sliding window shorter than the sequence, attention and final logit soft-capping; a tiny
SigLIP tower on 32 px images) stands in for the student.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration

from deevisum.checkpointing import Checkpoint
from deevisum.config import ExitTrainParams
from deevisum.early_exit.heads import (
    ExitConfig,
    ExitHeads,
    load_exit_heads,
    save_exit_heads,
)
from deevisum.early_exit.runner import EarlyExitRunner
from deevisum.early_exit.training import (
    collect_exit_data,
    load_cached_data,
    save_cached_data,
    train_exit_heads,
)

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


def test_threshold_above_one_gives_full_depth_scores(model) -> None:
    inputs, pos = make_batch()
    runner = EarlyExitRunner(model, ANSWERS, make_heads())
    out = runner.run(inputs, pos, threshold=1.01)
    assert torch.allclose(out.logits, reference(model, inputs, pos), atol=1e-5, rtol=1e-5)
    assert out.layers.tolist() == [DEPTH] * len(pos)
    assert torch.isnan(out.gamma).all()
    no_heads = EarlyExitRunner(model, ANSWERS).run(inputs, pos)
    assert torch.allclose(no_heads.logits, out.logits, atol=1e-6)


def test_threshold_minus_one_exits_everything_at_first_exit(model) -> None:
    inputs, pos = make_batch()
    heads = make_heads()
    runner = EarlyExitRunner(model, ANSWERS, heads)
    counts, hooks = count_rows(model)
    try:
        out = runner.run(inputs, pos, threshold=-1.0)
    finally:
        for h in hooks:
            h.remove()
    assert out.layers.tolist() == [EXITS[0]] * len(pos)
    assert counts == [len(pos)] * EXITS[0] + [0] * (DEPTH - EXITS[0])
    states, _ = runner.collect(inputs, pos)
    with torch.no_grad():
        head_logits, gamma = heads(0, states[0])
    assert torch.allclose(out.logits, head_logits, atol=1e-5)
    assert torch.allclose(out.gamma, gamma, atol=1e-6)


def test_exited_rows_run_no_later_layer(model) -> None:
    inputs, pos = make_batch(batch=8, seed=1)
    heads = make_heads(seed=3)
    runner = EarlyExitRunner(model, ANSWERS, heads)
    states, _ = runner.collect(inputs, pos)
    with torch.no_grad():
        gammas = torch.stack([heads(i, s)[1] for i, s in enumerate(states)])  # (exits, B)
    tau = float(gammas.flatten().sort().values[gammas.numel() // 2])  # some rows leave early, some do not
    counts, hooks = count_rows(model)
    try:
        out = runner.run(inputs, pos, threshold=tau)
    finally:
        for h in hooks:
            h.remove()
    first = [next((EXITS[e] for e in range(len(EXITS)) if gammas[e, b] >= tau), DEPTH) for b in range(len(pos))]
    assert out.layers.tolist() == first
    assert 0 < sum(n < DEPTH for n in first) < len(pos), "test setup: want a mixed batch"
    assert counts == [int((out.layers > i).sum()) for i in range(DEPTH)]
    stay = out.layers == DEPTH
    assert torch.allclose(out.logits[stay], reference(model, inputs, pos)[stay], atol=1e-5)


def test_heads_round_trip_safetensors(tmp_path, model) -> None:
    heads = make_heads(seed=5)
    save_exit_heads(heads, tmp_path / "exits")
    assert sorted(p.name for p in (tmp_path / "exits").iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_exit_heads(tmp_path / "exits")
    assert loaded.config == heads.config
    h = torch.randn(4, HIDDEN)
    with torch.no_grad():
        for i in range(len(EXITS)):
            a, b = heads(i, h), loaded(i, h)
            assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


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

    save_cached_data(tmp_path / "b", "fp", {"train": data})
    assert load_cached_data(tmp_path / "b", "other") is None
    cached = load_cached_data(tmp_path / "b", "fp")["train"]
    assert torch.equal(cached.final_logits, data.final_logits) and torch.equal(cached.states[2], data.states[2])


def test_matches_team_scoring_on_left_padded_batches() -> None:
    """Same inputs as the scoring stage (left padding, explicit position_ids): same answer logits."""
    import numpy as np

    from deevisum.config import ModelParams
    from deevisum.models.scoring import answer_logits, answer_token_ids, build_batch
    from deevisum.models.tokenizer import train_tokenizer
    from deevisum.models.vlm import make_processor, tiny_config

    prompts = ["score importance 1 to 5. title: a dog", "score 2 3 4 5 audio: loud music and speech here", "x"]
    tokenizer = train_tokenizer(prompts, vocab_size=60)
    mp = ModelParams(hidden_size=32, num_layers=3, num_heads=2, intermediate_size=64, vision_hidden_size=32, patch_size=16)
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
    got = EarlyExitRunner(vlm, ids, heads).run(batch, threshold=1.5)
    assert torch.allclose(got.logits, want, atol=1e-5, rtol=1e-5)


def test_timed_settings_time_every_setting_on_the_same_batches(model) -> None:
    from deevisum.early_exit.timing import (
        FULL,
        SCORING,
        exit_histogram,
        layer_summary,
        speed_summary,
        timed_settings,
    )

    batches = [make_batch(batch=4, seed=s)[0] for s in range(2)]
    for b in batches:  # the scoring convention: answer at the last position
        b["attention_mask"] = torch.ones_like(b["attention_mask"])
    runner = EarlyExitRunner(model, ANSWERS, make_heads())
    timed = timed_settings(runner, batches, [-1.0, 1.01], repeats=2)
    assert set(timed) == {FULL, SCORING, -1.0, 1.01}
    assert all(len(t.times) == 2 and len(t.layers) == 8 for t in timed.values())
    assert torch.allclose(timed[FULL].logits, timed[SCORING].logits, atol=1e-5)
    assert torch.allclose(timed[1.01].logits, timed[FULL].logits, atol=1e-6)
    layers = layer_summary(timed[-1.0], timed[FULL], DEPTH)
    assert layers["mean_layers"] == EXITS[0] and layers["layer_bound"] == DEPTH / EXITS[0]
    assert 0 <= layers["max_abs_prob_diff_vs_full"] <= 1
    assert layer_summary(timed[1.01], timed[FULL], DEPTH) == {"mean_layers": DEPTH, "layer_bound": 1.0,
                                                                "max_abs_prob_diff_vs_full": pytest.approx(0, abs=1e-6)}
    speed = speed_summary(timed[-1.0], timed[FULL])
    assert speed["speedup"] > 0 and speed["speedup_fastest"] > 0 and speed["seconds_per_segment"] > 0
    assert not {"mean_layers", "layer_bound"} & set(speed)  # wall-time figures only
    hist = exit_histogram(timed[-1.0].layers, DEPTH)
    assert [h["count"] for h in hist] == [8 if k == EXITS[0] else 0 for k in range(1, DEPTH + 1)]


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
