"""Stage train_student@<variant>: an ablation student (deevisum.mskd.STUDENT_VARIANTS) -> models/student_<variant>."""

import sys

from deevisum.mskd import STUDENT_VARIANTS, train_role
from deevisum.params import load_params
from deevisum.training import KDConfig

if __name__ == "__main__":
    p = load_params()
    name = sys.argv[1]
    variant = STUDENT_VARIANTS[name]
    kd = KDConfig({target: p.mskd.phi for target in variant.kd_from}, p.mskd.temperature)
    train_role(f"student_{name}", p.models.student, p.train, p.frames.image_size, kd, variant.modalities,
               p.prompts.template)
