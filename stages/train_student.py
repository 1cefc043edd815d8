"""Stage train_student@<variant>: an ablation student (deevisum.distill.roles.STUDENT_VARIANTS)."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.distill.roles import ROLE_PATHS, STUDENT_VARIANTS, role_inputs, train_role
from deevisum.distill.trainer import kd_config

if __name__ == "__main__":
    args = stage_args(__doc__, [*ROLE_PATHS, "teacher_dist"], items=["variant"])
    p = load_params()
    variant = STUDENT_VARIANTS[args.variant]
    # the same total KD weight as the MSKD student (phi + psi), all of it on the teacher
    kd = kd_config({target: p.mskd.phi + p.mskd.psi for target in variant.kd_from}, p.mskd)
    train_role(p.models.student, p.train, p.frames.image_size, kd, *role_inputs(args, teacher=args.teacher_dist),
               variant.modalities, p.prompts.template)
