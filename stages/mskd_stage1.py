"""Stage mskd_stage1: the teacher's answer distributions on train+val, computed once for all students."""

from deevisum.mskd import store_distributions
from deevisum.params import load_params

if __name__ == "__main__":
    p = load_params()
    store_distributions("teacher", p.train.eval_batch_size)
