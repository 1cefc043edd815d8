"""Stage evaluate_ablation: teacher, mentor and student variants on the test videos of every fold -> the results
table (the report; its headline numbers are the metrics, deevisum.headlines) and the per-model plot with CIs."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.benchmarks import read_benchmark
from deevisum.data.splits import read_splits
from deevisum.evaluation.ablation import PROBES, VARIANTS, ablation_report, ci_rows
from deevisum.evaluation.context import evaluation_shots
from deevisum.evaluation.scores import seed_scores_file
from deevisum.headlines import publish
from deevisum.io import BadInputReport, seed_everything, write_csv

if __name__ == "__main__":
    args = stage_args(__doc__, ["dataset", "splits", "frames", "scores", "metrics", "report", "plot"])
    p = load_params()
    seed_everything(p.evaluate.seed)
    bench = read_benchmark(p.data.dataset, args.dataset)
    splits = read_splits(args.splits)
    video_fold = {v: k for k in splits["selected"] for v in splits["folds"][k]["test"]}
    shots = evaluation_shots(p.evaluate, args.frames, sorted(video_fold))
    files = {v: [seed_scores_file(args.scores / v, s) for s in p.train.seeds] for v in (*VARIANTS, *PROBES)}
    report = ablation_report(files, bench, p.evaluate, shots, video_fold, BadInputReport(p.data.on_error))
    publish("ablation", report, args.metrics, args.report)
    write_csv(args.plot, ci_rows(report))
    print(f"{report['n_test_videos']} test videos, folds {report['folds']}, {report['n_seeds']} seed(s)")
    for name, row in report["table"].items():
        print(f"{name:28s} " + "  ".join(f"{m}={row[m]:.3f}±{row[m + '_std']:.3f}" for m in ("f1", "kendall_tau", "spearman_rho")))
    for name, c in report["comparisons"].items():
        print(f"{name:28s} " + "  ".join(f"{m} {c[m]['mean_diff']:+.3f} [{c[m]['ci95'][0]:+.3f}, {c[m]['ci95'][1]:+.3f}] "
                                          f"p={c[m]['p_value']:.3f}" for m in ("f1", "kendall_tau", "spearman_rho")))
