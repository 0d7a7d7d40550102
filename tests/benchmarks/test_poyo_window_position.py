"""The POYO window-position benchmark's bookkeeping: session choice, resume and the report (no training)."""

import json

import pytest

from bench.benchmarks import poyo_window_position as pwp


def _row(preset="t_co", session=0, rec="t_co/t_1", causal=0.7, paper=0.8, seed=0, params=None):
    return {"preset": preset, "session": session, "recording_id": rec, "seed": seed, "epochs": 60, "lr": 5e-4,
            "params": params or {}, "best_epoch": 40, "train_seconds": 500.0,
            "scores": {"train": 0.9, "causal": causal, "lookahead 0.1 s": causal + 0.05, "paper": paper}}


def _write_record(records_dir, model, seed, scores, chash="0"):
    records_dir.mkdir(parents=True, exist_ok=True)
    rec = {"model": model, "seed": seed, "config_hash": chash,
           "sessions": [{"recording_id": r, "metrics": {"r2": v}} for r, v in scores]}
    (records_dir / f"{model}__x__seed{seed}__{chash}.json").write_text(json.dumps(rec))


def test_session_indices_all_and_list():
    assert pwp.session_indices("t_co", "all") == list(range(6))
    assert pwp.session_indices("c_co_2016", "1,0") == [1, 0]


@pytest.mark.parametrize("preset, spec, message", [
    ("nope", "0", "unknown"), ("h_co", "1", "sessions 0..0"), ("t_co", "x", "comma-separated")])
def test_session_indices_refuses_bad_input(preset, spec, message):
    with pytest.raises(SystemExit, match=message):
        pwp.session_indices(preset, spec)


def test_read_rows_names_the_bad_line(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(_row()) + "\n{not json\n")
    with pytest.raises(SystemExit, match=r"runs.jsonl, line 2"):
        pwp.read_rows(path)
    assert pwp.read_rows(tmp_path / "absent.jsonl") == []


def test_main_skips_runs_already_recorded(tmp_path, monkeypatch, capsys):
    out = tmp_path / "runs.jsonl"
    out.write_text(json.dumps(_row(preset="c_co_2016", session=0, rec="c_co_2016/c_1")) + "\n")
    trained = []

    def fake_scores(preset, session, epochs, lr, params, seed):
        trained.append((preset, session))
        return _row(preset=preset, session=session, rec=f"{preset}/c_{session}")

    monkeypatch.setattr(pwp, "window_position_scores", fake_scores)
    assert pwp.main(["--preset", "c_co_2016", "--session", "all", "--out", str(out)]) == 0
    assert trained == [("c_co_2016", 1)]  # session 0 was in the file
    rows = pwp.read_rows(out)
    assert [r["session"] for r in rows] == [0, 1]
    assert rows[1]["provenance"]["torch_threads"] == 1
    # a different setting (another lr) is a different run, so it is not skipped
    pwp.main(["--preset", "c_co_2016", "--session", "0", "--lr", "1e-3", "--out", str(out)])
    assert trained[-1] == ("c_co_2016", 0)


def test_report_puts_poyo_beside_the_suites_mlp_and_averages(tmp_path):
    records = tmp_path / "suite" / "records"
    _write_record(records, "mlp", 0, [("t_co/t_1", 0.75), ("t_co/t_2", 0.65)])
    _write_record(records, "gru", 0, [("t_co/t_1", 0.80), ("t_co/t_2", 0.70)])
    _write_record(records, "mlp", 1, [("t_co/t_1", 0.10)])  # another seed: not compared
    rows = [_row(session=0, rec="t_co/t_1", causal=0.70, paper=0.80),
            _row(session=1, rec="t_co/t_2", causal=0.60, paper=0.72)]
    table = pwp.report(rows, records)
    lines = table.splitlines()
    assert "| t_co | t_1 | 0 | 0.750 | 0.800 | 0.700 | 0.750 | 0.800 | 0.900 | 40 | 500 |" in lines
    # means: MLP 0.70, GRU 0.75, causal 0.65, lookahead 0.70, paper 0.76, train 0.90
    mean_rows = [line for line in lines if line.startswith("| t_co | 2 ")]
    assert mean_rows == ["| t_co | 2 | 0.700 | 0.750 | 0.650 | 0.700 | 0.760 | 0.900 | -0.050 | +0.060 |"]
    header = next(line for line in lines if line.startswith("| preset | runs"))
    assert header.count("|") == mean_rows[0].count("|")


def test_report_without_a_suite_record_shows_a_dash(tmp_path):
    table = pwp.report([_row(rec="t_co/unknown")], tmp_path / "none" / "records")
    assert "| t_co | unknown | 0 | - | - | 0.700 |" in table


def test_report_keeps_training_settings_apart(tmp_path):
    rows = [_row(causal=0.70), _row(causal=0.50, params={"edge_weight": 4})]
    table = pwp.report(rows, tmp_path / "none" / "records")
    assert "## POYO-SS, 60 epochs at lr 0.0005, parameters {}" in table
    assert '## POYO-SS, 60 epochs at lr 0.0005, parameters {"edge_weight": 4}' in table
    means = [line for line in table.splitlines() if line.startswith("| all | 1 ")]
    assert sorted(m.split(" | ")[4] for m in means) == ["0.500", "0.700"]  # never averaged together
    assert "Machine: not recorded." in table


def test_report_refuses_two_configurations_of_a_compared_model(tmp_path):
    records = tmp_path / "suite" / "records"
    _write_record(records, "mlp", 0, [("t_co/t_1", 0.75)], chash="aaa")
    _write_record(records, "mlp", 0, [("t_co/t_1", 0.60)], chash="bbb")
    with pytest.raises(SystemExit, match="two mlp records"):
        pwp.report([_row()], records)


def test_committed_table_is_the_report_of_the_committed_runs(monkeypatch):
    """results/nhp/poyo_window_position.md is regenerated from its JSON lines and the suite's records,
    not edited by hand."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    rows = pwp.read_rows(Path("results/nhp/poyo_window_position.jsonl"))
    assert len(rows) == 20  # every session of the five presets
    assert pwp.report(rows, Path("results/nhp/records")) == Path("results/nhp/poyo_window_position.md").read_text()
