"""The VLMs of the pipeline: build (tiny, from config), load (HF id / local path, 4-bit), LoRA, save.

One code path for the offline default and the paper's setup: a role's ``source`` is an HF id or a
local directory loaded with ``from_pretrained`` (optionally 4-bit NF4 with bitsandbytes, the QLoRA
setting) of either family of :mod:`deevisum.models.families` (PaliGemma2 or Gemma 3); the demo's are
the pretrain stage's checkpoints of tiny PaliGemma2 (SigLIP + Gemma2) architectures built from config
(:func:`build_tiny`, with a tokenizer trained on the pretraining prompts). ``tiny`` starts a role from its architecture's random weights instead.
The HF token, when a gated checkpoint needs one, is read by huggingface_hub from ``HF_TOKEN``.

A saved model directory (``models/<name>/``) holds ``model.safetensors`` + ``config.json`` +
the processor files, or, for a 4-bit QLoRA model that cannot be merged losslessly, the peft
adapter (``adapter_model.safetensors``) plus ``deevisum_base.json`` naming the base checkpoint.
``load_vlm(path)`` reads either and returns ``(model, processor)`` in eval mode; the model is a
plain ``PaliGemmaForConditionalGeneration`` or ``Gemma3ForConditionalGeneration`` (decoder layers at
``model.model.language_model.layers``) except for 4-bit adapters (a ``PeftModel`` around it).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from transformers import (
    AutoTokenizer,
    BitsAndBytesConfig,
    Gemma2Config,
    Gemma3Config,
    Gemma3ImageProcessorPil,
    Gemma3Processor,
    Gemma3TextConfig,
    PaliGemmaConfig,
    PaliGemmaProcessor,
    PreTrainedTokenizerBase,
    SiglipImageProcessorPil,
    SiglipVisionConfig,
)
from transformers.models.paligemma.processing_paligemma import IMAGE_TOKEN

from deevisum.config import ArchParams, ModelParams
from deevisum.data.prompts import FULL
from deevisum.io import InputError
from deevisum.models.families import GEMMA3, PALIGEMMA, Family, family_of_source

LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
"""LoRA goes on the language model only: a bare ``q_proj`` would also match the SigLIP tower."""
PROJECTOR = "multi_modal_projector"
"""The vision-to-language projector of both families (``model.model.multi_modal_projector``)."""
BASE_FILE = "deevisum_base.json"
PROMPT_FILE = "prompt.json"
"""Which modalities the model's prompts carried in training (``data.prompts.MODALITY_FIELDS``)."""
ATTENTION = {"text_config": "eager"}
"""Gemma2's attention logit soft-capping runs only in eager attention: transformers 5.24 picks eager for it by
itself, 5.17 (the GPU machine's) would pick sdpa and drop the capping. SigLIP keeps the default (sdpa).
Gemma 3 has no capping; eager keeps its decoder's masks plain tensors, which early exit shrinks by row."""


def make_processor(tokenizer: PreTrainedTokenizerBase, image_size: int, patch_size: int) -> PaliGemmaProcessor:
    """A processor for a tiny model: SigLIP preprocessing at ``image_size`` with (size/patch)^2 image tokens."""
    image_processor = SiglipImageProcessorPil(
        size={"height": image_size, "width": image_size},
        image_seq_length=(image_size // patch_size) ** 2,
    )
    return PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)


def siglip_config(hidden_size: int, layers: int, image_size: int, patch_size: int) -> SiglipVisionConfig:
    """A small SigLIP tower: heads of width 32, MLP 4x wide, no pooling head (as in PaliGemma and Gemma 3,
    every patch token goes to the projector)."""
    return SiglipVisionConfig(
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden_size // 32),
        image_size=image_size,
        patch_size=patch_size,
        vision_use_head=False,
    )


def _tiny_decoder(mp: ArchParams, tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """The decoder sizes and special tokens both families' toy configs take from ``mp`` and the tokenizer."""
    head_dim = mp.hidden_size // mp.num_heads
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=mp.hidden_size,
        num_hidden_layers=mp.num_layers,
        num_attention_heads=mp.num_heads,
        num_key_value_heads=mp.num_heads,
        head_dim=head_dim,
        query_pre_attn_scalar=head_dim,
        intermediate_size=mp.intermediate_size,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def tiny_config(mp: ArchParams, tokenizer: PreTrainedTokenizerBase, image_size: int) -> PaliGemmaConfig:
    """PaliGemma2 architecture at toy sizes (SigLIP: :func:`siglip_config`)."""
    text = Gemma2Config(**_tiny_decoder(mp, tokenizer))
    return PaliGemmaConfig(
        vision_config=siglip_config(mp.vision_hidden_size, mp.vision_layers, image_size, mp.patch_size),
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        projection_dim=mp.hidden_size,
        hidden_size=mp.hidden_size,
        vocab_size=len(tokenizer),
    )


GEMMA3_IMAGE_TOKENS = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
"""Gemma 3's image markers, named as its processor reads them from the tokenizer (every Gemma 3 vocabulary has them)."""


def make_gemma3_processor(tokenizer: PreTrainedTokenizerBase, image_size: int, image_tokens: int) -> Gemma3Processor:
    """A Gemma 3 processor: SigLIP preprocessing at ``image_size``, ``image_tokens`` soft tokens per image."""
    image_processor = Gemma3ImageProcessorPil(size={"height": image_size, "width": image_size})
    return Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_length=image_tokens)


def gemma3_config(text_config: Gemma3TextConfig, tokenizer: PreTrainedTokenizerBase, vision: SiglipVisionConfig,
                  image_tokens: int) -> Gemma3Config:
    """Gemma 3's conditional architecture: ``vision``'s patches average-pooled to ``image_tokens`` (a square
    whose side divides the patches per side) soft tokens, projected into ``text_config``'s decoder."""
    side = vision.image_size // vision.patch_size
    per_side = round(image_tokens**0.5)
    if per_side * per_side != image_tokens or side % per_side:
        raise ValueError(f"image_tokens {image_tokens}: needs a square whose side divides the {side} patches per side")
    return Gemma3Config(
        text_config=text_config.to_dict(),
        vision_config=vision.to_dict(),
        mm_tokens_per_image=image_tokens,
        boi_token_index=tokenizer.boi_token_id,
        eoi_token_index=tokenizer.eoi_token_id,
        image_token_index=tokenizer.image_token_id,
    )


def tiny_gemma3_config(mp: ArchParams, tokenizer: PreTrainedTokenizerBase, image_size: int) -> Gemma3Config:
    """Gemma 3's architecture at toy sizes, the twin of :func:`tiny_config`: local (sliding window of 8
    tokens) and global layers alternating, each type with its RoPE base; one soft token per patch."""
    text = Gemma3TextConfig(
        **_tiny_decoder(mp, tokenizer),
        sliding_window=8,
        layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(mp.num_layers)],
    )
    vision = siglip_config(mp.vision_hidden_size, mp.vision_layers, image_size, mp.patch_size)
    return gemma3_config(text, tokenizer, vision, (image_size // mp.patch_size) ** 2)


def quantization_config(compute_dtype: str) -> BitsAndBytesConfig:
    """4-bit NF4 weights; matmuls run in ``compute_dtype`` (QLoRA)."""
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=getattr(torch, compute_dtype),
    )


def _family(path: str | Path) -> Family:
    """The family of a checkpoint, or of a 4-bit adapter's base."""
    base = Path(path) / BASE_FILE
    return family_of_source(json.loads(base.read_text(encoding="utf-8"))["source"] if base.is_file() else path)


def load_processor(path: str | Path):
    """The processor saved next to a model (or an HF id's), of the model's family."""
    return _family(path).processor_class.from_pretrained(str(path))


def process_state():
    """accelerate's state of this process: one of several under ``accelerate launch`` or ``torchrun``
    (on CPUs: with ``ACCELERATE_USE_CPU=true``, which ``Accelerator`` reads too), else the only one."""
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))


def inference_device() -> torch.device:
    """Where a loaded model runs: ``DEEVISUM_DEVICE`` if set, else this process's accelerator (its
    GPU under ``accelerate launch``), else the CPU."""
    if os.environ.get("DEEVISUM_DEVICE"):
        return torch.device(os.environ["DEEVISUM_DEVICE"])
    return process_state().device


def _from_pretrained(source: str, quantize_4bit: bool, compute_dtype: str, device: torch.device):
    """Weights loaded straight onto ``device`` (``device_map``: 4-bit layers are quantised there), as the
    class of the checkpoint's family."""
    kwargs: dict = {"dtype": getattr(torch, compute_dtype), "device_map": {"": device}, "attn_implementation": ATTENTION}
    if quantize_4bit:
        kwargs["quantization_config"] = quantization_config(compute_dtype)
    return family_of_source(source).model_class.from_pretrained(source, **kwargs)


@contextlib.contextmanager
def _peft_quietly() -> Iterator[None]:
    """peft still calls transformers' renamed gradient-checkpointing methods; that deprecation notice
    is about peft's code, not ours, and would otherwise be printed by every LoRA model load.

    peft (and the bitsandbytes it pulls in: ~4 s and 250 MB) is imported only where it is used, so
    loading a merged model, as ``deevisum summarize`` does, never pays for it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.* is deprecated", category=FutureWarning)
        yield


def apply_lora(model: torch.nn.Module, mp: ModelParams):
    """Wrap ``model`` with LoRA adapters on the language model's projections (vision tower frozen; the
    projector trained in full with ``mp.lora_projector``)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    config = LoraConfig(r=mp.lora_r, lora_alpha=mp.lora_alpha, lora_dropout=mp.lora_dropout,
                        target_modules=LORA_TARGETS, modules_to_save=[PROJECTOR] if mp.lora_projector else None)
    with _peft_quietly():
        if mp.quantize_4bit:
            import bitsandbytes as bnb

            model = prepare_model_for_kbit_training(model, gradient_checkpointing_kwargs={"use_reentrant": False})
            for module in model.modules():
                if isinstance(module, bnb.nn.Linear4bit):
                    # bitsandbytes repacks CPU 4-bit weights on the first eval forward, after which training
                    # forwards fail (in-place bias add on a leaf); validation between epochs must not do that.
                    module.support_avx512bf16_for_cpu = False
        return get_peft_model(model, config)


def build_tiny(arch: ArchParams, tokenizer_dir: str | Path, image_size: int, seed: int, family: Family = PALIGEMMA):
    """``arch`` with random weights under ``seed`` (same seed -> same weights) in ``family``'s architecture,
    and its processor."""
    if family is GEMMA3:  # Gemma 3's image markers, added to the toy vocabulary and named for its processor
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), extra_special_tokens=GEMMA3_IMAGE_TOKENS)
        tokenizer.add_tokens(list(GEMMA3_IMAGE_TOKENS.values()), special_tokens=True)
        processor = make_gemma3_processor(tokenizer, image_size, (image_size // arch.patch_size) ** 2)
        config = tiny_gemma3_config(arch, tokenizer, image_size)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        processor = make_processor(tokenizer, image_size, arch.patch_size)
        config = tiny_config(arch, tokenizer, image_size)
    torch.manual_seed(seed)
    model = family.model_class._from_config(config, attn_implementation=ATTENTION)
    return model, processor


def build_vlm(mp: ModelParams, arch: ArchParams | None, tokenizer_dir: str | Path, image_size: int, seed: int):
    """The model to train for one role, ready for its trainer, and its processor.

    ``tiny``: the role's architecture ``arch`` with random weights (:func:`build_tiny`). Otherwise
    ``from_pretrained`` of the checkpoint (4-bit when ``quantize_4bit``). ``lora_r > 0`` wraps it
    with LoRA; else all weights train.
    """
    if mp.source == "tiny":
        if mp.quantize_4bit or arch is None:
            raise ValueError("models: source 'tiny' needs its architecture and no quantize_4bit (pretrain it, then load it)")
        model, processor = build_tiny(arch, tokenizer_dir, image_size, seed)
    else:
        processor = load_processor(mp.source)
        model = _from_pretrained(mp.source, mp.quantize_4bit, mp.compute_dtype, inference_device())
    if mp.lora_r > 0:
        model = apply_lora(model, mp)
    return model, processor


def save_vlm(model, processor, out_dir: str | Path, mp: ModelParams) -> None:
    """Save for ``load_vlm``: merged full weights, or (4-bit) the adapter plus its base's name."""
    out_dir = Path(out_dir)
    is_peft = "peft" in sys.modules and isinstance(model, sys.modules["peft"].PeftModel)  # no peft loaded: not one
    if is_peft and mp.quantize_4bit:
        model.save_pretrained(str(out_dir))
        base = {"source": mp.source, "quantize_4bit": True, "compute_dtype": mp.compute_dtype}
        (out_dir / BASE_FILE).write_text(json.dumps(base, indent=2) + "\n", encoding="utf-8")
    else:
        if is_peft:
            model = model.merge_and_unload()
        model.save_pretrained(str(out_dir))
    # A fast tokenizer keeps the padding of its last padded call in its state and would save it:
    # clear it, so the saved files are the same whether or not this run trained (or resumed).
    processor.tokenizer.backend_tokenizer.no_padding()
    processor.save_pretrained(str(out_dir))


def load_vlm(path: str | Path, device: torch.device | str | None = None):
    """``(model, processor)`` from a directory written by ``save_vlm`` (or a downloaded checkpoint of either family),
    the model on ``device`` (default :func:`inference_device`)."""
    path = Path(path)
    device = torch.device(device) if device is not None else inference_device()
    if not (path / "config.json").is_file() and not (path / BASE_FILE).is_file():
        raise InputError(path, "not a saved model directory (run the stage that trains it first)")
    base_file = path / BASE_FILE
    if base_file.is_file():
        base = json.loads(base_file.read_text(encoding="utf-8"))
        model = _from_pretrained(base["source"], base["quantize_4bit"], base["compute_dtype"], device)
        from peft import PeftModel

        with _peft_quietly():
            model = PeftModel.from_pretrained(model, str(path))
    else:
        model = _family(path).model_class.from_pretrained(str(path), attn_implementation=ATTENTION).to(device)
    return model.eval(), load_processor(path)


def save_modalities(model_dir: str | Path, modalities: str) -> None:
    """Record next to a saved model which modalities its training prompts carried."""
    (Path(model_dir) / PROMPT_FILE).write_text(json.dumps({"modalities": modalities}) + "\n", encoding="utf-8")


def model_modalities(model_dir: str | Path) -> str:
    """The modalities a saved model was trained with (all of them when it does not say)."""
    spec = Path(model_dir) / PROMPT_FILE
    return json.loads(spec.read_text(encoding="utf-8"))["modalities"] if spec.is_file() else FULL
