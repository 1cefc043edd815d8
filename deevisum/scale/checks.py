"""Checks of the pipeline's model code at the paper's sizes, on any device, with random weights.

The weights cannot be downloaded here, and what these checks need of them is only their shapes:
a PaliGemma2 built from its config, LoRA attached as the pipeline attaches it, a training step
through the trainer's loss, one-pass scoring, and early exit against the model's own forward.
``benchmarks/real_size_cpu.py`` runs them on PaliGemma2-3B on the CPU, ``benchmarks/gpu_check.py``
on one GPU (plus a 4-bit QLoRA step of the 10B), and the tests on :data:`TINY` sizes -- the same code.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import (
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    PaliGemmaProcessor,
)

from deevisum.config import ModelParams, PromptsParams
from deevisum.distill.trainer import KDConfig, batch_losses
from deevisum.early_exit.heads import ExitConfig, ExitHeads
from deevisum.early_exit.runner import EarlyExitRunner
from deevisum.early_exit.timing import interleaved_timing
from deevisum.models.scoring import answer_logits, answer_token_ids, build_batch
from deevisum.models.tokenizer import ANSWERS, train_tokenizer
from deevisum.models.vlm import ATTENTION, apply_lora, build_vlm, make_processor, save_vlm
from deevisum.scale.architectures import (
    GEMMA2,
    PALIGEMMA2_VOCAB,
    SIGLIP_SO400M,
    DecoderSize,
    VocabIds,
    paligemma2_config,
)
from deevisum.scale.plan import LONGEST_CUE, TITLE_WORDS

MEASURE = "gamma"
"""The paper's exit confidence, used by every check that exits."""


@dataclass(frozen=True)
class Sizes:
    """What the checks build: a student-size and a QLoRA-size PaliGemma2 and how they are driven."""

    student: DecoderSize
    qlora: DecoderSize
    vision: dict[str, int]
    image_size: int
    vocab: int | None
    """Embedding rows; None: the stand-in tokenizer's length."""
    exit_layers: list[int]
    batch_sizes: tuple[int, ...]
    lora: ModelParams = field(default_factory=lambda: ModelParams(lora_r=16, lora_alpha=32, lora_dropout=0.05))


REAL = Sizes(GEMMA2["3b"], GEMMA2["10b"], SIGLIP_SO400M, 224, PALIGEMMA2_VOCAB.size, [4, 8, 12], (1, 16, 64))
"""PaliGemma2-3B (checks) and -10B (QLoRA step) at 224 px, exits as in ``presets/paper.yaml``."""
TINY = Sizes(DecoderSize(4, 64, 128, 2, 1, 32, 32), DecoderSize(4, 128, 256, 2, 1, 64, 64),
             dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2, patch_size=8),
             32, None, [1, 2, 3], (1, 4), ModelParams(lora_r=4, lora_alpha=8, lora_dropout=0.05))
"""The same structure at toy sizes (widths multiples of 64: bitsandbytes' CPU 4-bit kernels need them)."""


def _word(*numbers: int) -> str:
    """A digit-free word per number tuple (digits would split on the tokenizer's answer tokens "1".."5")."""
    return "x".join("".join(chr(ord("a") + int(d)) for d in str(n)) for n in numbers)


def segment_prompts(n: int, prompts: PromptsParams) -> list[str]:
    """``n`` prompts from ``prompts.template`` as long as the plan assumes (TVSum's longest title, full
    speech, the longest cue), titles shortened by up to 4 words so a batch needs left padding."""
    return [prompts.template.format(category="DS", title=" ".join(_word(i, k) for k in range(TITLE_WORDS - i % 5)),
                                    speech=" ".join(_word(k) for k in range(prompts.max_speech_words)),
                                    audio=LONGEST_CUE) for i in range(n)]


def segment_frames(n: int, image_size: int, seed: int = 0) -> np.ndarray:
    """``n`` random RGB frames (uint8, as ``frames.h5`` holds them)."""
    return np.random.default_rng(seed).integers(0, 256, (n, image_size, image_size, 3), dtype=np.uint8)


def stand_in_processor(prompts: Sequence[str], image_size: int, patch_size: int) -> PaliGemmaProcessor:
    """PaliGemma's processor with a word-level tokenizer trained on ``prompts``: Gemma's tokenizer is not
    downloadable here, and random weights need only token ids that index the embedding."""
    return make_processor(train_tokenizer(prompts, vocab_size=10_000), image_size, patch_size)


def model_config(decoder: DecoderSize, sizes: Sizes, processor: PaliGemmaProcessor) -> PaliGemmaConfig:
    """The PaliGemma2 of ``decoder`` at ``sizes``, with the stand-in tokenizer's special ids."""
    return paligemma2_config(decoder, sizes.image_size, VocabIds.of(processor.tokenizer, sizes.vocab), sizes.vision)


def build_model(decoder: DecoderSize, sizes: Sizes, processor: PaliGemmaProcessor, dtype: torch.dtype,
                device: torch.device, seed: int = 0) -> PaliGemmaForConditionalGeneration:
    """A PaliGemma2 of ``decoder`` with seeded random weights, created directly on ``device`` in ``dtype``."""
    config = model_config(decoder, sizes, processor)
    torch.manual_seed(seed)
    with torch.device(device):
        model = PaliGemmaForConditionalGeneration._from_config(config, dtype=dtype, attn_implementation=ATTENTION)
    return model.eval()


def to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step(model: torch.nn.Module, processor: PaliGemmaProcessor, prompts: Sequence[str], images: np.ndarray,
               device: torch.device, lr: float = 1e-4) -> dict[str, float | bool]:
    """One AdamW step on the trainer's loss (``distill.trainer.batch_losses``, CE at the answer position).
    Reports its time, the loss, and whether gradients reached the LoRA adapters and nothing else."""
    answer_ids = answer_token_ids(processor.tokenizer)
    batch = to_device(build_batch(processor, prompts, images), device)
    targets = torch.zeros(len(prompts), len(ANSWERS))
    targets[:, len(ANSWERS) // 2] = 1.0
    batch["answer_targets"] = targets.to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    _sync(device)
    start = time.perf_counter()
    ce = batch_losses(model, batch, answer_ids, KDConfig())[0]
    loss = ce.mean()
    loss.backward()
    loss = loss.detach()
    optimizer.step()
    _sync(device)
    seconds = time.perf_counter() - start
    grads = [n for n, p in model.named_parameters() if p.grad is not None]
    optimizer.zero_grad(set_to_none=True)
    model.eval()
    return {"seconds": seconds, "seq": batch["input_ids"].shape[1], "loss": float(loss), "finite": bool(torch.isfinite(loss)),
            "lora_grads_only": bool(grads) and all("lora_" in n for n in grads)}


def with_lora(model: PaliGemmaForConditionalGeneration, sizes: Sizes, device: torch.device,
              checkpointing: bool = True) -> torch.nn.Module:
    """``model`` with the pipeline's LoRA (``vlm.apply_lora``: language model only), adapters on ``device``,
    with gradient checkpointing (non-reentrant, as the 4-bit path uses) when asked."""
    if checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    return apply_lora(model, sizes.lora).to(device)


@torch.no_grad()
def scoring_rate(model: torch.nn.Module, processor: PaliGemmaProcessor, prompts: Sequence[str], images: np.ndarray,
                 batch_size: int, device: torch.device, repeats: int = 3) -> dict[str, float]:
    """Segments per second of the scoring forward (``scoring.answer_logits``) on one pre-built batch on
    ``device``: the median of ``repeats`` timed passes after a warm-up; and the peak device memory."""
    answer_ids = answer_token_ids(processor.tokenizer)
    batch = to_device(build_batch(processor, prompts[:batch_size], images[:batch_size]), device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    timed = interleaved_timing({"score": lambda: answer_logits(model, batch, answer_ids).cpu()}, repeats)
    logits, times = timed["score"]
    out = {"batch": batch_size, "seq": batch["input_ids"].shape[1], "seconds": statistics.median(times),
           "segments_per_s": batch_size / statistics.median(times), "finite": bool(torch.isfinite(logits).all())}
    if device.type == "cuda":
        out["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out


def _exit_heads(hidden: int, exit_layers: list[int], device: torch.device, seed: int = 0) -> ExitHeads:
    torch.manual_seed(seed)
    return ExitHeads(ExitConfig(hidden, list(exit_layers), len(ANSWERS))).to(device).eval()


def exit_exactness(model: torch.nn.Module, processor: PaliGemmaProcessor, prompts: Sequence[str], images: np.ndarray,
                   device: torch.device) -> dict[str, float | bool]:
    """The runner with no exit against the model's own forward at the answer position (left-padded batch)."""
    answer_ids = answer_token_ids(processor.tokenizer)
    batch = to_device(build_batch(processor, prompts, images), device)
    runner = EarlyExitRunner(model, answer_ids)
    with torch.no_grad():
        reference = answer_logits(model, batch, answer_ids).cpu()
    out = runner.run(batch)
    return {"rows": len(prompts), "max_abs_diff": float((out.logits - reference).abs().max()),
            "full_depth": bool(out.layers.eq(runner.depth).all())}


def row_removal(model: torch.nn.Module, processor: PaliGemmaProcessor, prompts: Sequence[str], images: np.ndarray,
                exit_layer: int, device: torch.device) -> dict[str, float | int | bool]:
    """A batch of two where exactly one row exits after ``exit_layer``: that row takes its head's answer,
    the other, computed alone from there on, must match its full-depth answer in the batch of two."""
    answer_ids = answer_token_ids(processor.tokenizer)
    batch = to_device(build_batch(processor, prompts[:2], images[:2]), device)
    runner = EarlyExitRunner(model, answer_ids, _exit_heads(model.config.get_text_config().hidden_size, [exit_layer], device))
    states, full = runner.collect(batch)
    with torch.no_grad():
        head_logits, confidences = runner.heads.confidences(0, states[0].to(device))
    conf = confidences[MEASURE].float().cpu()
    leaver = int(conf.argmax())
    out = runner.run(batch, thresholds=[float(conf.mean())], measure=MEASURE)
    stayer = 1 - leaver
    return {
        "exit_layer": exit_layer,
        "leaver_layers": int(out.layers[leaver]),
        "stayer_layers": int(out.layers[stayer]),
        "leaver_max_abs_diff": float((out.logits[leaver] - head_logits[leaver].float().cpu()).abs().max()),
        "stayer_max_abs_diff": float((out.logits[stayer] - full[stayer]).abs().max()),
        "one_row_left": int(out.layers[leaver]) == exit_layer and int(out.layers[stayer]) == runner.depth,
    }


def exit_speedup(model: torch.nn.Module, processor: PaliGemmaProcessor, prompts: Sequence[str], images: np.ndarray,
                 exit_layers: list[int], device: torch.device, repeats: int = 3) -> dict[str, float]:
    """Early exit's measured speedup against its layer-count bound. Random heads; every exit's threshold
    is the median confidence there, so about half the rows leave at the first exit and some later.
    Speedup: median over round-robin rounds of full-depth time / early-exit time on the same batch."""
    answer_ids = answer_token_ids(processor.tokenizer)
    batch = to_device(build_batch(processor, prompts, images), device)
    runner = EarlyExitRunner(model, answer_ids, _exit_heads(model.config.get_text_config().hidden_size, exit_layers, device))
    states, _ = runner.collect(batch)
    with torch.no_grad():
        thresholds = [float(runner.heads.confidences(k, s.to(device))[1][MEASURE].float().median())
                      for k, s in enumerate(states)]
    timed = interleaved_timing({"full": lambda: runner.run(batch),
                                "exit": lambda: runner.run(batch, thresholds=thresholds, measure=MEASURE)}, repeats)
    (_, full_times), (out, exit_times) = timed["full"], timed["exit"]
    mean_layers = float(out.layers.float().mean())
    speedup = statistics.median(f / e for f, e in zip(full_times, exit_times))
    bound = runner.depth / mean_layers
    return {"rows": len(prompts), "depth": runner.depth, "exit_layers": list(exit_layers), "thresholds": thresholds,
            "mean_layers": mean_layers, "layer_bound": bound, "speedup": speedup, "speedup_over_bound": speedup / bound,
            "full_seconds": statistics.median(full_times), "exit_seconds": statistics.median(exit_times)}


def qlora_step(sizes: Sizes, processor: PaliGemmaProcessor, prompts: Sequence[str], images: np.ndarray,
               workdir: Path, device: torch.device) -> dict[str, float | bool | int]:
    """One 4-bit QLoRA training step of a ``sizes.qlora`` PaliGemma2 through the pipeline's own path: a
    random bf16 checkpoint saved with ``save_vlm``, loaded by ``build_vlm`` in NF4 (bf16 compute) with
    LoRA and gradient checkpointing, then a ``train_step``."""
    import bitsandbytes as bnb  # imported where used, as in deevisum.models.vlm (seconds, hundreds of MB)

    base = workdir / "qlora_base"
    start = time.perf_counter()
    save_vlm(build_model(sizes.qlora, sizes, processor, torch.bfloat16, device), processor, base, ModelParams())
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    saved = time.perf_counter()
    mp = ModelParams(source=str(base), quantize_4bit=True, compute_dtype="bfloat16", lora_r=sizes.lora.lora_r,
                     lora_alpha=sizes.lora.lora_alpha, lora_dropout=sizes.lora.lora_dropout)
    model, _ = build_vlm(mp, None, base, sizes.image_size, seed=0)  # a checkpoint: no architecture needed
    loaded = time.perf_counter()
    step = train_step(model, processor, prompts, images, device)
    out = {"save_seconds": saved - start, "load_4bit_seconds": loaded - saved, "batch": len(prompts),
           "layers_4bit": sum(isinstance(m, bnb.nn.Linear4bit) for m in model.modules()), **step}
    if device.type == "cuda":
        out["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out
