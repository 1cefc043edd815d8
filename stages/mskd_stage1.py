"""Stage mskd_stage1: the teacher's answer distributions on train+val, computed once for all students."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.examples import ProcessedData
from deevisum.distill.roles import store_distributions

if __name__ == "__main__":
    args = stage_args(__doc__, ["examples", "splits", "frames", "model", "out"])
    data = ProcessedData(args.examples, args.splits, args.frames)
    store_distributions(args.model, data, args.out, load_params().train.eval_batch_size)
