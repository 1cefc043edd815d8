"""Stage score@<model>: one-pass per-second scores of models/<model> on the test videos -> scores/<model>.json."""

import sys

from deevisum.mskd import score_test
from deevisum.params import load_params

if __name__ == "__main__":
    p = load_params()
    name = sys.argv[1]
    score_test(name, p.train.eval_batch_size, p.prompts.template, f"scores/{name}.json")
