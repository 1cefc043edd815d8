"""Stage mskd_stage3: the student, L = CE + phi * KL(P_s || P_m) + psi * KL(P_s || P_t)."""

from deevisum.mskd import train_role
from deevisum.params import load_params
from deevisum.training import KDConfig

if __name__ == "__main__":
    p = load_params()
    kd = KDConfig({"mentor": p.mskd.phi, "teacher": p.mskd.psi}, p.mskd.temperature)
    train_role("student", p.models.student, p.train, p.frames.image_size, kd)
