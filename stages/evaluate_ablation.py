"""Stage evaluate_ablation: teacher, mentor and student variants on the test videos -> metrics/ablation.json."""

from deevisum.ablation import VARIANTS, ablation_report
from deevisum.datasets import read_benchmark
from deevisum.evaluation import evaluation_shots
from deevisum.io import BadInputReport, read_json, seed_everything, write_json
from deevisum.mskd import FRAMES, SPLITS
from deevisum.params import load_params

if __name__ == "__main__":
    p = load_params()
    seed_everything(p.evaluate.seed)
    bench = read_benchmark(p.data.dataset, p.data.dataset_dir)
    test = sorted(read_json(SPLITS)["test"])
    shots = evaluation_shots(p.evaluate, FRAMES, test)
    report = ablation_report({v: f"scores/{v}.json" for v in VARIANTS}, bench, p.evaluate, shots,
                             BadInputReport(p.data.on_error))
    write_json("metrics/ablation.json", report)
    for name, row in report["table"].items():
        print(f"{name:20s} " + "  ".join(f"{m}={row[m]:.3f} [{row[m + '_ci95'][0]:.3f}, {row[m + '_ci95'][1]:.3f}]"
                                          for m in ("f1", "kendall_tau", "spearman_rho")))
    print(report["checks"])
