"""Stage mskd_stage2: the mentor of each run, L = CE + phi * KD(teacher); then its answer distributions."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.distill.roles import (
    ROLE_PATHS,
    role_inputs,
    role_jobs,
    store_distributions,
    train_jobs,
)
from deevisum.distill.trainer import kd_config

if __name__ == "__main__":
    args = stage_args(__doc__, [*ROLE_PATHS, "teacher_dist", "out"])
    p = load_params()
    data, files = role_inputs(args, teacher=args.teacher_dist)
    train_jobs(role_jobs(p.models.mentor, p.pretrain.mentor, p.train, p.frames.image_size,
                         kd_config({"teacher": p.mskd.phi}, p.mskd), data, files))
    store_distributions(args.model, data, args.out, p.train.eval_batch_size, p.train.seeds)
