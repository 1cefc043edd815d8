"""The real PaliGemma2 architectures (SigLIP So400m + Gemma2 2B / 9B / 27B) as transformers configs.

Nothing is downloaded: the sizes are those of the published checkpoints (``google/paligemma2-*``),
so the memory plan can count their parameters exactly on the meta device (no memory, no
weights) and the real-size checks can build them with random weights. A role's ``source`` maps to
one of them (:func:`role_config`): a PaliGemma2 HF id by its size and resolution, a local
checkpoint by its ``config.json``, ``tiny`` by the same ``tiny_config`` the pipeline builds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    Gemma2Config,
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    SiglipVisionConfig,
)
from transformers.models.paligemma.processing_paligemma import EXTRA_TOKENS, IMAGE_TOKEN
from transformers.quantizers.base import get_keys_to_not_convert
from transformers.quantizers.quantizers_utils import should_convert_module

from deevisum.config import PRETRAINED, ModelParams, Params
from deevisum.models.vlm import BASE_FILE, LORA_TARGETS, tiny_config


@dataclass(frozen=True)
class Gemma2Size:
    """The decoder of one PaliGemma2 size (a Gemma2 language model)."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    query_pre_attn_scalar: int


GEMMA2 = {
    "3b": Gemma2Size(26, 2304, 9216, 8, 4, 256, 256),  # Gemma2-2B
    "10b": Gemma2Size(42, 3584, 14336, 16, 8, 256, 256),  # Gemma2-9B
    "28b": Gemma2Size(46, 4608, 36864, 32, 16, 128, 144),  # Gemma2-27B
}
"""PaliGemma2 size -> its Gemma2 decoder. All three: sliding window 4096 on every other layer,
attention logits soft-capped at 50, final logits at 30."""

SIGLIP_SO400M = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, patch_size=14)
"""The vision tower of every PaliGemma2 size; no pooling head (every patch token reaches the projector)."""

HF_ID = re.compile(r"(?:^|/)paligemma2-(3b|10b|28b)-[a-z]+-(224|448|896)$")
"""``google/paligemma2-{3b,10b,28b}-{pt,mix}-{224,448,896}`` -> (size, image side in pixels)."""


@dataclass(frozen=True)
class VocabIds:
    """The token ids an architecture fixes. Also stands in for a tokenizer where only these ids matter
    (``tiny_config`` reads nothing else), so a plan never needs a trained tokenizer."""

    size: int
    image_token_id: int
    pad_token_id: int
    bos_token_id: int
    eos_token_id: int

    def __len__(self) -> int:
        return self.size

    def convert_tokens_to_ids(self, token: str) -> int:
        if token != IMAGE_TOKEN:
            raise KeyError(f"VocabIds knows only the image token, not {token!r}")
        return self.image_token_id

    @classmethod
    def of(cls, tokenizer, size: int | None = None) -> VocabIds:
        """A tokenizer's ids, in a vocabulary of ``size`` rows (default: the tokenizer's length)."""
        return cls(size or len(tokenizer), tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), tokenizer.pad_token_id,
                   tokenizer.bos_token_id, tokenizer.eos_token_id)


PALIGEMMA2_VOCAB = VocabIds(257216, image_token_id=257152, pad_token_id=0, bos_token_id=2, eos_token_id=1)
"""Gemma's 256000 tokens + 1024 <loc> + 128 <seg> + 64 more; <image> is 257152."""


def paligemma2_config(decoder: Gemma2Size, image_size: int = 224, vocab: VocabIds = PALIGEMMA2_VOCAB,
                      vision: dict[str, int] = SIGLIP_SO400M) -> PaliGemmaConfig:
    """A PaliGemma2 of ``decoder`` (one of ``GEMMA2``, or a scaled-down copy) at ``image_size`` px:
    (image_size / patch)^2 image tokens (224 / 14 -> 256)."""
    text = Gemma2Config(
        vocab_size=vocab.size, hidden_size=decoder.hidden, intermediate_size=decoder.intermediate,
        num_hidden_layers=decoder.layers, num_attention_heads=decoder.heads, num_key_value_heads=decoder.kv_heads,
        head_dim=decoder.head_dim, query_pre_attn_scalar=decoder.query_pre_attn_scalar, sliding_window=4096,
        attn_logit_softcapping=50.0, final_logit_softcapping=30.0, hidden_activation="gelu_pytorch_tanh",
        pad_token_id=vocab.pad_token_id, bos_token_id=vocab.bos_token_id, eos_token_id=vocab.eos_token_id,
    )
    vision_config = SiglipVisionConfig(**vision, image_size=image_size, vision_use_head=False)
    return PaliGemmaConfig(vision_config=vision_config, text_config=text, image_token_index=vocab.image_token_id,
                           projection_dim=decoder.hidden, hidden_size=decoder.hidden, vocab_size=vocab.size)


def tiny_vocab(p: Params) -> VocabIds:
    """The vocabulary a tiny role gets from ``build_tokenizer``: ``tokenizer.vocab_size`` words and specials,
    then the processor's <image> and <loc>/<seg> tokens (the up to five answers it may add are left out)."""
    return VocabIds(p.tokenizer.vocab_size + 1 + len(EXTRA_TOKENS), p.tokenizer.vocab_size, 0, 2, 1)


def role_config(role: str, p: Params) -> PaliGemmaConfig:
    """The architecture of ``models.<role>``: from its HF id, its local checkpoint, or its ``pretrain.<role>``
    sizes (``tiny``, or the pretrain stage's checkpoint before that stage has run)."""
    mp: ModelParams = getattr(p.models, role)
    source = mp.source
    while True:
        path = Path(source)
        if source == "tiny" or (source == f"{PRETRAINED}/{role}" and not (path / "config.json").is_file()):
            return tiny_config(getattr(p.pretrain, role), tiny_vocab(p), p.frames.image_size)
        match = HF_ID.search(source)
        if match:
            return paligemma2_config(GEMMA2[match[1]], int(match[2]))
        if (path / "config.json").is_file():
            return PaliGemmaConfig.from_pretrained(str(path))
        if (path / BASE_FILE).is_file():  # a saved 4-bit adapter: the architecture is its base's
            source = json.loads((path / BASE_FILE).read_text(encoding="utf-8"))["source"]
            continue
        raise ValueError(f"models.{role}.source = {source!r}: not 'tiny', a PaliGemma2 HF id "
                         "(google/paligemma2-{3b,10b,28b}-pt-224) or a directory with config.json")


def meta_model(config: PaliGemmaConfig) -> PaliGemmaForConditionalGeneration:
    """The model with every tensor on the meta device: exact shapes, no memory, built in milliseconds."""
    with torch.device("meta"):
        return PaliGemmaForConditionalGeneration(config)


@dataclass(frozen=True)
class ParamCount:
    """Parameters of one architecture (tied embeddings counted once)."""

    total: int
    quantized: int
    """In the ``nn.Linear`` layers bitsandbytes turns into 4-bit ones (all but the tied embeddings / lm_head)."""
    largest_quantized: int
    """Weights of the largest of those layers (a 4-bit layer dequantizes its weight to run)."""
    lora: int
    """Trainable LoRA parameters at rank ``r`` on the language model's projections (``vlm.LORA_TARGETS``)."""
    vision: int
    """In the SigLIP tower (frozen under LoRA)."""


def count_params(model: PaliGemmaForConditionalGeneration, lora_r: int) -> ParamCount:
    """Count ``model``'s parameters as from_pretrained would quantize them and apply_lora would adapt them."""
    skip = get_keys_to_not_convert(model) + list(model._keep_in_fp32_modules or [])
    linears = [(name, m) for name, m in model.named_modules() if type(m) is torch.nn.Linear]
    quantized = [m.weight.numel() for name, m in linears if should_convert_module(name, skip)]
    return ParamCount(
        total=sum(p.numel() for p in model.parameters()),
        quantized=sum(quantized),
        largest_quantized=max(quantized, default=0),
        lora=sum(lora_r * (m.in_features + m.out_features) for name, m in linears if re.fullmatch(LORA_TARGETS, name)),
        vision=sum(p.numel() for p in model.model.vision_tower.parameters()),
    )
