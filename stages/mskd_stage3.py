"""Stage mskd_stage3: the student, L = CE + phi * KD(mentor) + psi * KD(teacher) (+ the early-exit loss and
layer dropout when ee.exit_aware is on)."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.distill.roles import ROLE_PATHS, role_inputs, role_jobs, train_jobs
from deevisum.distill.trainer import exit_aware_loss, kd_config

if __name__ == "__main__":
    args = stage_args(__doc__, [*ROLE_PATHS, "teacher_dist", "mentor_dist"])
    p = load_params()
    kd = kd_config({"mentor": p.mskd.phi, "teacher": p.mskd.psi}, p.mskd)
    train_jobs(role_jobs(p.models.student, p.pretrain.student, p.train, p.frames.image_size, kd,
                         *role_inputs(args, teacher=args.teacher_dist, mentor=args.mentor_dist),
                         exits=exit_aware_loss(p.ee.exit_aware)))
