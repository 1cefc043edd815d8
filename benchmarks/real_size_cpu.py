"""Real-size checks on the CPU: PaliGemma2-3B (random weights) through the pipeline's model code.

Builds the real architecture (SigLIP So400m, 224 px -> 256 image tokens; Gemma2-2B decoder, vocab
257216), attaches LoRA to the language model as the pipeline does (``vlm.apply_lora``), takes one
training step with gradient checkpointing on one segment (the trainer's loss), scores a segment in
one pass, checks that the early-exit runner with no exit equals the model's forward at the answer
position (two left-padded rows) and that row removal works (a batch of two, one row exits).
Writes seconds per step / segment, peak RSS and the sizes to benchmarks/results/real_size_cpu.json.
fp32 needs ~14 GiB of RAM (12.1 GB of weights); ``--dtype bfloat16`` about half.

    python benchmarks/real_size_cpu.py [--dtype float32] [--layers N] [--tiny] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import transformers

from deevisum.config import PromptsParams
from deevisum.io import write_json
from deevisum.scale import checks
from deevisum.scale.plan import GIB, Arch, Role, train_activations

RESULTS = Path(__file__).resolve().parent / "results"
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 5e-2}
"""Max |logit difference| allowed between the runner and the model's forward (logits capped at +-30)."""


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def planned_train_gib(config: transformers.PaliGemmaConfig, sizes: checks.Sizes, dtype: str, seq: int) -> float:
    """What ``deevisum.scale.plan`` predicts for this training step (one row, checkpointing)."""
    mp = dataclasses.replace(sizes.lora, compute_dtype=dtype)
    role = Role("student", mp, Arch.of(config, mp.lora_r))
    return (role.train_weights() + role.trainable()
            + train_activations(role.arch, seq, role.train_bytes, mp, checkpointing=True)) / GIB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--layers", type=int, help="decoder layers (default: the real 26); fewer to try the script")
    ap.add_argument("--tiny", action="store_true", help="toy sizes (what the tests run)")
    ap.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/real_size_cpu[_tiny].json)")
    args = ap.parse_args()
    sizes = checks.TINY if args.tiny else checks.REAL
    if args.layers:
        sizes = dataclasses.replace(sizes, student=dataclasses.replace(sizes.student, layers=args.layers))
    dtype, cpu = getattr(torch, args.dtype), torch.device("cpu")
    out_file = args.out or RESULTS / ("real_size_cpu_tiny.json" if args.tiny else "real_size_cpu.json")
    phases: list[dict[str, Any]] = []

    def phase(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = fn()
        phases.append({"phase": name, "seconds": time.perf_counter() - start, "peak_rss_gib": peak_rss_gib()})
        print(f"{name}: {phases[-1]['seconds']:.1f} s, peak RSS {phases[-1]['peak_rss_gib']:.2f} GiB", flush=True)
        return result

    prompts = checks.segment_prompts(2, PromptsParams())
    frames = checks.segment_frames(2, sizes.image_size)
    processor = checks.stand_in_processor(prompts, sizes.image_size, sizes.vision["patch_size"])
    model = phase("build", lambda: checks.build_model(sizes.student, sizes, processor, dtype, cpu))
    config = model.config
    model = phase("lora", lambda: checks.with_lora(model, sizes, cpu))
    step = phase("train_step", lambda: checks.train_step(model, processor, prompts[:1], frames[:1], cpu))
    scoring = phase("scoring", lambda: checks.scoring_rate(model, processor, prompts, frames, 1, cpu, repeats=1))
    exact = phase("exit_exactness", lambda: checks.exit_exactness(model, processor, prompts, frames, cpu))
    exit_layer = min(sizes.exit_layers[0], sizes.student.layers - 1)
    removal = phase("row_removal", lambda: checks.row_removal(model, processor, prompts, frames, exit_layer, cpu))

    tolerance = TOLERANCE[dtype]
    report = {
        "architecture": {"decoder": vars(sizes.student), "vision": sizes.vision, "image_size": sizes.image_size,
                         "image_tokens": config.text_config.num_image_tokens, "vocab": config.text_config.vocab_size,
                         "params": sum(p.numel() for p in model.parameters()),
                         "lora_params": sum(p.numel() for p in model.parameters() if p.requires_grad)},
        "dtype": args.dtype, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "load_average_1min_at_end": os.getloadavg()[0],  # other jobs on the machine slow the timings
        "train_step": {**step, "gradient_checkpointing": True, "rows": 1,
                       "plan_gib": planned_train_gib(config, sizes, args.dtype, step["seq"])},
        "scoring": {**scoring, "seconds_per_segment": scoring["seconds"] / scoring["batch"]},
        "exit_exactness": {**exact, "tolerance": tolerance, "ok": exact["full_depth"] and exact["max_abs_diff"] <= tolerance},
        "row_removal": {**removal, "tolerance": tolerance, "ok": removal["one_row_left"]
                        and max(removal["leaver_max_abs_diff"], removal["stayer_max_abs_diff"]) <= tolerance},
        "phases": phases, "peak_rss_gib": peak_rss_gib(),
    }
    write_json(out_file, report)
    print(f"wrote {out_file}: train step {step['seconds']:.1f} s, {report['scoring']['seconds_per_segment']:.1f} s/segment, "
          f"peak RSS {report['peak_rss_gib']:.2f} GiB, exactness {exact['max_abs_diff']:.2e}")


if __name__ == "__main__":
    main()
