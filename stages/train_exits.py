"""Stage train_exits: exit heads, prototypes and agreement classifiers after ee.exit_layers of each frozen student run.

Each student runs once over its fold's train/val examples and ee.train.unlabelled_rows rows of the
pretraining corpus (states cached in the checkpoint), then the heads train for ee.train.epochs; an
interrupted run resumes. Writes per run the heads (safetensors + config.json) and their outputs on the
validation rows (what evaluate calibrates on), and the curves of all runs (dvclive).
"""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.examples import ProcessedData
from deevisum.early_exit.training import fit_exit_runs

if __name__ == "__main__":
    args = stage_args(__doc__, ["examples", "splits", "frames", "corpus", "student", "out", "checkpoint", "curves"])
    p = load_params()
    fit_exit_runs(args.student, ProcessedData(args.examples, args.splits, args.frames), p.ee, p.train.seeds,
                  p.prompts.template, p.train.soft_targets, args.out, args.checkpoint, args.curves, p.mskd.kl_direction, args.corpus)
