"""PaliGemma-family VLMs: build (tiny, from config), load (HF id / local path, 4-bit), LoRA, save.

One code path for the offline default and the paper's setup: a role's ``source`` is an HF id or a
local directory loaded with ``from_pretrained`` (optionally 4-bit NF4 with bitsandbytes, the QLoRA
setting); the demo's are the pretrain stage's checkpoints of tiny PaliGemma2 (SigLIP + Gemma2)
architectures built from config (:func:`build_tiny`, with a tokenizer trained on the pretraining
prompts). ``tiny`` starts a role from its architecture's random weights instead.
The HF token, when a gated checkpoint needs one, is read by huggingface_hub from ``HF_TOKEN``.

A saved model directory (``models/<name>/``) holds ``model.safetensors`` + ``config.json`` +
the processor files, or, for a 4-bit QLoRA model that cannot be merged losslessly, the peft
adapter (``adapter_model.safetensors``) plus ``deevisum_base.json`` naming the base checkpoint.
``load_vlm(path)`` reads either and returns ``(model, processor)`` in eval mode; the model is a
plain ``PaliGemmaForConditionalGeneration`` (decoder layers at
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
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    PaliGemmaProcessor,
    PreTrainedTokenizerBase,
    SiglipImageProcessorPil,
    SiglipVisionConfig,
)
from transformers.models.paligemma.processing_paligemma import IMAGE_TOKEN

from deevisum.config import ArchParams, ModelParams
from deevisum.data.prompts import FULL
from deevisum.io import InputError

LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
"""LoRA goes on the language model only: a bare ``q_proj`` would also match the SigLIP tower."""
BASE_FILE = "deevisum_base.json"
PROMPT_FILE = "prompt.json"
"""Which modalities the model's prompts carried in training (``data.prompts.MODALITY_FIELDS``)."""
ATTENTION = {"text_config": "eager"}
"""Gemma2's attention logit soft-capping runs only in eager attention: transformers 5.24 picks eager for it by
itself, 5.17 (the GPU machine's) would pick sdpa and drop the capping. SigLIP keeps the default (sdpa)."""


def make_processor(tokenizer: PreTrainedTokenizerBase, image_size: int, patch_size: int) -> PaliGemmaProcessor:
    """A processor for a tiny model: SigLIP preprocessing at ``image_size`` with (size/patch)^2 image tokens."""
    image_processor = SiglipImageProcessorPil(
        size={"height": image_size, "width": image_size},
        image_seq_length=(image_size // patch_size) ** 2,
    )
    return PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)


def tiny_config(mp: ArchParams, tokenizer: PreTrainedTokenizerBase, image_size: int) -> PaliGemmaConfig:
    """PaliGemma2 architecture at toy sizes (vision heads of width 32, MLPs 4x wide in SigLIP)."""
    head_dim = mp.hidden_size // mp.num_heads
    text = Gemma2Config(
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
    vision = SiglipVisionConfig(
        hidden_size=mp.vision_hidden_size,
        intermediate_size=4 * mp.vision_hidden_size,
        num_hidden_layers=mp.vision_layers,
        num_attention_heads=max(1, mp.vision_hidden_size // 32),
        image_size=image_size,
        patch_size=mp.patch_size,
        vision_use_head=False,  # as in PaliGemma: every patch token goes to the projector, no pooling head
    )
    return PaliGemmaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        projection_dim=mp.hidden_size,
        hidden_size=mp.hidden_size,
        vocab_size=len(tokenizer),
    )


def quantization_config(compute_dtype: str) -> BitsAndBytesConfig:
    """4-bit NF4 weights; matmuls run in ``compute_dtype`` (QLoRA)."""
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=getattr(torch, compute_dtype),
    )


def load_processor(path: str | Path) -> PaliGemmaProcessor:
    """The processor saved next to a model (or an HF id's)."""
    return PaliGemmaProcessor.from_pretrained(str(path))


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


def _from_pretrained(source: str, quantize_4bit: bool, compute_dtype: str, device: torch.device) -> PaliGemmaForConditionalGeneration:
    """Weights loaded straight onto ``device`` (``device_map``: 4-bit layers are quantised there)."""
    kwargs: dict = {"dtype": getattr(torch, compute_dtype), "device_map": {"": device}, "attn_implementation": ATTENTION}
    if quantize_4bit:
        kwargs["quantization_config"] = quantization_config(compute_dtype)
    return PaliGemmaForConditionalGeneration.from_pretrained(source, **kwargs)


@contextlib.contextmanager
def _peft_quietly() -> Iterator[None]:
    """peft still calls transformers' renamed gradient-checkpointing methods; that deprecation notice
    is about peft's code, not ours, and would otherwise be printed by every LoRA model load.

    peft (and the bitsandbytes it pulls in: ~4 s and 250 MB) is imported only where it is used, so
    loading a merged model, as ``deevisum summarize`` does, never pays for it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.* is deprecated", category=FutureWarning)
        yield


def apply_lora(model: PaliGemmaForConditionalGeneration, mp: ModelParams):
    """Wrap ``model`` with LoRA adapters on the language model's projections (vision tower frozen)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    config = LoraConfig(r=mp.lora_r, lora_alpha=mp.lora_alpha, lora_dropout=mp.lora_dropout,
                        target_modules=LORA_TARGETS)
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


def build_tiny(arch: ArchParams, tokenizer_dir: str | Path, image_size: int, seed: int):
    """``arch`` with random weights under ``seed`` (same seed -> same weights), and its processor."""
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    processor = make_processor(tokenizer, image_size, arch.patch_size)
    torch.manual_seed(seed)
    model = PaliGemmaForConditionalGeneration._from_config(tiny_config(arch, tokenizer, image_size),
                                                           attn_implementation=ATTENTION)
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


def save_vlm(model, processor: PaliGemmaProcessor, out_dir: str | Path, mp: ModelParams) -> None:
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
    """``(model, processor)`` from a directory written by ``save_vlm`` (or a downloaded PaliGemma),
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
        model = PaliGemmaForConditionalGeneration.from_pretrained(str(path), attn_implementation=ATTENTION).to(device)
    return model.eval(), load_processor(path)


def save_modalities(model_dir: str | Path, modalities: str) -> None:
    """Record next to a saved model which modalities its training prompts carried."""
    (Path(model_dir) / PROMPT_FILE).write_text(json.dumps({"modalities": modalities}) + "\n", encoding="utf-8")


def model_modalities(model_dir: str | Path) -> str:
    """The modalities a saved model was trained with (all of them when it does not say)."""
    spec = Path(model_dir) / PROMPT_FILE
    return json.loads(spec.read_text(encoding="utf-8"))["modalities"] if spec.is_file() else FULL
