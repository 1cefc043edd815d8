"""Stage train_student@<variant>: an ablation student (deevisum.distill.roles.STUDENT_VARIANTS)."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.distill.roles import ROLE_PATHS, STUDENT_VARIANTS, role_inputs, train_role
from deevisum.distill.trainer import KDConfig

if __name__ == "__main__":
    args = stage_args(__doc__, [*ROLE_PATHS, "teacher_dist"], items=["variant"])
    p = load_params()
    variant = STUDENT_VARIANTS[args.variant]
    kd = KDConfig({target: p.mskd.phi for target in variant.kd_from}, p.mskd.temperature)
    train_role(p.models.student, p.train, p.frames.image_size, kd, *role_inputs(args, teacher=args.teacher_dist),
               variant.modalities, p.prompts.template)
