"""Model building and loading: tiny roles, LoRA placement, the 4-bit QLoRA path, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_vlm import build_tiny_vlm, tiny_model, tiny_source

from deevisum.config import PRETRAINED, ModelParams, load_params
from deevisum.data.prompts import FULL
from deevisum.io import InputError
from deevisum.models.scoring import score_examples
from deevisum.models.tokenizer import train_tokenizer
from deevisum.models.vlm import (
    PROMPT_FILE,
    build_tiny,
    build_vlm,
    load_vlm,
    model_modalities,
    save_modalities,
    save_vlm,
)

REPO = Path(__file__).resolve().parents[1]
PROMPTS = ["score importance 1 to 5. title: red ball. audio: loud.", "score importance 1 to 5. audio: none."]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tok")
    train_tokenizer(PROMPTS * 4, 100).save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_default_roles_are_tiny_and_ordered_by_capacity(tok_dir) -> None:
    p = load_params(REPO / "params.yaml")
    sizes = {}
    for name in ("teacher", "mentor", "student"):
        mp = getattr(p.models, name)
        assert mp.source == f"{PRETRAINED}/{name}"  # the pretrain stage's checkpoint of the role's tiny architecture
        arch = getattr(p.pretrain, name)
        sizes[name] = _n_params(build_vlm(ModelParams(source="tiny"), arch, tok_dir, 32, seed=0)[0])
    assert sizes["teacher"] > sizes["mentor"] > sizes["student"]


def test_build_tiny_equals_a_tiny_source(tok_dir) -> None:
    """``build_tiny`` is what a ``tiny`` source builds: same weights under the same seed, same processor."""
    a, pa = build_tiny(tiny_model(), tok_dir, 32, seed=3)
    b, pb = build_vlm(tiny_source(), tiny_model(), tok_dir, 32, seed=3)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert pa.image_seq_length == pb.image_seq_length == (32 // 8) ** 2


def test_tiny_source_cannot_quantize(tok_dir) -> None:
    with pytest.raises(ValueError, match="source 'tiny' needs its architecture and no quantize_4bit"):
        build_vlm(tiny_source(quantize_4bit=True), tiny_model(), tok_dir, 32, seed=0)


def test_tiny_build_is_seeded(tok_dir) -> None:
    a, _ = build_tiny_vlm(tiny_model(), tok_dir, 32, seed=3)
    b, _ = build_tiny_vlm(tiny_model(), tok_dir, 32, seed=3)
    c, _ = build_tiny_vlm(tiny_model(), tok_dir, 32, seed=4)
    pa, pb, pc = (next(m.model.language_model.parameters()) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_lora_targets_only_the_language_model(tok_dir) -> None:
    model, _ = build_tiny_vlm(tiny_model(), tok_dir, 32, seed=0, lora_r=4)
    lora = [n for n, _ in model.named_modules() if n.endswith("lora_A")]
    assert lora and all(".language_model." in n for n in lora)
    assert not any("vision_tower" in n or "multi_modal_projector" in n for n, _ in model.named_modules() if "lora" in n)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and ".language_model." in n for n in trainable)


def test_save_load_gives_identical_scores(tok_dir, images, tmp_path) -> None:
    model, processor = build_tiny_vlm(tiny_model(), tok_dir, 32, seed=0, lora_r=4)
    with torch.no_grad():  # make the adapters matter: LoRA B starts at zero
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    before = score_examples(model.eval(), processor, PROMPTS, images, 2)
    save_vlm(model, processor, tmp_path / "m", tiny_source(lora_r=4))
    loaded, loaded_processor = load_vlm(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").is_file()
    np.testing.assert_allclose(score_examples(loaded, loaded_processor, PROMPTS, images, 2), before, atol=1e-5)


def test_saved_files_do_not_depend_on_tokenizer_use(tok_dir, images, tmp_path) -> None:
    """A resumed run (no batches tokenised) must save the same bytes as one that trained."""
    model, processor = build_tiny_vlm(tiny_model(), tok_dir, 32, seed=0)
    save_vlm(model, processor, tmp_path / "unused", tiny_source())
    score_examples(model.eval(), processor, PROMPTS, images, 2)  # left-pads a batch
    save_vlm(model, processor, tmp_path / "used", tiny_source())
    for f in sorted((tmp_path / "unused").iterdir()):
        assert f.read_bytes() == (tmp_path / "used" / f.name).read_bytes(), f.name


def test_4bit_qlora_path_on_cpu(tok_dir, images, tmp_path) -> None:
    import bitsandbytes as bnb

    model, processor = build_tiny_vlm(tiny_model(), tok_dir, 32, seed=0)
    save_vlm(model, processor, tmp_path / "base", tiny_source())
    mp = ModelParams(source=str(tmp_path / "base"), quantize_4bit=True, compute_dtype="bfloat16", lora_r=4)
    qmodel, qprocessor = build_vlm(mp, tiny_model(num_layers=7), tok_dir, 32, seed=0)  # a checkpoint's architecture is its own
    assert qmodel.config.text_config.num_hidden_layers == 2  # the checkpoint's, not the arch passed
    linear4 = [(n, m) for n, m in qmodel.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert linear4 and all(m.compute_dtype == torch.bfloat16 for _, m in linear4)
    assert all(m.weight.quant_type == "nf4" for _, m in linear4)
    # one QLoRA step: gradients reach the adapters only
    batch_scores = score_examples(qmodel, qprocessor, PROMPTS, images, 2)
    assert np.isfinite(batch_scores).all()
    from deevisum.models.scoring import answer_logits, answer_token_ids, build_batch

    qmodel.train()
    answer_logits(qmodel, build_batch(qprocessor, PROMPTS, images), answer_token_ids(qprocessor.tokenizer)).sum().backward()
    grads = [n for n, p in qmodel.named_parameters() if p.grad is not None]
    assert grads and all("lora_" in n for n in grads)
    # saved as adapter + base reference, loaded back quantized with the same scores
    save_vlm(qmodel, qprocessor, tmp_path / "q", mp)
    assert (tmp_path / "q" / "adapter_model.safetensors").is_file()
    loaded, loaded_processor = load_vlm(tmp_path / "q")
    saved = {n: p for n, p in qmodel.named_parameters() if "lora_" in n}
    assert saved and all(torch.equal(p, saved[n]) for n, p in loaded.named_parameters() if "lora_" in n)
    # the reloaded model runs its norms/embeddings in bf16 (training kept them fp32): bf16-close scores
    np.testing.assert_allclose(score_examples(loaded, loaded_processor, PROMPTS, images, 2), batch_scores, atol=2e-2)


def test_load_vlm_names_a_missing_directory(tmp_path) -> None:
    with pytest.raises(InputError, match="not a saved model"):
        load_vlm(tmp_path / "nowhere")


def test_saved_model_records_its_prompt_modalities(tok_dir, tmp_path) -> None:
    model, processor = build_tiny_vlm(tiny_model(), tok_dir, 32, seed=0)
    save_vlm(model, processor, tmp_path / "m", tiny_source())
    assert model_modalities(tmp_path / "m") == FULL  # a model that does not say was trained on every modality
    save_modalities(tmp_path / "m", "frame_title")
    assert (tmp_path / "m" / PROMPT_FILE).is_file()
    assert model_modalities(tmp_path / "m") == "frame_title"
