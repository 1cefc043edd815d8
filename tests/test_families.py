"""Both vision-language families at tiny size: PaliGemma2 (Gemma2 decoder) and Gemma 3 (local/global
layers, a sliding window shorter than the prompt, one RoPE base per layer type), through the same
scoring, early-exit, LoRA and save/load code."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_vlm import tiny_model, tiny_source, tiny_train

from deevisum.checkpointing import Checkpoint
from deevisum.config import ModelParams
from deevisum.distill import trainer
from deevisum.distill.trainer import ExampleSet, KDConfig, train_vlm
from deevisum.early_exit.heads import ExitConfig, ExitHeads
from deevisum.early_exit.runner import EarlyExitRunner
from deevisum.models.families import FAMILIES, family_of_config, family_of_processor, output_head
from deevisum.models.scoring import ANSWER_POSITION, answer_logits, answer_token_ids, build_batch, score_examples
from deevisum.models.tokenizer import train_tokenizer
from deevisum.models.vlm import apply_lora, build_tiny, load_vlm, save_vlm

WORDS = "score importance 1 to 5 category sports title match speech hello audio loud quiet none".split()
N = 8


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("tok")
    train_tokenizer([" ".join(rng.choice(WORDS, 12)) for _ in range(20)], 100).save_pretrained(str(path))
    return path


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def tiny(request, tokenizer_dir):
    """A tiny model of each family, prompts of different lengths (some longer than Gemma 3's window) and frames."""
    family = FAMILIES[request.param]
    model, processor = build_tiny(tiny_model(num_layers=4), tokenizer_dir, 32, seed=0, family=family)
    rng = np.random.default_rng(1)
    prompts = [" ".join(rng.choice(WORDS, rng.integers(2, 14))) for _ in range(N)]
    images = rng.integers(0, 256, (N, 32, 32, 3), dtype=np.uint8)
    return model.eval(), processor, prompts, images


def test_family_is_read_from_the_model_and_the_processor(tiny) -> None:
    model, processor, _, _ = tiny
    assert family_of_config(model.config) is family_of_processor(processor)
    assert isinstance(model, family_of_config(model.config).model_class)


def test_left_padded_rows_count_positions_from_the_familys_first(tiny) -> None:
    _, processor, prompts, images = tiny
    family = family_of_processor(processor)
    batch = build_batch(processor, prompts, images)
    mask = batch["attention_mask"]
    assert mask[:, ANSWER_POSITION].all() and (mask.diff(dim=1) >= 0).all()
    for row, n in zip(batch["position_ids"], mask.sum(1)):
        assert row[-n:].tolist() == list(range(family.first_position, family.first_position + int(n)))


def test_one_pass_logits_are_generate_first_step(tiny) -> None:
    model, processor, prompts, images = tiny
    batch = build_batch(processor, prompts, images)
    with torch.no_grad():
        full = model(**batch).logits[:, ANSWER_POSITION]
        gen = model.generate(**{k: v for k, v in batch.items() if k != "position_ids"}, max_new_tokens=1,
                             do_sample=False, output_logits=True, return_dict_in_generate=True)
    torch.testing.assert_close(gen.logits[0], full, atol=1e-4, rtol=1e-4)
    assert torch.equal(gen.sequences[:, -1], full.argmax(-1))


def test_scores_do_not_depend_on_batch_composition(tiny) -> None:
    model, processor, prompts, images = tiny
    together = score_examples(model, processor, prompts, images, batch_size=N)
    alone = np.concatenate([score_examples(model, processor, prompts[i : i + 1], images[i : i + 1], 1) for i in range(N)])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_early_exit_runner_at_full_depth_equals_the_forward_and_rows_leave(tiny) -> None:
    model, processor, prompts, images = tiny
    ids = answer_token_ids(processor.tokenizer)
    batch = build_batch(processor, prompts, images)
    torch.manual_seed(0)
    width = model.config.get_text_config().hidden_size
    heads = ExitHeads(ExitConfig(hidden_size=width, exit_layers=[1, 2], n_answers=5)).eval()
    runner = EarlyExitRunner(model, ids, heads)
    with torch.no_grad():
        reference = answer_logits(model, batch, ids)
    full = runner.run(batch)
    assert (full.logits - reference).abs().max() <= 1e-4
    never = runner.run(batch, thresholds=[float("inf")] * 2)
    assert torch.allclose(never.logits, reference, atol=1e-4) and (never.layers == 4).all()
    everyone = runner.run(batch, thresholds=[0.0, 0.0])
    assert (everyone.layers == 1).all()


def test_lora_touches_only_the_language_model(tiny, tokenizer_dir) -> None:
    model, _, _, _ = tiny
    family = family_of_config(model.config)
    fresh, _ = build_tiny(tiny_model(num_layers=4), tokenizer_dir, 32, seed=0, family=family)
    lora = apply_lora(fresh, ModelParams(source="tiny", lora_r=2))
    adapted = {n for n, _ in lora.named_parameters() if ".lora_A" in n}
    assert len(adapted) == 4 * 7 and all(".language_model." in n for n in adapted)
    assert all(".lora_" in n for n, p in lora.named_parameters() if p.requires_grad)


def test_lora_projector_trains_the_projector_and_saves_it_merged(tiny, tokenizer_dir, tmp_path) -> None:
    model, _, _, _ = tiny
    fresh, processor = build_tiny(tiny_model(num_layers=4), tokenizer_dir, 32, seed=0, family=family_of_config(model.config))
    mp = ModelParams(source="tiny", lora_r=2, lora_projector=True)
    lora = apply_lora(fresh, mp)
    projector = {n: p for n, p in lora.named_parameters() if p.requires_grad and ".multi_modal_projector." in n}
    assert projector and all(".lora_" in n or n in projector for n, p in lora.named_parameters() if p.requires_grad)
    with torch.no_grad():  # as if trained
        for p in projector.values():
            p.add_(1.0)
    trained = {n.split(".modules_to_save.default.")[1]: p.clone() for n, p in projector.items()}
    save_vlm(lora, processor, tmp_path / "m", mp)
    saved = load_vlm(tmp_path / "m", "cpu")[0].model.multi_modal_projector.state_dict()
    assert set(saved) == set(trained)
    for name, value in trained.items():
        torch.testing.assert_close(saved[name], value, rtol=0, atol=0)


def test_save_and_load_keep_the_family_and_the_scores(tiny, tmp_path) -> None:
    model, processor, prompts, images = tiny
    save_vlm(model, processor, tmp_path / "m", tiny_source())
    loaded, loaded_processor = load_vlm(tmp_path / "m", "cpu")
    assert type(loaded) is type(model) and type(loaded_processor) is type(processor)
    np.testing.assert_allclose(score_examples(loaded, loaded_processor, prompts, images, N),
                               score_examples(model, processor, prompts, images, N), atol=1e-5)


def cue_sets() -> tuple[ExampleSet, ExampleSet]:
    """40 training and 8 validation rows whose answer (1 or 5) is a word of the prompt."""
    rng = np.random.default_rng(2)
    cue = rng.integers(0, 2, 48)
    prompts = [f"score importance audio {'loud' if c else 'quiet'} title match" for c in cue]
    targets = np.eye(5, dtype=np.float32)[np.where(cue == 1, 4, 0)]
    images = rng.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8)
    return ExampleSet(prompts[:40], images[:40], targets[:40]), ExampleSet(prompts[40:], images[40:], targets[40:])


def test_training_learns_the_answer(tiny, tokenizer_dir, tmp_path) -> None:
    """The trainer's CE at the answer position falls epoch after epoch for either family (the label is a word of
    the prompt)."""
    model, _, _, _ = tiny
    family = family_of_config(model.config)
    fresh, processor = build_tiny(tiny_model(num_layers=4), tokenizer_dir, 32, seed=0, family=family)
    train, val = cue_sets()
    _, history = train_vlm(fresh, processor, train, val, tiny_train(epochs=3), KDConfig(),
                           Checkpoint(tmp_path / "c", "fp"), 0)
    ces = [row["val_ce"] for row in history]
    assert ces == sorted(ces, reverse=True) and ces[-1] < ces[0] - 1


def test_exit_aware_hooks_read_the_runners_exit_states_and_the_models_head(tiny) -> None:
    """The early-exit loss reads the state after n layers where the runner's exits do, and through the
    model's own head: after every layer, that head gives the model's logits."""
    model, processor, prompts, images = tiny
    batch = build_batch(processor, prompts, images)
    ids = answer_token_ids(processor.tokenizer)
    runner = EarlyExitRunner(model, ids, ExitHeads(ExitConfig(hidden_size=model.config.text_config.hidden_size,
                                                              exit_layers=[1, 2], n_answers=5)))
    with torch.no_grad():
        expected, _ = runner.collect(batch)
        with trainer._decoder_hooks(model, (1, 2, 4), ()) as states:
            logits = model(**batch, logits_to_keep=1, use_cache=False).logits[:, -1]
        for n, state in zip((1, 2), expected):
            torch.testing.assert_close(states[n], state, rtol=0, atol=1e-6)
        torch.testing.assert_close(output_head(model)(states[4]), logits, rtol=0, atol=1e-5)
        with trainer._decoder_hooks(model, (2, 3), {2}) as skipped:  # layer 3 of 4 dropped: state 3 = state 2
            model(**batch, logits_to_keep=1, use_cache=False)
    torch.testing.assert_close(skipped[3], skipped[2], rtol=0, atol=0)
    layers = model.model.language_model.layers
    assert not any(layer._forward_hooks or "forward" in vars(layer) for layer in layers)  # all undone after


def test_layer_dropout_spares_the_first_layer_and_drops_the_last_most() -> None:
    torch.manual_seed(0)
    counts = torch.zeros(6)
    for _ in range(4000):
        for i in trainer.dropped_layers(6, 0.5):
            counts[i] += 1
    assert counts[0] == 0 and counts.tolist() == sorted(counts.tolist())
    torch.testing.assert_close(counts / 4000, 0.5 * torch.arange(6) / 5, rtol=0, atol=0.03)
    assert trainer.dropped_layers(6, 0.0) == frozenset() and trainer.dropped_layers(1, 0.5) == frozenset()


def test_exit_aware_training_puts_the_answer_at_the_exit(tiny, tokenizer_dir, tmp_path) -> None:
    """Trained with the early-exit loss, the state after layer 1 answers through the model's head as well as
    the full depth does; trained without it, it does not."""
    model, _, _, _ = tiny
    family = family_of_config(model.config)
    train, val = cue_sets()
    exits = trainer.ExitAwareLoss(layers=(1,), weight=1.0, layer_dropout=0.2)
    exit_ce = {}
    for name, loss in (("plain", None), ("exit_aware", exits)):
        fresh, processor = build_tiny(tiny_model(num_layers=4), tokenizer_dir, 32, seed=0, family=family)
        trained, history = train_vlm(fresh, processor, train, val, tiny_train(epochs=12, lr=0.01), KDConfig(),
                                     Checkpoint(tmp_path / name, "fp"), 0, exits=loss)
        assert ("train_exit" in history[-1]) == (loss is not None)
        batch = build_batch(processor, val.prompts, val.images) | {"answer_targets": torch.as_tensor(val.targets)}
        with torch.no_grad():
            _, _, at_exit = trainer.batch_losses(trained, batch, answer_token_ids(processor.tokenizer), KDConfig(), exits)
        exit_ce[name] = float(at_exit.mean())
    assert exit_ce["exit_aware"] < 0.5 * exit_ce["plain"], exit_ce
    with pytest.raises(ValueError, match="below the decoder's depth"):  # an exit after the last layer is no exit
        train_vlm(fresh, processor, train, val, tiny_train(), KDConfig(), Checkpoint(tmp_path / "deep", "fp"), 0,
                  exits=trainer.ExitAwareLoss(layers=(4,), weight=1.0, layer_dropout=0.0))
