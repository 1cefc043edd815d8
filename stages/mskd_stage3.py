"""Stage mskd_stage3: the student, L = CE + phi * KL(P_s || P_m) + psi * KL(P_s || P_t)."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.distill.roles import ROLE_PATHS, role_inputs, train_role
from deevisum.distill.trainer import KDConfig

if __name__ == "__main__":
    args = stage_args(__doc__, [*ROLE_PATHS, "teacher_dist", "mentor_dist"])
    p = load_params()
    kd = KDConfig({"mentor": p.mskd.phi, "teacher": p.mskd.psi}, p.mskd.temperature)
    train_role(p.models.student, p.train, p.frames.image_size, kd, *role_inputs(args, teacher=args.teacher_dist, mentor=args.mentor_dist))
