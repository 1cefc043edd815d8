"""Stage evaluate: the student with early exit on the test videos, against full depth.

Writes the metrics at ee.threshold (with the full-depth reference), the quality-vs-layers sweep
over ee.sweep and the exit-layer histogram (deevisum.early_exit.report). Wall times differ run to
run: they go to the --timing report, which DVC does not track.
"""

import torch

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.benchmarks import read_benchmark
from deevisum.data.examples import ProcessedData
from deevisum.early_exit.report import early_exit_report
from deevisum.io import seed_everything, write_csv, write_json

if __name__ == "__main__":
    args = stage_args(__doc__, ["dataset", "examples", "splits", "frames", "student", "exits", "metrics", "sweep", "hist", "timing"])
    p = load_params()
    seed_everything(p.evaluate.seed)
    if p.ee.timing_threads > 0:
        torch.set_num_threads(p.ee.timing_threads)
    data = ProcessedData(args.examples, args.splits, args.frames)
    metrics, sweep, hist, timing = early_exit_report(args.student, args.exits, data, read_benchmark(p.data.dataset, args.dataset), p)
    write_json(args.metrics, metrics)
    write_csv(args.sweep, sweep)
    write_csv(args.hist, hist)
    write_json(args.timing, timing)
    print(f"threshold {p.ee.threshold}: F1 {metrics['f1']:.4f} (full depth {metrics['full_depth']['f1']:.4f}), "
          f"speedup {timing['speedup']:.2f}x, mean layers {metrics['mean_layers']:.2f}/{metrics['depth']}")
