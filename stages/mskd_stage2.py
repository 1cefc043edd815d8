"""Stage mskd_stage2: the mentor, L = CE + phi * KL(P_m || P_t); then its answer distributions."""

from deevisum.mskd import store_distributions, train_role
from deevisum.params import load_params
from deevisum.training import KDConfig

if __name__ == "__main__":
    p = load_params()
    kd = KDConfig({"teacher": p.mskd.phi}, p.mskd.temperature)
    train_role("mentor", p.models.mentor, p.train, p.frames.image_size, kd)
    store_distributions("mentor", p.train.eval_batch_size)
