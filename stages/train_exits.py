"""Stage train_exits: exit heads, prototypes and agreement classifiers after ee.exit_layers of each frozen student run.

Each student runs once over its fold's train/val examples and over ee.train.unlabelled_videos +
ee.calibration_videos videos of the pretraining corpus (states cached in the checkpoint); the heads train
on the fold's training rows and the unlabelled videos for ee.train.epochs; an interrupted run resumes.
Writes per run the heads (safetensors + config.json) and their outputs on the calibration rows (the
calibration videos, or with 0 the fold's validation videos: what evaluate calibrates on), and the curves of
all runs (dvclive)."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.examples import ProcessedData
from deevisum.early_exit.training import fit_exit_runs

if __name__ == "__main__":
    args = stage_args(__doc__, ["examples", "splits", "frames", "corpus", "student", "out", "checkpoint", "curves"])
    p = load_params()
    fit_exit_runs(args.student, ProcessedData(args.examples, args.splits, args.frames), p.ee, p.train.seeds,
                  p.prompts.template, p.train.soft_targets, args.out, args.checkpoint, args.curves, p.mskd.kl_direction, args.corpus)
