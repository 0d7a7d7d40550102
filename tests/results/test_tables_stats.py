"""The report's cells carry their interval, seeds and the comparison marker; paired.md holds the
paired differences with the reference; the reference is configurable and checked."""

from types import SimpleNamespace

import pandas as pd
import pytest

from bench.errors import SuiteError
from bench.results.tables import build_report, summary_frame, suite_reference
from tests.results.fake_records import make_record

SESSIONS = ["s0", "s1", "s2"]


def _records(model: str, base: float, step: float, higher: bool = True, metric: str = "r2") -> list:
    """3 seeds on 3 sessions of dataset d (base + step * (session + seed / 10)) and one session of h."""
    out = []
    for seed in range(3):
        out.append(make_record(model, "d", seed, {s: base + step * (i + seed / 10) for i, s in enumerate(SESSIONS)},
                               higher_is_better=higher, metric=metric))
        out.append(make_record(model, "h", seed, {"h0": base + step * seed}, higher_is_better=higher, metric=metric))
    return out


def test_cells_show_interval_seeds_and_a_marker_against_the_reference(tmp_path):
    records = _records("gru", 0.80, 0.01) + _records("possm-gru", 0.70, 0.012) + _records("mlp", 0.80, 0.0101)
    written = build_report(tmp_path, records)
    table = (tmp_path / "table.md").read_text()
    possm = next(line for line in table.splitlines() if line.startswith("| possm-gru"))
    assert "×3 ▼" in possm and "[" in possm  # interval, 3 seeds per session, significantly worse than the GRU
    assert "ˢ" in possm  # the one-session dataset's SD is over seeds, and says so
    gru = next(line for line in table.splitlines() if line.startswith("| gru"))
    assert "▲" not in gru and "▼" not in gru
    assert "Wilcoxon signed-rank" in table and "t-interval over sessions" in table and "paired.md" in table
    paired = (tmp_path / "paired.md").read_text()
    row = next(line for line in paired.splitlines() if line.startswith("| possm-gru"))
    assert "r -1.00" in row and "n 9" in row and "p 0.00391 ▼" in row  # 9 (session, seed) pairs, all worse
    assert "no test n 3" in row  # the one-session dataset: 3 pairs, too few for a test
    assert "(mean -0.098 [-0.1" in row.split("|")[3]  # its interval is over the session's seeds
    summary = pd.read_csv(tmp_path / "summary.csv")
    cell = summary[(summary["model"] == "possm-gru") & (summary["dataset"] == "d")].iloc[0]
    assert cell["ref_mean_diff"] == pytest.approx(-0.1 + 0.002 * 1.1, abs=1e-9)
    assert cell["ref_diff_ci_low"] < cell["ref_mean_diff"] < cell["ref_diff_ci_high"] < 0
    assert cell["seeds_min"] == cell["seeds_max"] == 3 and cell["n_sessions"] == 3
    assert tmp_path / "paired.md" in written


def test_lower_is_better_metrics_mark_the_lower_model_better():
    records = _records("gru", 0.30, 0.01, higher=False, metric="per") + _records("s4d", 0.20, 0.01, higher=False,
                                                                                  metric="per")
    df = summary_frame(records, reference="gru")
    s4d = df[(df["model"] == "s4d") & (df["dataset"] == "d")].iloc[0]
    assert s4d["ref_median_diff"] < 0 and s4d["ref_rank_biserial"] == 1.0 and s4d["ref_marker"] == "▲"


def test_without_the_reference_the_cells_have_no_comparison():
    df = summary_frame(_records("mlp", 0.5, 0.01), reference=None)
    assert "ref_p" not in df.columns
    df = summary_frame(_records("mlp", 0.5, 0.01), reference="gru")
    assert set(df["ref_note"]) == {"no trained result of the reference 'gru' on this dataset"}


def _suite(labels, report=None):
    models = [SimpleNamespace(display=label) for label in labels]
    return SimpleNamespace(path="suites/x.yaml", spec=SimpleNamespace(models=models, protocol=SimpleNamespace(
        report=report or {})))


def test_the_reference_is_the_gru_by_default_and_configurable():
    assert suite_reference(_suite(["wiener", "gru"])) == "gru"
    assert suite_reference(_suite(["wiener", "mlp"])) is None  # no GRU in the suite: no comparison
    assert suite_reference(_suite(["wiener", "mlp"], {"reference": "mlp"})) == "mlp"
    assert suite_reference(_suite(["wiener", "gru"], {"reference": "none"})) is None
    assert suite_reference(_suite(["wiener", "gru"]), override="wiener") == "wiener"
    with pytest.raises(SuiteError, match=r"'grux'.*protocol.report.reference of suites/x.yaml.*wiener, gru"):
        suite_reference(_suite(["wiener", "gru"], {"reference": "grux"}))
    with pytest.raises(SuiteError, match=r"field 'protocol.report.reference' is \['gru'\]"):
        suite_reference(_suite(["gru"], {"reference": ["gru"]}))
