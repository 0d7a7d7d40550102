"""Run flags (bench.results.flags): the rules, and the marks they put in table.md and the console."""

from pathlib import Path

import numpy as np
import pytest

from bench import registry
from bench.results.flags import STREAM_RTOL, cell_flags, run_flags, session_unconverged
from bench.results.records import load_records, read_record
from bench.suite.schedule import run_suite

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = sorted((ROOT / "results/nhp/records").glob("gru__*.json"))[0]


def _record(**update):
    return read_record(COMMITTED).model_copy(update=update)


def _codes(rec):
    return [f.code for f in run_flags(rec)]


def test_committed_records_load_and_a_clean_run_has_no_flag():
    rec = read_record(COMMITTED)
    assert rec.streaming_output_scale is None and all(s.curve == [] for s in rec.sessions)  # older records
    assert "invalid_stream" not in _codes(rec)


def test_stream_tolerance_is_relative_to_the_output_scale():
    assert _codes(_record(streaming_max_abs_diff=0.05, streaming_output_scale=100.0)) == []  # 5e-4 of the scale
    flags = run_flags(_record(streaming_max_abs_diff=0.05, streaming_output_scale=10.0))
    assert [f.code for f in flags] == ["invalid_stream"] and "0.05 > tolerance 0.01" in flags[0].text
    # records without a scale: judged against 1; NaN is never valid
    assert _codes(_record(streaming_max_abs_diff=2e-3)) == ["invalid_stream"]
    assert _codes(_record(streaming_max_abs_diff=STREAM_RTOL / 2)) == []
    assert _codes(_record(streaming_max_abs_diff=float("nan"))) == ["invalid_stream"]
    assert str(flags[0]).startswith("INVALID stream: max |streamed - offline|")


@pytest.mark.parametrize("fit, unconverged", [
    ({"epochs_run": 20, "best_epoch": 19, "stopped_early": False, "max_epochs": 20}, True),
    ({"epochs_run": 20, "best_epoch": 18, "stopped_early": False}, True),  # last 10 %: epochs 19 and 20
    ({"epochs_run": 20, "best_epoch": 17, "stopped_early": False}, False),
    ({"epochs_run": 37, "best_epoch": 21, "stopped_early": True}, False),  # early stopping: converged
    ({"epochs_run": 9, "best_epoch": 8, "stopped_early": False, "hit_time_cap": True, "max_epochs": 100}, True),
    ({}, False),  # a closed-form fit (Wiener): nothing to converge
])
def test_unconverged_rule(fit, unconverged):
    rec = read_record(COMMITTED)
    session = rec.sessions[0].model_copy(update={"fit": fit})
    assert session_unconverged(session) is unconverged
    flags = run_flags(rec.model_copy(update={"sessions": [session]}))
    assert ("unconverged" in [f.code for f in flags]) is unconverged


def test_failed_untrained_and_fewer_seeds():
    assert _codes(_record(status="failed", failure_reason="loss became nan", summary=None, sessions=[])) == ["failed"]
    assert _codes(_record(trained=False, summary=None, sessions=[])) == ["untrained"]
    cell = cell_flags([_record(seed=0), _record(seed=1, streaming_max_abs_diff=1.0)], planned_seeds=3)
    assert [f.code for f in cell] == ["invalid_stream", "fewer_seeds"] and cell[1].text == "2 of 3 seeds"


def test_a_wrong_stream_is_marked_invalid_in_table_and_console(tmp_path, suite_file, monkeypatch, capsys):
    wiener = registry.models.get("wiener")
    right_step = wiener.step
    monkeypatch.setattr(wiener, "step", lambda self, chunk: right_step(self, chunk) + 0.5)
    logs = []
    out = run_suite(suite_file, out=tmp_path / "run", progress=False, log=logs.append, only_models=["wiener"],
                    compare=False)
    (rec,) = load_records(out)
    assert rec.streaming_max_abs_diff == pytest.approx(0.5, abs=1e-4) and rec.streaming_output_scale > 0
    table = (out / "table.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| wiener"))
    assert "INVALID(stream)" in row
    assert "Marks: INVALID(stream): streamed outputs differ from offline" in table
    run_line = next(line for line in capsys.readouterr().out.splitlines() if "wiener" in line and "seed 0" in line)
    assert "; INVALID STREAM: max |streamed - offline| 0.5 > tolerance" in run_line  # the run's console line
    assert any(line.startswith("wiener / tiny / seed 0: INVALID STREAM") for line in logs)  # the run's summary
    from bench.results.page import build_pages

    (page,) = [p for p in build_pages(out, tmp_path / "page") if p.suffix == ".html"]
    html = page.read_text()
    assert 'class="flag flag-invalid_stream"' in html and "max |streamed - offline| 0.5" in html


def test_a_correct_stream_has_no_mark(tmp_path, suite_file):
    logs = []
    out = run_suite(suite_file, out=tmp_path / "run", progress=False, log=logs.append, only_models=["wiener"],
                    compare=False)
    table = (out / "table.md").read_text()
    assert "INVALID" not in table and "Marks:" not in table
    assert np.isfinite(load_records(out)[0].streaming_max_abs_diff)


def test_unconverged_cells_are_marked_in_the_table(tmp_path):
    from bench.results.tables import build_report

    rec = read_record(COMMITTED)
    still_improving = {**rec.sessions[0].fit, "epochs_run": 20, "best_epoch": 19, "stopped_early": False}
    late = rec.model_copy(update={"label": "late", "sessions": [s.model_copy(update={"fit": still_improving})
                                                                 for s in rec.sessions]})
    build_report(tmp_path, [rec, late])
    table = (tmp_path / "table.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    assert "†" in rows["late"] and "†" not in rows[rec.label]
    assert "†: unconverged: training reached its epoch (or time) cap" in table


def test_the_comparison_with_the_leaderboard_names_the_flags():
    from bench.results.compare import comparison_frame

    rec = read_record(COMMITTED)
    df = comparison_frame([rec.model_copy(update={"streaming_max_abs_diff": 3.0})], [rec])
    assert df["flags yours"].tolist() == ["INVALID stream"] and df["flags leaderboard"].isna().all()
