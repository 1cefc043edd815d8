"""The real vision-language architectures as transformers configs: PaliGemma2 (SigLIP So400m + Gemma2
2B / 9B / 27B) and Gemma 3 (SigLIP So400m at 896 px + Gemma 3 4B / 12B / 27B).

Nothing is downloaded: the sizes are those of the published checkpoints (``google/paligemma2-*``,
``google/gemma-3-*``),
so the memory plan can count their parameters exactly on the meta device (no memory, no
weights) and the real-size checks can build them with random weights. A role's ``source`` maps to
one of them (:func:`role_config`): a PaliGemma2 HF id by its size and resolution, a Gemma 3 HF id by
its size, a local checkpoint (either family) by its ``config.json``, ``tiny`` by the same ``tiny_config``
the pipeline builds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    Gemma2Config,
    Gemma3Config,
    Gemma3TextConfig,
    PaliGemmaConfig,
    PretrainedConfig,
    PreTrainedModel,
    SiglipVisionConfig,
)
from transformers.models.paligemma.processing_paligemma import EXTRA_TOKENS, IMAGE_TOKEN
from transformers.quantizers.base import get_keys_to_not_convert
from transformers.quantizers.quantizers_utils import should_convert_module

from deevisum.config import PRETRAINED, ModelParams, Params
from deevisum.models.families import family_of_config, family_of_source
from deevisum.models.vlm import BASE_FILE, LORA_TARGETS, gemma3_config, tiny_config


@dataclass(frozen=True)
class DecoderSize:
    """The decoder of one size (a Gemma2 or Gemma 3 language model)."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    query_pre_attn_scalar: int


GEMMA2 = {
    "3b": DecoderSize(26, 2304, 9216, 8, 4, 256, 256),  # Gemma2-2B
    "10b": DecoderSize(42, 3584, 14336, 16, 8, 256, 256),  # Gemma2-9B
    "28b": DecoderSize(46, 4608, 36864, 32, 16, 128, 144),  # Gemma2-27B
}
"""PaliGemma2 size -> its Gemma2 decoder. All three: sliding window 4096 on every other layer,
attention logits soft-capped at 50, final logits at 30."""

GEMMA3 = {
    "4b": DecoderSize(34, 2560, 10240, 8, 4, 256, 256),
    "12b": DecoderSize(48, 3840, 15360, 16, 8, 256, 256),
    "27b": DecoderSize(62, 5376, 21504, 32, 16, 128, 168),
}
"""Gemma 3 vision-language size -> its decoder. All three: five local layers (sliding window 1024, RoPE
base 10k) to one global (RoPE base 1M, linear scaling x8), no soft-capping."""

SIGLIP_SO400M = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16, patch_size=14)
"""The vision tower of every PaliGemma2 size; no pooling head (every patch token reaches the projector)."""

HF_ID = re.compile(r"(?:^|/)paligemma2-(3b|10b|28b)-[a-z]+-(224|448|896)$")
"""``google/paligemma2-{3b,10b,28b}-{pt,mix}-{224,448,896}`` -> (size, image side in pixels)."""
GEMMA3_HF_ID = re.compile(r"(?:^|/)gemma-3-(4b|12b|27b)-(?:pt|it)$")
"""``google/gemma-3-{4b,12b,27b}-{pt,it}`` -> size (896 px frames, 256 soft tokens)."""


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


def paligemma2_config(decoder: DecoderSize, image_size: int = 224, vocab: VocabIds = PALIGEMMA2_VOCAB,
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


class _Gemma3Vocab:
    """The ids of Gemma 3's image markers in its published vocabulary (what ``gemma3_config`` reads)."""

    boi_token_id, eoi_token_id, image_token_id = 255_999, 256_000, 262_144


GEMMA3_VOCAB_SIZE = 262_208
"""Gemma 3's embedding rows: 262144 tokens + the image soft token, padded to a multiple of 64."""


def gemma3_vlm_config(decoder: DecoderSize, image_size: int = 896, vision: dict[str, int] = SIGLIP_SO400M) -> Gemma3Config:
    """A Gemma 3 vision-language model of ``decoder``: SigLIP So400m's (896 / 14)^2 = 4096 patches pooled to 256
    soft tokens."""
    text = Gemma3TextConfig(
        vocab_size=GEMMA3_VOCAB_SIZE, hidden_size=decoder.hidden, intermediate_size=decoder.intermediate,
        num_hidden_layers=decoder.layers, num_attention_heads=decoder.heads, num_key_value_heads=decoder.kv_heads,
        head_dim=decoder.head_dim, query_pre_attn_scalar=decoder.query_pre_attn_scalar, sliding_window=1024,
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
                         "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1_000_000.0}},
    )
    return gemma3_config(text, _Gemma3Vocab, SiglipVisionConfig(**vision, image_size=image_size, vision_use_head=False), 256)


def image_tokens(config: PretrainedConfig) -> int:
    """Image tokens per frame in the decoder's sequence (Gemma 3: its soft tokens, not the tower's patches)."""
    return config.mm_tokens_per_image if hasattr(config, "mm_tokens_per_image") else config.text_config.num_image_tokens


def tiny_vocab(p: Params) -> VocabIds:
    """The vocabulary a tiny role gets from ``build_tokenizer``: ``tokenizer.vocab_size`` words and specials,
    then the processor's <image> and <loc>/<seg> tokens (the up to five answers it may add are left out)."""
    return VocabIds(p.tokenizer.vocab_size + 1 + len(EXTRA_TOKENS), p.tokenizer.vocab_size, 0, 2, 1)


def role_config(role: str, p: Params) -> PretrainedConfig:
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
        match = GEMMA3_HF_ID.search(source)
        if match:
            return gemma3_vlm_config(GEMMA3[match[1]])
        if (path / "config.json").is_file():
            return family_of_source(path).model_class.config_class.from_pretrained(str(path))
        if (path / BASE_FILE).is_file():  # a saved 4-bit adapter: the architecture is its base's
            source = json.loads((path / BASE_FILE).read_text(encoding="utf-8"))["source"]
            continue
        raise ValueError(f"models.{role}.source = {source!r}: not 'tiny', a PaliGemma2 or Gemma 3 HF id "
                         "(google/paligemma2-{3b,10b,28b}-pt-224, google/gemma-3-{4b,12b,27b}-pt) "
                         "or a directory with config.json")


def meta_model(config: PretrainedConfig) -> PreTrainedModel:
    """The model of ``config``'s family with every tensor on the meta device: exact shapes, no memory, built in
    milliseconds."""
    with torch.device("meta"):
        return family_of_config(config).model_class(config)


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


def count_params(model: PreTrainedModel, lora_r: int) -> ParamCount:
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
