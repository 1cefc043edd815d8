"""Stage evaluate_ablation: teacher, mentor and student variants on the test videos -> the ablation table."""

from deevisum.app.stage import stage_args
from deevisum.config import load_params
from deevisum.data.benchmarks import read_benchmark
from deevisum.evaluation.ablation import VARIANTS, ablation_report
from deevisum.evaluation.context import evaluation_shots
from deevisum.io import BadInputReport, read_json, seed_everything, write_json

if __name__ == "__main__":
    args = stage_args(__doc__, ["dataset", "splits", "frames", "scores", "out"])
    p = load_params()
    seed_everything(p.evaluate.seed)
    bench = read_benchmark(p.data.dataset, args.dataset)
    shots = evaluation_shots(p.evaluate, args.frames, sorted(read_json(args.splits)["test"]))
    report = ablation_report({v: args.scores / f"{v}.json" for v in VARIANTS}, bench, p.evaluate, shots,
                             BadInputReport(p.data.on_error))
    write_json(args.out, report)
    for name, row in report["table"].items():
        print(f"{name:20s} " + "  ".join(f"{m}={row[m]:.3f} [{row[m + '_ci95'][0]:.3f}, {row[m + '_ci95'][1]:.3f}]"
                                          for m in ("f1", "kendall_tau", "spearman_rho")))
    print(report["checks"])
