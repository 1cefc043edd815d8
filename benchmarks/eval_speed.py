"""Speed of the full TVSum protocol: 50 videos, ~352k frames, 20 annotators, F1 + tau + rho.

Target (issue 3): under 10 s for a model's scores on this machine. Prints the time of each
part measured in this one run: reading the annotations, the model's protocol with per-frame
scores (the worst case for tau: every frame its own rank) and with per-second scores (what
the pipeline writes), and the human + random baselines.

    python benchmarks/eval_speed.py [--root ../shared/data/tvsum] [--out FILE]

``--out`` also writes the times as JSON (the test suite runs it on a generated demo corpus).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from common import REPO, shown_path

from deevisum.config import EvaluateParams
from deevisum.data.benchmarks import read_benchmark
from deevisum.evaluation.baselines import baselines
from deevisum.evaluation.protocol import evaluate_scores
from deevisum.io import write_json


def synthetic_scores(bench, per_second: bool, seed: int = 0) -> dict:
    """Random predictions in the scores-file format (one score per frame or per second)."""
    rng = np.random.default_rng(seed)
    out = {}
    for vid, v in bench.videos.items():
        k = v.fps if per_second else 1.0
        out[vid] = {"scores": rng.random(math.ceil(v.n_frames / k)).tolist(), "frames_per_score": k}
    return out


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "tvsum")
    parser.add_argument("--out", type=Path, help="also write the times here as JSON")
    args = parser.parse_args()
    params = EvaluateParams(shots="fixed")
    bench, t_read = timed(lambda: read_benchmark("tvsum", args.root))
    n_frames = sum(v.n_frames for v in bench.videos.values())
    n_users = {v.n_users for v in bench.videos.values()}
    print(f"TVSum: {len(bench.videos)} videos, {n_frames} frames, annotators {sorted(n_users)}; read in {t_read:.2f} s")
    report = {"root": shown_path(args.root), "videos": len(bench.videos), "frames": n_frames, "annotators": sorted(n_users),
              "read_s": t_read, "model_s": {}}
    for label, per_second in (("per-frame scores", False), ("per-second scores", True)):
        scores = synthetic_scores(bench, per_second)
        result, t = timed(lambda: evaluate_scores(scores, bench, params, with_baselines=False))
        m = result["model"]["mean"]
        report["model_s"][label] = t
        print(
            f"model protocol, {label}: {t:.2f} s  (target < 10 s: {t / 10:.2f} of budget)  "
            f"F1 {m['f1']:.4f} tau {m['kendall_tau']:.4f} rho {m['spearman_rho']:.4f}"
        )
    result, t = timed(lambda: baselines(bench, params))
    h, r = result["baselines"]["human"]["mean"], result["baselines"]["random"]["mean"]
    report["baselines_s"] = t
    print(
        f"baselines (human leave-one-out + random x{params.random_trials}): {t:.2f} s  "
        f"human tau {h['kendall_tau']:.4f} rho {h['spearman_rho']:.4f} F1 {h['f1']:.4f}; random tau {r['kendall_tau']:.4f}"
    )
    if args.out:
        write_json(args.out, report)


if __name__ == "__main__":
    main()
