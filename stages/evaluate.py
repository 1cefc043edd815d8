"""Stage evaluate: each run's student with early exit on its fold's test videos, against full depth.

Writes the report at the operating point (the threshold calibrated on the heads' calibration rows for
ee.target_agreement, or ee.threshold), with the full-depth reference and the measured speedup,
the quality-vs-speedup sweep over ee.sweep and the exit-layer histogram
(deevisum.early_exit.report). Wall-time figures (speedup, seconds per segment) differ from run
to run; every other figure is the same for the same inputs. The metrics file holds the report's
headline numbers (deevisum.headlines).
"""

import torch

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.benchmarks import read_benchmark
from deevisum.data.examples import ProcessedData
from deevisum.early_exit.report import early_exit_report
from deevisum.headlines import publish
from deevisum.io import seed_everything, write_csv

if __name__ == "__main__":
    args = stage_args(__doc__, ["dataset", "examples", "splits", "frames", "student", "exits", "metrics", "report", "sweep", "hist"])
    p = load_params()
    seed_everything(p.evaluate.seed)
    if p.ee.timing_threads > 0:
        torch.set_num_threads(p.ee.timing_threads)
    data = ProcessedData(args.examples, args.splits, args.frames)
    report, sweep, hist = early_exit_report(args.student, args.exits, data, read_benchmark(p.data.dataset, args.dataset), p)
    publish("early_exit", report, args.metrics, args.report)
    write_csv(args.sweep, sweep)
    write_csv(args.hist, hist)
    print(f"{report['threshold_source']} threshold {report['threshold']}: agreement {report['agreement_vs_full']:.3f}, "
          f"F1 {report['f1']:.4f} (full depth {report['full_depth']['f1']:.4f}), tau drop {report['kendall_tau_drop']:+.4f}, "
          f"mean layers {report['mean_layers']:.2f}/{report['depth']}, speedup {report.get('speedup', float('nan')):.2f}x")
