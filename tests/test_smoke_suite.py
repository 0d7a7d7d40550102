"""The shipped smoke suite runs end to end through the command line on the built-in simulator
(in-process through ``bench.cli.main``: tests/test_cli.py covers the ``python -m bench`` entry point)."""

import pandas as pd

from bench.cli import main
from tests.conftest import ROOT


def test_smoke_suite_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the suite path as a user in the checkout types it
    suite_dir = tmp_path / "res" / "smoke"
    code = main(["run", "suites/smoke.yaml", "--out", str(suite_dir), "--cache-dir", str(tmp_path / "cache"),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err[-3000:]
    summary = pd.read_csv(suite_dir / "summary.csv")
    assert len(summary) == 6  # 3 models x 2 datasets
    assert set(summary["model"]) == {"wiener", "mlp", "gru"}
    assert (summary["stream_max_abs_diff"] < 1e-4).all()
    assert (summary["cpu_median_ms"] > 0).all()
    wiener_co = summary[(summary.model == "wiener") & (summary.dataset == "c_co_small")]["mean"].item()
    assert wiener_co > 0.2  # decodable even at this tiny scale
    capsys.readouterr()
    assert main(["report", "suites/smoke.yaml", "--out", str(suite_dir)]) == 0
    assert "c_co_small (r2)" in capsys.readouterr().out
