"""One-pass scoring: answer tokens, the input convention, batch independence, agreement with generate()."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_vlm import TEMPLATE, build_tiny_vlm, processed, tiny_model, tiny_source, write_corpus
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from deevisum.data.splits import Run
from deevisum.models.scoring import (
    ANSWER_POSITION,
    ENCODE_CHUNK,
    EncodedPrompts,
    answer_logits,
    answer_token_ids,
    build_batch,
    expected_score,
    generate_answers,
    generate_scores,
    score_examples,
    score_runs,
    score_saved,
)
from deevisum.models.tokenizer import train_tokenizer
from deevisum.models.vlm import save_vlm

WORDS = "score importance 1 to 5 category sports title match speech hello audio loud quiet none".split()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    rng = np.random.default_rng(0)
    prompts = [" ".join(rng.choice(WORDS, rng.integers(2, 14))) for _ in range(12)]
    path = tmp_path_factory.mktemp("tok")
    train_tokenizer(prompts, 100).save_pretrained(str(path))
    model, processor = build_tiny_vlm(tiny_model(), path, 32, seed=0)
    images = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    return model.eval(), processor, prompts, images


def test_answer_tokens_are_single_tokens(tiny) -> None:
    _, processor, _, _ = tiny
    ids = answer_token_ids(processor.tokenizer)
    assert len(set(ids)) == 5
    assert [processor.tokenizer.decode([i]) for i in ids] == ["1", "2", "3", "4", "5"]


def test_tokenizer_without_answer_tokens_is_refused() -> None:
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0, "a": 1}, unk_token="<unk>")),
                                  unk_token="<unk>")
    with pytest.raises(ValueError, match="'1'"):
        answer_token_ids(tok)


def test_batch_is_left_padded_prefix_with_answer_last(tiny) -> None:
    _, processor, prompts, images = tiny
    batch = build_batch(processor, prompts, images)
    mask = batch["attention_mask"]
    assert (mask[:, ANSWER_POSITION] == 1).all()  # the answer position is a real token in every row
    assert (mask.diff(dim=1) >= 0).all()  # padding only on the left
    assert (batch["token_type_ids"] == 0).all()  # prefix only: bidirectional prefix-LM mask
    lengths = mask.sum(1)
    assert lengths.min() < lengths.max()
    for row, n in zip(batch["position_ids"], lengths):
        assert row[-n:].tolist() == list(range(1, int(n) + 1))


def _assert_batches_equal(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        assert torch.equal(got[k], want[k]), k


def test_encoded_prompts_batches_equal_build_batch(tiny) -> None:
    """Prompts tokenised once give, for any subset of rows, exactly the processor's batch of those rows alone."""
    _, processor, prompts, images = tiny
    encoded = EncodedPrompts.of(processor, prompts, images)
    assert len(encoded) == len(prompts)
    rng = np.random.default_rng(1)
    subsets = [rng.choice(len(prompts), int(rng.integers(1, len(prompts) + 1)), replace=False).tolist() for _ in range(8)]
    shortest = int(np.argmin([len(p.split()) for p in prompts]))
    for rows in [*subsets, [shortest], list(range(len(prompts)))]:
        _assert_batches_equal(encoded.batch(rows, images[rows]), build_batch(processor, [prompts[i] for i in rows], images[rows]))
    _assert_batches_equal(encoded.batch(slice(3, 9), images[3:9]), build_batch(processor, prompts[3:9], images[3:9]))


def test_encoded_prompts_across_chunks_equal_build_batch(tiny) -> None:
    """Rows tokenised in different chunks (padded to different widths) still batch like the processor's."""
    _, processor, prompts, images = tiny
    n = ENCODE_CHUNK + 5
    rng = np.random.default_rng(2)
    many = [prompts[i] for i in rng.integers(0, len(prompts), n)]
    many[-1] = "score importance 1 to 5 category sports title match speech hello audio loud quiet none hello hello"
    pics = images[rng.integers(0, len(images), n)]
    encoded = EncodedPrompts.of(processor, many, pics)
    for rows in ([0, n - 1], [1, 2, 3], rng.choice(n, 20, replace=False).tolist()):
        _assert_batches_equal(encoded.batch(rows, pics[rows]), build_batch(processor, [many[i] for i in rows], pics[rows]))


def test_scores_do_not_depend_on_batch_composition(tiny) -> None:
    model, processor, prompts, images = tiny
    together = score_examples(model, processor, prompts, images, batch_size=12)
    alone = np.concatenate([score_examples(model, processor, prompts[i : i + 1], images[i : i + 1], 1) for i in range(12)])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_expected_score_is_the_mean_answer() -> None:
    sure = torch.full((5, 5), -30.0)
    sure[torch.arange(5), torch.arange(5)] = 30.0
    np.testing.assert_allclose(expected_score(sure), [1, 2, 3, 4, 5], atol=1e-4)
    np.testing.assert_allclose(expected_score(torch.zeros(1, 5)), [3.0])


def test_one_pass_score_agrees_with_generated_answer(tiny) -> None:
    """generate() restricted to the answers says the most likely answer of the one-pass distribution."""
    model, processor, prompts, images = tiny
    ids = answer_token_ids(processor.tokenizer)
    batch = build_batch(processor, prompts, images)
    with torch.no_grad():
        one_pass = answer_logits(model, batch, ids).argmax(-1) + 1
        gen = model.generate(**{k: v for k, v in batch.items() if k != "position_ids"}, max_new_tokens=1,
                             do_sample=False, prefix_allowed_tokens_fn=lambda _b, _s: ids)
    said = generate_scores(processor.tokenizer.batch_decode(gen[:, -1:], skip_special_tokens=True))
    assert said.tolist() == one_pass.float().tolist()


def test_generate_answers_reads_digits(tiny) -> None:
    model, processor, prompts, images = tiny
    answers = generate_answers(model, processor, prompts[:3], images[:3], batch_size=3)
    assert len(answers) == 3
    assert generate_scores(["4", "x 2", "none"]).tolist() == [4.0, 2.0, 3.0]


def test_score_runs_scores_each_folds_test_videos_with_its_own_run(tmp_path) -> None:
    """Two folds x two seeds of untrained models: a seed's scores cover every fold's test videos, fold by fold,
    each scored by that fold's run of the seed."""
    data = write_corpus(tmp_path, n_folds=2)
    models = tmp_path / "models" / "student"
    tokenizer = tmp_path / "models" / "tokenizer"  # one tokenizer for every fold (trained on the pretraining corpus)
    train_tokenizer([e["prompt"] for e in data.examples("train", "val", "test")], 100).save_pretrained(str(tokenizer))
    for k in (0, 1):
        for seed in (0, 1):
            model, processor = build_tiny_vlm(tiny_model(), tokenizer, 32, seed=10 * k + seed)  # each run its own weights
            save_vlm(model, processor, models / Run(k, seed).name, tiny_source())
    logits, examples = score_runs(models, processed(tmp_path, fold=None), 1, 8, TEMPLATE)
    tests = [data.for_fold(k).examples("test") for k in (0, 1)]
    assert examples == tests[0] + tests[1] and {e["video_id"] for e in tests[0]} == {"vid3"}
    alone = [score_saved(models / Run(k, 1).name, data, tests[k], 8, TEMPLATE)[0] for k in (0, 1)]
    np.testing.assert_allclose(logits, np.concatenate(alone), atol=1e-5)
    other_seed, _ = score_runs(models, data, 0, 8, TEMPLATE)
    assert np.abs(other_seed - logits).max() > 1e-3
    probe, _ = score_runs(models, data, 1, 8, TEMPLATE, modalities="frame")  # the same models, prompts without fields
    alone = [score_saved(models / Run(k, 1).name, data, tests[k], 8, TEMPLATE, modalities="frame")[0] for k in (0, 1)]
    np.testing.assert_allclose(probe, np.concatenate(alone), atol=1e-5)
    assert np.abs(probe - logits).max() > 1e-3
