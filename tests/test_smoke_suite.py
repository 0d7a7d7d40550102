"""The shipped smoke suite runs end to end through the CLI on the built-in simulator."""

import subprocess
import sys

import pandas as pd

from tests.conftest import ROOT


def test_smoke_suite_end_to_end(tmp_path):
    cmd = [sys.executable, "-m", "bench", "run", "suites/smoke.yaml", "--out", str(tmp_path / "res" / "smoke"),
           "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    suite_dir = tmp_path / "res" / "smoke"
    summary = pd.read_csv(suite_dir / "summary.csv")
    assert len(summary) == 6  # 3 models x 2 datasets
    assert set(summary["model"]) == {"wiener", "mlp", "gru"}
    assert (summary["stream_max_abs_diff"] < 1e-4).all()
    assert (summary["cpu_median_ms"] > 0).all()
    wiener_co = summary[(summary.model == "wiener") & (summary.dataset == "c_co_small")]["mean"].item()
    assert wiener_co > 0.2  # decodable even at this tiny scale
    report = subprocess.run([sys.executable, "-m", "bench", "report", "suites/smoke.yaml", "--out", str(tmp_path / "res" / "smoke")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0 and "c_co_small (r2)" in report.stdout
