"""Stage train_exits: exit heads + prototypes after ee.exit_layers of the frozen student.

The student runs once over the train/val examples (states cached in the checkpoint), then the
heads train for ee.train.epochs; an interrupted run resumes. Writes the heads (safetensors +
config.json) and their curves (dvclive).
"""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.examples import ProcessedData
from deevisum.early_exit.heads import save_exit_heads
from deevisum.early_exit.training import fit_exit_heads
from deevisum.tracking import write_curves

if __name__ == "__main__":
    args = stage_args(__doc__, ["examples", "splits", "frames", "student", "out", "checkpoint", "curves"])
    p = load_params()
    data = ProcessedData(args.examples, args.splits, args.frames)
    heads, history = fit_exit_heads(args.student, data, p.ee, p.prompts.template, p.train.soft_targets, args.checkpoint,
                                    p.mskd.kl_direction)
    save_exit_heads(heads, args.out)
    write_curves(history, args.curves)
    print(f"wrote {args.out} (exits after layers {heads.config.exit_layers}); last epoch: {history[-1]}")
