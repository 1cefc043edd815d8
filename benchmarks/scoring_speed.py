"""One-pass scoring vs generate()-based scoring: same model, same inputs, same batches.

Usage: python benchmarks/scoring_speed.py [model_dir] [--n N] [--examples ... --splits ... --frames ...]
(default the first run's teacher, models/teacher/fold<k>-seed<s>, on that fold's test examples; the data paths
from the ``vars: paths`` of dvc.yaml; run the pipeline up to finetune_teacher first; ``--out FILE`` also writes
the figures as JSON).
Prints both wall times (best of --repeats, alternating), the speedup, and how often the generated answer equals the one-pass
distribution's most likely answer.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import pipeline_paths, shown_path

from deevisum.config import load_params
from deevisum.data.examples import ProcessedData
from deevisum.data.prompts import prompts_for
from deevisum.data.splits import runs
from deevisum.io import write_json
from deevisum.models.scoring import generate_answers, generate_scores, score_examples
from deevisum.models.vlm import load_vlm, model_modalities


def main() -> None:
    paths = pipeline_paths()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, help=f"default: {paths['models']}/teacher/<first run>")
    for name in ("examples", "splits", "frames"):
        parser.add_argument(f"--{name}", type=Path, default=Path(paths[name]), help=f"default: {paths[name]}")
    parser.add_argument("--n", type=int, default=0, help="first N test examples (0 = all)")
    parser.add_argument("--new-tokens", type=int, default=2, help="generate(): max_new_tokens (answer + end)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    p = load_params()
    torch.manual_seed(0)
    run = runs(args.splits, p.train.seeds)[0]
    model_dir = args.model or Path(paths["models"]) / "teacher" / run.name
    data = ProcessedData(args.examples, args.splits, args.frames, run.fold)
    examples = data.examples("test")
    examples = examples[: args.n] if args.n else examples
    prompts = prompts_for(examples, model_modalities(model_dir), p.prompts.template)  # as the model was trained
    images = data.frames(examples)
    model, processor = load_vlm(model_dir)
    bs = p.train.eval_batch_size
    one_pass, generated = float("inf"), float("inf")
    for _ in range(args.repeats):  # alternate the two paths; best of N against machine noise
        t0 = time.perf_counter()
        logits = score_examples(model, processor, prompts, images, bs)
        one_pass = min(one_pass, time.perf_counter() - t0)
        t0 = time.perf_counter()
        answers = generate_answers(model, processor, prompts, images, bs, max_new_tokens=args.new_tokens)
        generated = min(generated, time.perf_counter() - t0)

    agree = float(np.mean(generate_scores(answers) == logits.argmax(-1) + 1))
    n = len(examples)
    print(f"model {model_dir}, {n} segments, batch {bs}")
    print(f"one-pass scoring : {one_pass:.3f} s ({1e3 * one_pass / n:.2f} ms/segment)")
    print(f"generate() ({args.new_tokens} new tokens, parse digit): {generated:.3f} s ({1e3 * generated / n:.2f} ms/segment)")
    print(f"speedup one-pass vs generate(): {generated / one_pass:.2f}x")
    print(f"generated answer == one-pass argmax answer: {agree:.1%}")
    if args.out:
        write_json(args.out, {"model": shown_path(model_dir), "segments": n, "batch": bs, "new_tokens": args.new_tokens,
                              "repeats": args.repeats, "one_pass_s": one_pass, "generate_s": generated,
                              "speedup": generated / one_pass, "agreement": agree})


if __name__ == "__main__":
    main()
