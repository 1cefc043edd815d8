"""One-shot GPU check of the paper's sizes (random weights; under 8 minutes on one H100/H200).

PaliGemma2-3B in bf16 on the GPU: scoring segments/s at batch 1, 16, 64 (the scoring forward,
peak memory next to the plan's estimate), early exit (the runner with no exit equals the model's
forward; a batch of two where one row exits; speedup against the layer-count bound with random
heads whose thresholds let about half the rows leave at the first exit); then one 4-bit NF4
QLoRA training step of PaliGemma2-10B through the pipeline's own load path (save_vlm ->
build_vlm with quantize_4bit), its peak memory next to the plan's. Model, batches and exit
heads are placed on the device explicitly. ``--tiny`` (or no GPU) runs the same code at toy
sizes on the CPU. Writes JSON (default benchmarks/results/gpu_check.json, _tiny for --tiny).

    bash benchmarks/gpu_check.sh            # or: python benchmarks/gpu_check.py [--tiny] [--out FILE]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch
import transformers
from transformers import PaliGemmaConfig

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="toy sizes on the CPU (what the tests run)")
    ap.add_argument("--qlora-batch", type=int, default=4, help="rows of the QLoRA step (presets/paper.yaml: 4)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per measurement (after a warm-up)")
    ap.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/gpu_check[_tiny].json)")
    args = ap.parse_args()
    transformers.utils.logging.disable_progress_bar()
    tiny = args.tiny or not torch.cuda.is_available()
    sizes = checks.TINY if tiny else checks.REAL
    device = torch.device("cpu" if tiny else "cuda")
    out_file = args.out or RESULTS / ("gpu_check_tiny.json" if tiny else "gpu_check.json")
    start = time.perf_counter()

    n = max(sizes.batch_sizes)
    prompts = checks.segment_prompts(n, PromptsParams())
    frames = checks.segment_frames(n, sizes.image_size)
    processor = checks.stand_in_processor(prompts, sizes.image_size, sizes.vision["patch_size"])
    report: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
                    "tiny": tiny, "torch": torch.__version__, "transformers": transformers.__version__}

    model = checks.build_model(sizes.student, sizes, processor, torch.bfloat16, device)
    report["student"] = {"decoder": vars(sizes.student), "image_size": sizes.image_size, "dtype": "bfloat16",
                         "params": sum(p.numel() for p in model.parameters())}
    scoring = []
    for b in sizes.batch_sizes:
        rate = checks.scoring_rate(model, processor, prompts, frames, b, device, args.repeats)
        if "peak_gib" in rate:
            rate["plan_gib"] = planned_scoring_gib(model, rate["seq"], b)
        scoring.append(rate)
        print(f"scoring batch {b}: {rate['segments_per_s']:.1f} segments/s", flush=True)
    report["scoring"] = scoring
    report["exit_exactness"] = checks.exit_exactness(model, processor, prompts[:4], frames[:4], device)
    report["row_removal"] = checks.row_removal(model, processor, prompts, frames, sizes.exit_layers[0], device)
    ee = checks.exit_speedup(model, processor, prompts, frames, sizes.exit_layers, device, args.repeats)
    report["early_exit"] = ee
    print(f"early exit: {ee['mean_layers']:.2f} of {ee['depth']} layers, speedup {ee['speedup']:.2f}x, "
          f"layer bound {ee['layer_bound']:.2f}x", flush=True)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()

    rows = min(args.qlora_batch, n)
    with tempfile.TemporaryDirectory() as tmp:
        qlora = checks.qlora_step(sizes, processor, prompts[:rows], frames[:rows], Path(tmp), device)
    if "peak_gib" in qlora:
        config = checks.model_config(sizes.qlora, sizes, processor)
        qlora["plan_gib"] = planned_qlora_gib(sizes, config, qlora["seq"], rows)
    report["qlora_step"] = {"decoder": vars(sizes.qlora), **qlora}
    print(f"4-bit QLoRA step ({rows} rows): {qlora['seconds']:.2f} s, loss {qlora['loss']:.3f}", flush=True)
    report["total_seconds"] = time.perf_counter() - start
    write_json(out_file, report)
    print(f"wrote {out_file} ({report['total_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
