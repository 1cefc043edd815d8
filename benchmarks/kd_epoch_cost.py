"""Cost of a distillation epoch vs a CE-only epoch of the student (target: at most 1.3x).

Usage: python benchmarks/kd_epoch_cost.py   (after mskd_stage2: needs the stored teacher and
mentor distributions). Trains one epoch of the default student from the same seed twice per
loss (alternating, best of two against machine noise): CE only, and MSKD (CE + phi KL to the
mentor + psi KL to the teacher, targets read from data/distill, never a teacher forward).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

from deevisum.models import build_vlm
from deevisum.mskd import FULL, TOKENIZER, example_set, prompts_for, split_examples, stored_logits
from deevisum.params import load_params
from deevisum.scoring import answer_token_ids
from deevisum.training import KDConfig, train_vlm


def main() -> None:
    p = load_params()
    cfg = replace(p.train, epochs=1)
    examples = {s: split_examples(s) for s in ("train", "val")}
    _, processor = build_vlm(p.models.student, TOKENIZER, p.frames.image_size, cfg.seed)
    ids = answer_token_ids(processor.tokenizer)
    sets = {
        s: example_set(ex, prompts_for(ex, FULL, ""), cfg.soft_targets, {t: stored_logits(t, ex, ids) for t in ("teacher", "mentor")})
        for s, ex in examples.items()
    }
    losses = {"ce": KDConfig(), "mskd": KDConfig({"mentor": p.mskd.phi, "teacher": p.mskd.psi}, p.mskd.temperature)}
    times: dict[str, list[float]] = {k: [] for k in losses}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(2):
            for name, kd in losses.items():
                model, _ = build_vlm(p.models.student, TOKENIZER, p.frames.image_size, cfg.seed)
                t0 = time.perf_counter()
                train_vlm(model, processor, sets["train"], sets["val"], cfg, kd, Path(tmp) / f"{name}{rep}",
                          Path(tmp) / f"{name}{rep}.csv", {"rep": rep}, desc=name)
                times[name].append(time.perf_counter() - t0)
    ce, mskd = min(times["ce"]), min(times["mskd"])
    print(f"student epoch ({len(sets['train'])} examples, incl. validation + checkpoint): CE only {ce:.2f} s, MSKD {mskd:.2f} s")
    print(f"distillation / CE-only epoch cost: {mskd / ce:.3f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
