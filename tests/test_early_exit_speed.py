"""The early-exit speed benchmark runs end to end at tiny size (a benchmark nothing runs rots)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_early_exit_speed_tiny_reports_every_batch_and_setting(tmp_path: Path) -> None:
    hist = tmp_path / "exit_hist.csv"
    hist.write_text("layers,count,fraction,oracle_at_target_fraction\n1,0,0,0.5\n2,6,0.6,0.5\n3,0,0,0\n4,2,0.2,0\n"
                    "5,0,0,0\n6,2,0.2,0\n")
    out = tmp_path / "early_exit_speed.json"
    run = subprocess.run([sys.executable, "benchmarks/early_exit_speed.py", "--tiny", "--batches", "1", "4", "--repeats", "3",
                          "--hist", str(hist), "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert set(report) == {"demo", "paligemma2_3b"}
    for entry in report.values():
        assert entry["max_abs_logit_diff_vs_forward"] < 1e-3 and entry["repeats"] == 3
        assert entry["machine"]["torch_threads"] == entry["machine"]["cores"]
        assert abs(sum(entry["exit_distribution"].values()) - 1) < 1e-9
        assert set(entry["batches"]) == {"1", "4"}
        for b, row in entry["batches"].items():
            settings = row["settings"]
            assert {"full", "measured", "oracle_at_target", *(f"exit_{k}" for k in entry["exit_layers"])} == set(settings)
            assert 0 < row["vision_share_of_full"] and 0 < row["vision_share_of_measured"]
            for s in settings.values():
                lo, hi = s["speedup"]["ci95"]
                assert s["latency_p50_s"] <= s["latency_p95_s"] and lo <= s["speedup"]["median"] <= hi
                assert abs(s["speedup_over_bound"] - s["speedup"]["median"] / s["layer_bound"]) < 1e-9
                assert s["segments_per_s"] > 0
                assert 1 <= s["bound_with_vision"] <= s["layer_bound"] + 1e-9
            # each replayed distribution's mean layers (at batch 4 up to rounding to whole rows)
            for name, key in (("measured", "exit_distribution"), ("oracle_at_target", "oracle_at_target_distribution")):
                expected = sum(int(k) * f for k, f in entry[key].items())
                assert abs(settings[name]["mean_layers"] - expected) <= (0 if b == "1" else entry["depth"] / 4 / 2) + 1e-9
