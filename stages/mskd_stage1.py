"""Stage mskd_stage1: each teacher run's answer distributions on its fold's train+val, computed once for all students."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.examples import ProcessedData
from deevisum.distill.roles import store_distributions

if __name__ == "__main__":
    args = stage_args(__doc__, ["examples", "splits", "frames", "model", "out"])
    p = load_params()
    store_distributions(args.model, ProcessedData(args.examples, args.splits, args.frames), args.out,
                        p.train.eval_batch_size, p.train.seeds)
