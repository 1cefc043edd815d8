"""Benchmark: does early exit save the time the skipped layers cost?

A PaliGemma2-architecture model whose decoder dominates the cost (Gemma2, width 1024, 16
layers, alternating sliding/full attention, soft-capping; random weights), 256 image tokens as
at 224 px plus ~64 text tokens, fp32 on CPU. Every row is forced to exit after k layers
(threshold -1 with a head at layer k) and timed against full depth in the same run
(round-robin rounds after a warm-up, median of the paired ratios). The layer-count bound of
the speedup is depth / k; the target is speedup >= 0.9 x bound. Before timing, the runner's
full-depth answer logits are checked against the model's own forward.

    python benchmarks/early_exit_speed.py [--batch 4] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration

from deevisum.early_exit.heads import ExitConfig, ExitHeads
from deevisum.early_exit.runner import EarlyExitRunner
from deevisum.early_exit.timing import interleaved_timing
from deevisum.models.scoring import answer_logits

VOCAB = 32000
IMAGE_TOKEN = VOCAB - 1
ANSWERS = [100, 101, 102, 103, 104]


def build_model(width: int, depth: int, image_size: int, patch: int) -> PaliGemmaForConditionalGeneration:
    """Random-weight PaliGemma2 layout; a 1-layer narrow SigLIP keeps the vision tower cheap."""
    heads = width // 128
    config = PaliGemmaConfig(
        text_config=dict(
            model_type="gemma2", vocab_size=VOCAB, hidden_size=width, intermediate_size=4 * width,
            num_hidden_layers=depth, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), head_dim=128,
            query_pre_attn_scalar=128, sliding_window=128, final_logit_softcapping=30.0, attn_logit_softcapping=50.0,
        ),
        vision_config=dict(
            model_type="siglip_vision_model", hidden_size=64, intermediate_size=128, num_hidden_layers=1,
            num_attention_heads=1, image_size=image_size, patch_size=patch,
        ),
        image_token_id=IMAGE_TOKEN, projection_dim=width, hidden_size=width,
    )
    torch.manual_seed(0)
    return PaliGemmaForConditionalGeneration(config).eval()


def make_inputs(batch: int, n_image: int, n_text: int, image_size: int) -> dict[str, torch.Tensor]:
    """The scoring convention: prefix only (image tokens, text), answer at the last position."""
    g = torch.Generator().manual_seed(0)
    text = torch.randint(200, IMAGE_TOKEN, (batch, n_text), generator=g)
    ids = torch.cat([torch.full((batch, n_image), IMAGE_TOKEN), text], dim=1)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "token_type_ids": torch.zeros_like(ids),
        "pixel_values": torch.randn(batch, 3, image_size, image_size, generator=g),
        "position_ids": torch.arange(1, ids.shape[1] + 1).expand(batch, -1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--text-tokens", type=int, default=64)
    ap.add_argument("--exits", type=int, nargs="+", default=[4, 8, 12])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: immune to other load); 0 = default")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    image_size, patch = 224, 14  # (224 / 14)^2 = 256 image tokens, as PaliGemma2 at 224 px
    model = build_model(args.width, args.depth, image_size, patch)
    inputs = make_inputs(args.batch, (image_size // patch) ** 2, args.text_tokens, image_size)
    seq = inputs["input_ids"].shape[1]
    print(f"Gemma2 decoder width {args.width}, {args.depth} layers; batch {args.batch} x {seq} tokens; "
          f"{torch.get_num_threads()} threads, fp32 CPU", flush=True)

    runners = {
        k: EarlyExitRunner(model, ANSWERS, ExitHeads(ExitConfig(args.width, [k], len(ANSWERS))).eval()) for k in args.exits
    }
    full_runner = EarlyExitRunner(model, ANSWERS)

    start = time.perf_counter()
    with torch.no_grad():
        reference = answer_logits(model, dict(inputs), ANSWERS)
    assert torch.allclose(full_runner.run(inputs).logits, reference, atol=1e-3), "runner at full depth differs from the model"
    fns = {"full": lambda: full_runner.run(inputs)}
    fns.update({k: (lambda r=r: r.run(inputs, threshold=-1.0)) for k, r in runners.items()})
    timed = interleaved_timing(fns, args.repeats)
    full_times = timed["full"][1]
    print(f"full depth: {statistics.median(full_times):.3f} s/batch (runner logits == model forward)")
    print(f"{'exit after':>10} {'skipped':>8} {'time s':>8} {'speedup':>8} {'bound':>6} {'ratio':>6}")
    worst = float("inf")
    for k in args.exits:
        out, times = timed[k]
        assert out.layers.eq(k).all()
        speedup = statistics.median(f / t for f, t in zip(full_times, times))
        bound = args.depth / k
        worst = min(worst, speedup / bound)
        print(f"{k:>10} {1 - k / args.depth:>8.0%} {statistics.median(times):>8.3f} {speedup:>8.2f} {bound:>6.2f} {speedup / bound:>6.2f}")
    print(f"worst speedup / layer-count bound: {worst:.2f} (target >= 0.90); total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
