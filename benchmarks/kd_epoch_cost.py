"""Cost of a distillation epoch vs a CE-only epoch of the student (target: at most 1.3x).

Usage: python benchmarks/kd_epoch_cost.py [--examples ... --distill data/distill]   (after
mskd_stage2: needs the stored teacher and mentor distributions; the paths default to the
pipeline's, from the ``vars: paths`` of dvc.yaml). Trains one epoch of the default student (its
pretrained checkpoint, or its architecture's random weights before the pretrain stage ran) on the
first run (selected fold, seed) from the same seed twice per loss (alternating, best of two against machine noise): CE only, and MSKD
(CE + phi KL to the mentor + psi KL to the teacher, targets read from the stored distributions,
never a teacher forward). ``--tiny``: a 2-layer student with random weights instead (the test suite's run);
``--out FILE`` also writes the times as JSON.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import TINY_ARCH, pipeline_paths, role_params

from deevisum.checkpointing import Checkpoint
from deevisum.config import ModelParams, load_params
from deevisum.data.examples import ProcessedData, answer_targets
from deevisum.data.prompts import FULL, prompts_for
from deevisum.data.splits import runs
from deevisum.distill.roles import distributions_file, stored_logits
from deevisum.distill.trainer import ExampleSet, KDConfig, train_vlm
from deevisum.io import write_json
from deevisum.models.scoring import answer_words
from deevisum.models.vlm import build_vlm


def main() -> None:
    paths = pipeline_paths()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("examples", "splits", "frames", "tokenizer", "distill"):
        ap.add_argument(f"--{name}", type=Path, default=Path(paths[name]), help=f"default: {paths[name]}")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer student with random weights (the test suite's run)")
    ap.add_argument("--out", type=Path, help="also write the times here as JSON")
    args = ap.parse_args()
    p = load_params()
    cfg = replace(p.train, epochs=1)
    run = runs(args.splits, cfg.seeds)[0]
    data = ProcessedData(args.examples, args.splits, args.frames, run.fold)
    mp, arch, note = (ModelParams(source="tiny"), TINY_ARCH, "tiny random student") if args.tiny else role_params(p, "student")
    if note:
        print(note)
    _, processor = build_vlm(mp, arch, args.tokenizer, p.frames.image_size, run.seed)
    answers = answer_words(processor.tokenizer)
    sets = {}
    for split in ("train", "val"):  # the MSKD student's inputs (mskd_stage3: every modality)
        ex = data.examples(split)
        kd_logits = {t: stored_logits(distributions_file(args.distill / t, run), ex, answers) for t in ("teacher", "mentor")}
        sets[split] = ExampleSet(prompts_for(ex, FULL, p.prompts.template), data.frames(ex),
                                 answer_targets(ex, cfg.soft_targets), kd_logits)
    losses = {"ce": KDConfig(), "mskd": KDConfig({"mentor": p.mskd.phi, "teacher": p.mskd.psi}, p.mskd.temperature)}
    times: dict[str, list[float]] = {k: [] for k in losses}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(2):
            for name, kd in losses.items():
                model, _ = build_vlm(mp, arch, args.tokenizer, p.frames.image_size, run.seed)
                t0 = time.perf_counter()  # a fresh checkpoint per run: nothing is resumed
                train_vlm(model, processor, sets["train"], sets["val"], cfg, kd,
                          Checkpoint(Path(tmp) / f"{name}{rep}", f"{name}{rep}"), run.seed, desc=name)
                times[name].append(time.perf_counter() - t0)
    ce, mskd = min(times["ce"]), min(times["mskd"])
    print(f"student {run.name} epoch ({len(sets['train'])} examples, incl. validation + checkpoint): CE only {ce:.2f} s, MSKD {mskd:.2f} s")
    print(f"distillation / CE-only epoch cost: {mskd / ce:.3f}x (target <= 1.3x)")
    if args.out:
        write_json(args.out, {"run": run.name, "examples": len(sets["train"]), "note": note, "times_s": times,
                              "ce_s": ce, "mskd_s": mskd, "ratio": mskd / ce})


if __name__ == "__main__":
    main()
