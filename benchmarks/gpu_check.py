"""One-shot GPU check of the paper's sizes (random weights), in two parts that run and report apart.

``scoring``: PaliGemma2-3B in bf16 on the GPU: scoring segments/s at batch 1, 16, 64 (the scoring
forward, peak memory next to the plan's estimate), early exit (the runner with no exit equals the
model's forward; a batch of two where one row exits; speedup against the layer-count bound with
random heads whose thresholds let about half the rows leave at the first exit).
``qlora``: one 4-bit NF4 QLoRA training step of PaliGemma2-10B through the pipeline's own load path
(save_vlm -> build_vlm with quantize_4bit), its peak memory next to the plan's.
Model, batches and exit heads are placed on the device explicitly. ``--tiny`` (or no GPU) runs the
same code at toy sizes on the CPU. Each part writes ``gpu_check_<part>[_tiny].json`` into ``--out-dir``,
after every measurement, so a part stopped by its time limit keeps what it measured.

    bash benchmarks/gpu_check.sh            # both parts; or: python benchmarks/gpu_check.py PART [--tiny]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from transformers import PaliGemmaConfig, PaliGemmaProcessor

from deevisum.config import ModelParams, PromptsParams
from deevisum.io import write_json
from deevisum.scale import checks
from deevisum.scale.plan import (
    GIB,
    Arch,
    Role,
    inference_activations,
    train_activations,
)

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("torch", "transformers", "tokenizers", "accelerate", "peft", "bitsandbytes")
"""Whose versions each report records (the GPU machine's image differs from requirements.txt)."""


def planned_scoring_gib(model: torch.nn.Module, seq: int, batch: int) -> float:
    """The plan's estimate for the scoring forward of ``model`` (bf16 weights, key/value cache built)."""
    role = Role("student", ModelParams(compute_dtype="bfloat16"), Arch.of(model.config, 0))
    return (role.saved_weights() + batch * inference_activations(role.arch, seq, 2, kv_cache=True)) / GIB


def planned_qlora_gib(sizes: checks.Sizes, config: PaliGemmaConfig, seq: int, batch: int) -> float:
    """The plan's estimate for a 4-bit QLoRA training step (gradient checkpointing, fp32 stream)."""
    mp = ModelParams(quantize_4bit=True, compute_dtype="bfloat16", lora_r=sizes.lora.lora_r,
                     lora_dropout=sizes.lora.lora_dropout)
    role = Role("teacher", mp, Arch.of(config, mp.lora_r))
    act = batch * train_activations(role.arch, seq, role.train_bytes, mp, checkpointing=True)
    return (role.train_weights() + role.trainable() + act) / GIB


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


class Report(dict):
    """The part's JSON, rewritten after every measurement (a part killed at its time limit keeps the rest)."""

    def __init__(self, path: Path, **fields: Any) -> None:
        super().__init__(fields)
        self.path = path

    def record(self, key: str, value: Any) -> None:
        self[key] = value
        write_json(self.path, self)


def scoring_part(report: Report, sizes: checks.Sizes, processor: PaliGemmaProcessor, prompts: list[str],
                 frames: np.ndarray, device: torch.device, repeats: int) -> None:
    """PaliGemma2-3B (student size) in bf16: scoring rate per batch size, then the early-exit checks."""
    model = checks.build_model(sizes.student, sizes, processor, torch.bfloat16, device)
    report.record("student", {"decoder": vars(sizes.student), "image_size": sizes.image_size, "dtype": "bfloat16",
                              "attention": model.config.text_config._attn_implementation,
                              "params": sum(p.numel() for p in model.parameters())})
    scoring = []
    for b in sizes.batch_sizes:
        rate = checks.scoring_rate(model, processor, prompts, frames, b, device, repeats)
        if "peak_gib" in rate:
            rate["plan_gib"] = planned_scoring_gib(model, rate["seq"], b)
        scoring.append(rate)
        report.record("scoring", scoring)
        print(f"scoring batch {b}: {rate['segments_per_s']:.1f} segments/s", flush=True)
    report.record("exit_exactness", checks.exit_exactness(model, processor, prompts[:4], frames[:4], device))
    report.record("row_removal", checks.row_removal(model, processor, prompts, frames, sizes.exit_layers[0], device))
    ee = checks.exit_speedup(model, processor, prompts, frames, sizes.exit_layers, device, repeats)
    report.record("early_exit", ee)
    print(f"early exit: {ee['mean_layers']:.2f} of {ee['depth']} layers, speedup {ee['speedup']:.2f}x, "
          f"layer bound {ee['layer_bound']:.2f}x", flush=True)


def qlora_part(report: Report, sizes: checks.Sizes, processor: PaliGemmaProcessor, prompts: list[str],
               frames: np.ndarray, device: torch.device) -> None:
    """One 4-bit QLoRA step of PaliGemma2-10B, its checkpoint saved and reloaded in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        qlora = checks.qlora_step(sizes, processor, prompts, frames, Path(tmp), device)
    if "peak_gib" in qlora:
        config = checks.model_config(sizes.qlora, sizes, processor)
        qlora["plan_gib"] = planned_qlora_gib(sizes, config, qlora["seq"], len(prompts))
    report.record("qlora_step", {"decoder": vars(sizes.qlora), **qlora})
    print(f"4-bit QLoRA step ({len(prompts)} rows): {qlora['seconds']:.2f} s, loss {qlora['loss']:.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=("scoring", "qlora"))
    ap.add_argument("--tiny", action="store_true", help="toy sizes on the CPU (what the tests run)")
    ap.add_argument("--qlora-batch", type=int, default=4, help="rows of the QLoRA step (presets/paper.yaml: 4)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per measurement (after a warm-up)")
    ap.add_argument("--out-dir", type=Path, default=RESULTS, help="where the JSON goes (default benchmarks/results)")
    ap.add_argument("--skipped", metavar="REASON", help="only record that the part was skipped, and why")
    args = ap.parse_args()
    transformers.utils.logging.disable_progress_bar()
    tiny = args.tiny or not torch.cuda.is_available()
    sizes = checks.TINY if tiny else checks.REAL
    device = torch.device("cpu" if tiny else "cuda")
    start = time.perf_counter()
    report = Report(args.out_dir / f"gpu_check_{args.part}{'_tiny' if tiny else ''}.json", part=args.part,
                    device=torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
                    cuda=torch.version.cuda, tiny=tiny, versions={p: _version(p) for p in PACKAGES})
    if args.skipped:
        report.record("skipped", args.skipped)
        return

    n = max(sizes.batch_sizes)
    prompts = checks.segment_prompts(n, PromptsParams())
    frames = checks.segment_frames(n, sizes.image_size)
    processor = checks.stand_in_processor(prompts, sizes.image_size, sizes.vision["patch_size"])
    if args.part == "scoring":
        scoring_part(report, sizes, processor, prompts, frames, device, args.repeats)
    else:
        rows = min(args.qlora_batch, n)
        qlora_part(report, sizes, processor, prompts[:rows], frames[:rows], device)
    report.record("seconds", time.perf_counter() - start)
    print(f"wrote {report.path} ({report['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
