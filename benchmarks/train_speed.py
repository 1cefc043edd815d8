"""Training throughput of each role's architecture, before and after the training-speed work, in one run.

A training step is what the trainer does per batch: the batch's inputs, the forward pass with the
CE loss at the answer position, the backward pass, gradient clipping and the AdamW step (the
validation pass and the per-epoch checkpoint are not in it).

- before (the trainer at a2c5088): the processor tokenises and preprocesses every batch
  (``build_batch``), batch 16, float32, one process using torch's default threads (every core);
- after (the trainer now): prompts tokenised once (``EncodedPrompts``), the pipeline's batch size,
  bfloat16 autocast (``train.mixed_precision``), one thread per process and one process per core
  side by side (``deevisum.distill.parallel``): the total is the sum over the processes.

Examples are the demo's processed examples with the pipeline's tokenizer when they exist, else
synthetic prompts of the same template and length. Writes benchmarks/results/train_speed.json.

    python benchmarks/train_speed.py [--tiny] [--steps 60] [--out FILE]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from common import REPO, TINY_ARCH, pipeline_paths, synthetic_segments

from deevisum.config import ArchParams, load_params
from deevisum.io import worker_count, write_json

RESULTS = REPO / "benchmarks" / "results"
BEFORE_BATCH = 16
"""``train.batch_size`` at a2c5088."""


@dataclass(frozen=True)
class Setting:
    arch: ArchParams
    tokenizer: Path
    examples: Path | None
    """The demo's examples.jsonl (None: synthetic prompts)."""
    frames: Path | None
    image_size: int
    batch: int
    encode_once: bool
    bf16: bool
    steps: int


def _inputs(s: Setting, n: int) -> tuple[list[str], np.ndarray]:
    from deevisum.data.examples import read_examples
    from deevisum.data.frames_store import load_example_frames

    if s.examples is not None:
        rows = read_examples(s.examples)[:n]
        return [r["prompt"] for r in rows], load_example_frames(s.frames, rows)
    return synthetic_segments(n, s.image_size)


def examples_per_second(s: Setting) -> float:
    """Training steps on ``s``'s architecture (random weights), timed after one warm-up step."""
    import torch

    from deevisum.distill.trainer import KDConfig, batch_losses
    from deevisum.models.scoring import EncodedPrompts, answer_token_ids, build_batch
    from deevisum.models.vlm import build_tiny

    model, processor = build_tiny(s.arch, s.tokenizer, s.image_size, seed=0)
    model.train()
    ids = answer_token_ids(processor.tokenizer)
    prompts, images = _inputs(s, s.batch * (s.steps + 1))  # fewer when the demo has fewer: batches cycle through them
    encoded = EncodedPrompts.of(processor, prompts, images) if s.encode_once else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    targets = torch.full((s.batch, 5), 0.2)

    def step(i: int) -> None:
        rows = [r % len(prompts) for r in range(i * s.batch, (i + 1) * s.batch)]
        batch = encoded.batch(rows, images[rows]) if encoded else build_batch(processor, [prompts[r] for r in rows], images[rows])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=s.bf16):
            ce = batch_losses(model, batch | {"answer_targets": targets}, ids, KDConfig())[0]
        ce.mean().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()

    step(0)
    start = time.perf_counter()
    for i in range(1, s.steps + 1):
        step(i)
    return s.steps * s.batch / (time.perf_counter() - start)


def main() -> None:
    import torch

    from deevisum.distill.parallel import run_in_parallel
    from deevisum.models.tokenizer import train_tokenizer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="2-layer architectures on synthetic prompts (the test suite's run)")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    p = load_params(REPO / "params.yaml")
    paths = pipeline_paths()
    examples, frames, tokenizer = (REPO / paths[k] for k in ("examples", "frames", "tokenizer"))
    real = not args.tiny and examples.is_file() and (tokenizer / "tokenizer.json").is_file()
    roles = {"tiny": TINY_ARCH} if args.tiny else {r: getattr(p.pretrain, r) for r in ("teacher", "mentor", "student")}
    with tempfile.TemporaryDirectory() as tmp:
        if not real:
            tokenizer = Path(tmp) / "tokenizer"
            train_tokenizer(synthetic_segments(200, p.frames.image_size)[0], p.tokenizer.vocab_size).save_pretrained(str(tokenizer))
        workers = worker_count()
        report = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": workers, "torch": torch.__version__},
                  "inputs": "demo examples" if real else "synthetic prompts", "steps": args.steps, "roles": {}}
        for role, arch in roles.items():
            base = Setting(arch, tokenizer, examples if real else None, frames if real else None, p.frames.image_size,
                           BEFORE_BATCH, encode_once=False, bf16=False, steps=args.steps)
            before = examples_per_second(base)  # this process: torch's default threads
            after = replace(base, batch=p.pretrain.batch_size, encode_once=True, bf16=p.train.mixed_precision == "bf16")
            each = run_in_parallel(examples_per_second, [after] * workers, f"{role} after")
            report["roles"][role] = {
                "before": {"examples_per_s": before, "batch": BEFORE_BATCH, "threads": torch.get_num_threads(), "processes": 1},
                "after": {"examples_per_s": sum(each), "per_process": each, "batch": after.batch, "threads": 1,
                          "processes": workers, "bf16": after.bf16},
                "speedup": sum(each) / before,
            }
            print(f"{role}: before {before:.0f} ex/s, after {sum(each):.0f} ex/s ({workers} x 1 thread): "
                  f"{sum(each) / before:.2f}x")
    out = args.out or RESULTS / ("train_speed_tiny.json" if args.tiny else "train_speed.json")
    write_json(out, report)


if __name__ == "__main__":
    main()
