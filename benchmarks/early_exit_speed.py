"""Benchmark: early exit's wall time as users meet it, at the demo student and at PaliGemma2-3B.

For each architecture (random weights, fp32, CPU, torch threads = cores) and each batch size,
the early-exit runner scores one batch of segments in round-robin rounds after a warm-up
(``timing.interleaved_timing``: every setting once per round, so load hits all alike):

- ``full``: full depth, no heads (what scoring costs without early exit);
- ``exit_<k>``: every row leaves after layer k (heads evaluated), the best case of that exit;
- ``measured``: the exit distribution the evaluate stage measured (``plots/exit_hist.csv``),
  mapped to the architecture's depth at the same relative depth, rows assigned by largest
  remainder and shuffled, leaving mid-batch as they do in the pipeline. At batch 1 a segment runs
  alone, so it is the mixture of the ``exit_<k>`` and ``full`` passes weighted by the
  distribution (per round: the expected time of a segment);
- ``oracle_at_target``: the same replay of the oracle at the target agreement's distribution (the histogram's
  ``oracle_at_target_fraction``): the cheapest exits any confidence could choose for these heads, so the most
  early exit can give at that agreement on this machine;
- ``vision``: the vision tower and projector alone (it runs whatever the exit).

Per setting: p50 / p95 batch latency over rounds, throughput (segments/s at p50), the speedup
(median over rounds of the paired ratio full / setting, 95% bootstrap CI over rounds), the
layer bound (depth / mean decoder layers run) and speedup / bound, and the same against the bound
that counts the vision tower's time (it never exits); and the vision tower's share of the
full-depth and of the measured-exit time. The runner's full-depth logits are checked
against the model's own forward first. Each run replaces its models' entries in the JSON.

    python benchmarks/early_exit_speed.py [--models demo paligemma2_3b] [--batches 1 16 128]
        [--repeats 10] [--outputs .] [--hist plots/exit_hist.csv] [--tiny] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import REPO, pipeline_paths, shown_path, synthetic_segments

from deevisum.config import PromptsParams, load_params
from deevisum.early_exit.heads import ExitConfig, ExitHeads
from deevisum.early_exit.runner import EarlyExitRunner
from deevisum.early_exit.timing import ORACLE_AT_TARGET, interleaved_timing, ratio_ci
from deevisum.io import worker_count, write_json
from deevisum.models.scoring import answer_logits, answer_token_ids, build_batch
from deevisum.models.tokenizer import ANSWERS

RESULTS = REPO / "benchmarks" / "results"
MODELS = ("demo", "paligemma2_3b")


@dataclass
class Subject:
    """An architecture to time: the model, its processor, inputs to slice batches from, its exits."""

    label: str
    model: torch.nn.Module
    processor: Any
    prompts: list[str]
    images: np.ndarray
    head_dim: int
    exit_layers: list[int] = field(default_factory=list)
    """Set once the model's depth is known: where heads sit."""


REPLAYED = {"measured": "fraction", "oracle_at_target": ORACLE_AT_TARGET}
"""Settings replaying an exit distribution, and the exit histogram's column each reads."""


def read_distributions(path: Path) -> tuple[int, dict[str, dict[int, float]]]:
    """(depth, {setting: {layers run: fraction of rows}}) from an exit histogram CSV (``timing.exit_histogram``)."""
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, dict[int, float]] = {}
    for name, column in REPLAYED.items():
        try:
            fractions = {int(r["layers"]): float(r[column]) for r in rows}
        except (KeyError, TypeError, ValueError):
            fractions = {}
        if not fractions or abs(sum(fractions.values()) - 1) > 1e-6:
            raise SystemExit(f"{path}: not an exit histogram with a {column} column summing to 1 "
                             "(written by an older evaluate stage? re-run `dvc repro evaluate`)")
        out[name] = {k: f for k, f in fractions.items() if f > 0}
    return max(int(r["layers"]) for r in rows), out


def mapped(distribution: Mapping[int, float], depth_from: int, depth_to: int) -> dict[int, float]:
    """The distribution moved to a decoder of ``depth_to`` layers at the same relative depth (full stays full)."""
    out: dict[int, float] = {}
    for k, f in distribution.items():
        layer = depth_to if k == depth_from else min(depth_to - 1, max(1, round(k * depth_to / depth_from)))
        out[layer] = out.get(layer, 0.0) + f
    return out


def assign(distribution: Mapping[int, float], n: int, seed: int = 0) -> torch.Tensor:
    """(n,) layers run per row: counts by largest remainder, in a seeded random order."""
    layers, fractions = zip(*sorted(distribution.items()))
    exact = np.asarray(fractions) * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact)[: n - counts.sum()]] += 1
    rows = np.repeat(layers, counts)
    return torch.as_tensor(np.random.default_rng(seed).permutation(rows), dtype=torch.long)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> list[float]:
    """Quantiles of a weighted sample (the lowest value whose cumulative weight reaches q)."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    return [float(values[order][np.searchsorted(cumulative, q - 1e-12)]) for q in qs]


def summary(times: np.ndarray, weights: np.ndarray, per_round: np.ndarray, full: np.ndarray, batch: int,
            mean_layers: float, depth: int) -> dict[str, Any]:
    """Latency quantiles, throughput, the paired speedup with its CI and the layer bound of one setting."""
    p50, p95 = weighted_quantiles(times, weights, (0.5, 0.95))
    speedup = ratio_ci(full, per_round)
    bound = depth / mean_layers
    return {"latency_p50_s": p50, "latency_p95_s": p95, "segments_per_s": batch / float(np.median(per_round)),
            "speedup": speedup, "mean_layers": mean_layers, "layer_bound": bound, "speedup_over_bound": speedup["median"] / bound}


def time_batch(s: Subject, distributions: Mapping[str, Mapping[int, float]], batch_size: int, repeats: int,
               measure: str) -> dict[str, Any]:
    """Every setting on one batch of ``batch_size`` segments (see the module docstring; ``distributions``: the
    replayed ones by setting), the heads computing confidence ``measure`` at each exit a row reaches."""
    rows = [i % len(s.prompts) for i in range(batch_size)]
    batch = build_batch(s.processor, [s.prompts[i] for i in rows], s.images[rows])
    ids = answer_token_ids(s.processor.tokenizer)
    full_runner = EarlyExitRunner(s.model, ids)
    depth = full_runner.depth
    torch.manual_seed(0)
    runner = EarlyExitRunner(s.model, ids, ExitHeads(ExitConfig(full_runner.lm.config.hidden_size, s.exit_layers,
                                                                len(ANSWERS), head_dim=s.head_dim)).eval())
    replayed = {name: assign(d, batch_size) for name, d in distributions.items()}

    def leave(layers: torch.Tensor) -> Callable[[], Any]:
        return lambda: runner.run(batch, leave_at=layers, measure=measure)

    fns: dict[str, Callable[[], Any]] = {"full": lambda: full_runner.run(batch)}
    fns |= {f"exit_{k}": leave(torch.full((batch_size,), k)) for k in s.exit_layers}
    if batch_size > 1:
        fns |= {name: leave(layers) for name, layers in replayed.items()}
    fns["vision"] = torch.no_grad()(lambda: s.model.get_image_features(batch["pixel_values"]))
    timed = interleaved_timing(fns, repeats)
    times = {k: np.asarray(t) for k, (_, t) in timed.items()}
    full = times["full"]
    one = np.ones(repeats)
    settings = {k: summary(times[k], one, times[k], full, batch_size, float(timed[k][0].layers.float().mean()), depth)
                for k in fns if k not in (*replayed, "vision")}
    for name, layers in replayed.items():
        distribution = distributions[name]
        if batch_size > 1:
            assert timed[name][0].layers.equal(layers)
            settings[name] = summary(times[name], one, times[name], full, batch_size, float(layers.float().mean()), depth)
        else:  # a lone segment: the mixture of the passes it may take
            keys = {k: "full" if k == depth else f"exit_{k}" for k in distribution}
            per_round = sum(f * times[keys[k]] for k, f in distribution.items())
            pooled = np.concatenate([times[keys[k]] for k in distribution])
            weights = np.concatenate([np.full(repeats, f) for f in distribution.values()])
            settings[name] = summary(pooled, weights, per_round, full, 1,
                                     sum(k * f for k, f in distribution.items()), depth)
            times[name] = per_round
    vision = float(np.median(times["vision"]))
    share = vision / float(np.median(full))
    for row in settings.values():  # the vision tower runs whatever the exit: the most skipping layers can give
        row["bound_with_vision"] = 1 / (share + (1 - share) * row["mean_layers"] / depth)
        row["speedup_over_bound_with_vision"] = row["speedup"]["median"] / row["bound_with_vision"]
    return {"batch": batch_size, "seq": int(batch["input_ids"].shape[1]), "settings": settings,
            "vision_seconds_p50": vision, "vision_share_of_full": share,
            "vision_share_of_measured": vision / float(np.median(times["measured"]))}


def check_exact(s: Subject) -> float:
    """Max |runner at full depth - model forward| over the answer logits of two segments (left-padded)."""
    batch = build_batch(s.processor, s.prompts[:2], s.images[:2])
    ids = answer_token_ids(s.processor.tokenizer)
    with torch.no_grad():
        reference = answer_logits(s.model, dict(batch), ids)
    diff = float((EarlyExitRunner(s.model, ids).run(batch).logits - reference).abs().max())
    if diff > 1e-3:
        raise SystemExit(f"{s.label}: the runner at full depth differs from the model's forward by {diff:g}")
    return diff


def demo_subject(tiny: bool, tmp: Path, outputs: Path) -> Subject:
    """The demo student's architecture (``pretrain.student``; 2 layers with ``--tiny``) on the demo's
    examples and tokenizer when they exist, else on synthetic prompts."""
    from deevisum.data.examples import read_examples
    from deevisum.data.frames_store import load_example_frames
    from deevisum.models.tokenizer import train_tokenizer
    from deevisum.models.vlm import build_tiny

    p = load_params(REPO / "params.yaml")
    paths = pipeline_paths()
    examples, frames, tokenizer = (outputs / paths[k] for k in ("examples", "frames", "tokenizer"))
    real = not tiny and examples.is_file() and (tokenizer / "tokenizer.json").is_file()
    if real:
        rows = read_examples(examples)[:128]
        prompts, images = [r["prompt"] for r in rows], load_example_frames(frames, rows)
    else:
        prompts, images = synthetic_segments(128, p.frames.image_size)
        tokenizer = tmp / "tokenizer"
        train_tokenizer(prompts, p.tokenizer.vocab_size).save_pretrained(str(tokenizer))
    arch = p.pretrain.student
    if tiny:
        arch = replace(arch, num_layers=2, hidden_size=64, num_heads=2, intermediate_size=128)
    model, processor = build_tiny(arch, tokenizer, p.frames.image_size, seed=0)
    label = f"demo student ({arch.num_layers} layers, width {arch.hidden_size}; {'demo examples' if real else 'synthetic prompts'})"
    return Subject(label, model.eval(), processor, prompts, images, p.ee.train.head_dim)


def paligemma2_subject(tiny: bool) -> Subject:
    """PaliGemma2-3B at 224 px (SigLIP So400m, Gemma2-2B decoder; ``checks.TINY`` with ``--tiny``), random
    weights, with the stand-in tokenizer."""
    from deevisum.scale import checks

    sizes = checks.TINY if tiny else checks.REAL
    prompts = checks.segment_prompts(128, PromptsParams())
    images = checks.segment_frames(128, sizes.image_size)
    processor = checks.stand_in_processor(prompts, sizes.image_size, sizes.vision["patch_size"])
    model = checks.build_model(sizes.student, sizes, processor, torch.float32, torch.device("cpu"))
    depth = model.config.get_text_config().num_hidden_layers
    return Subject(f"PaliGemma2-{'tiny' if tiny else '3B'} ({depth} layers; random weights, stand-in tokenizer)",
                   model, processor, prompts, images, 32)


def cpu_name() -> str:
    """The CPU's model name (Linux), else what the platform says."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 128])
    ap.add_argument("--repeats", type=int, default=10, help="timed rounds after the warm-up")
    ap.add_argument("--outputs", type=Path, default=REPO, help="the checkout holding the pipeline's outputs")
    ap.add_argument("--hist", type=Path, help="the measured and the oracle at the target's exit distributions (default: the evaluate stage's exit histogram)")
    ap.add_argument("--tiny", action="store_true", help="toy sizes (what the test suite runs)")
    ap.add_argument("--skip-check", action="store_true",
                    help="skip the exactness check (two passes; at 3B on a CPU, benchmarks/real_size_cpu.py makes it)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(worker_count())
    out = args.out or RESULTS / ("early_exit_speed_tiny.json" if args.tiny else "early_exit_speed.json")
    report = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    hist = args.hist or args.outputs / pipeline_paths()["plots"] / "exit_hist.csv"
    depth_h, distributions = read_distributions(hist)
    p = load_params(REPO / "params.yaml")
    machine = {"cpu": cpu_name(), "cores": worker_count(),
               "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "dtype": "float32"}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            start, load_start = time.perf_counter(), os.getloadavg()[0]
            s = demo_subject(args.tiny, Path(tmp), args.outputs) if name == "demo" else paligemma2_subject(args.tiny)
            depth = s.model.config.get_text_config().num_hidden_layers
            dists = {setting: mapped(d, depth_h, depth) for setting, d in distributions.items()}
            # the configured exits (at their relative depth) and every exit a replayed distribution uses
            s.exit_layers = sorted({*mapped({k: 1.0 for k in p.ee.exit_layers}, p.pretrain.student.num_layers, depth),
                                    *(k for d in dists.values() for k in d if k < depth)})
            entry = {"model": s.label, "machine": machine, "repeats": args.repeats, "depth": depth, "confidence": p.ee.confidence,
                     "exit_layers": s.exit_layers,
                     **{("exit_distribution" if setting == "measured" else f"{setting}_distribution"):
                        {str(k): f for k, f in sorted(d.items())} for setting, d in dists.items()},
                     "exit_distribution_source": shown_path(hist), "max_abs_logit_diff_vs_forward": None if args.skip_check else check_exact(s),
                     "batches": {}}
            for b in args.batches:
                entry["batches"][str(b)] = row = time_batch(s, dists, b, args.repeats, p.ee.confidence)
                said = [f"{setting} exits {m['speedup']['median']:.2f}x [{m['speedup']['ci95'][0]:.2f}, "
                        f"{m['speedup']['ci95'][1]:.2f}] (layer bound {m['layer_bound']:.2f}, ratio {m['speedup_over_bound']:.2f})"
                        for setting, m in row["settings"].items() if setting in dists]
                print(f"{name} batch {b}: full p50 {row['settings']['full']['latency_p50_s']:.4f} s; " + "; ".join(said)
                      + f"; vision {row['vision_share_of_full']:.0%} of full", flush=True)
            entry["seconds"] = time.perf_counter() - start
            entry["load_average_1min"] = {"start": load_start, "end": os.getloadavg()[0]}  # other processes' load
            entry["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            report[name] = entry
    write_json(out, report)


if __name__ == "__main__":
    main()
