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

    def fake_scores(preset, session, epochs, lr, params, seed, context):
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


def _segment(start, queries, first_sample=0.0):
    from types import SimpleNamespace

    import numpy as np

    from bench.tasks.base import Segment

    rec = SimpleNamespace(domain=SimpleNamespace(start=np.array([first_sample, 100.0])))
    q = np.asarray(queries, float)
    return Segment(rec, start, start + 2.0, q, np.zeros((q.size, 2), np.float32), np.ones(q.size),
                   np.ones(q.size, bool))


def test_warm_segments_start_whole_chunks_earlier_and_never_before_the_recording():
    segs = [_segment(10.0, [10.2, 11.5]), _segment(0.35, [0.5, 1.5]), _segment(0.0, [0.1])]
    warm = pwp.warm_segments(segs, 1.0, 0.05)
    assert [round(s.start, 9) for s in warm] == [9.0, 0.0, 0.0]  # clamped to whole chunks after 0.0
    for cold, hot in zip(segs, warm):
        assert hot.end == cold.end and hot.query_times is cold.query_times and hot.eval_mask is cold.eval_mask
    # every query keeps its place on the chunk grid
    for cold, hot in zip(segs, warm):
        offsets = (cold.start - hot.start) / 0.05
        assert abs(offsets - round(offsets)) < 1e-9


def test_queries_split_at_the_window_length_partition_the_scored_queries():
    seg = _segment(5.0, [5.0, 5.5, 5.95, 6.0, 6.9])
    seg.eval_mask[1] = False
    early, late = pwp.queries_by_time_in_trial([seg], 1.0)
    assert early[0].eval_mask.tolist() == [True, False, True, False, False]
    assert late[0].eval_mask.tolist() == [False, False, False, True, True]
    assert seg.eval_mask.tolist() == [True, False, True, True, True]  # the input is not modified


def test_report_tables_fresh_and_warm_streams_when_runs_have_them(tmp_path):
    def ctx(fresh, clipped, full, warm):
        return dict(zip(pwp.CONTEXT_KEYS, (fresh, clipped, full, warm)))

    rows = [_row(session=0, rec="t_co/t_1"), _row(session=1, rec="t_co/t_2"), _row(session=2, rec="t_co/t_3")]
    rows[0]["context"] = {"mlp": ctx(0.70, 0.72, 0.60, 0.71), "gru": ctx(0.75, 0.76, 0.70, 0.65),
                          "poyo": ctx(0.66, 0.62, 0.64, 0.74)}
    rows[1]["context"] = {"mlp": ctx(0.60, 0.62, 0.50, 0.61), "gru": ctx(0.65, 0.66, 0.60, 0.55),
                          "poyo": ctx(0.58, 0.54, 0.56, 0.66)}
    table = pwp.report(rows, tmp_path / "none" / "records")
    lines = table.splitlines()
    assert "| t_co | t_1 | 0 | 0.700 | 0.750 | 0.660 | 0.720 | 0.760 | 0.620 | 0.600 | 0.700 | 0.640 | 0.710 | 0.650 | 0.740 |" in lines
    # the run without context scores is left out of these means (2 runs, not 3)
    means = [line for line in lines if line.startswith("| t_co | 2 ")]
    assert means == ["| t_co | 2 | 0.650 | 0.700 | 0.620 | 0.670 | 0.710 | 0.580 | 0.550 | 0.650 | 0.600 | 0.660 "
                     "| 0.600 | 0.700 | -0.030 | -0.090 | +0.050 | +0.040 |"]
    assert table.count("| t_co | 3 ") == 1  # the window-position means still count all three runs


def test_committed_follow_up_table_is_the_report_of_its_runs(monkeypatch):
    """results/nhp/poyo_window_position_followup.md (fresh / warm streams, causal training, 120
    epochs on the sessions with the largest causal gaps) is regenerated from its JSON lines."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    rows = pwp.read_rows(Path("results/nhp/poyo_window_position_followup.jsonl"))
    with_context = [r for r in rows if r.get("context")]
    assert len(with_context) >= 3
    suite = pwp.compared_scores(Path("results/nhp/records"))
    for row in with_context:
        assert set(row["context"]) == set(pwp.CONTEXT_MODELS)
        assert all(set(c) == set(pwp.CONTEXT_KEYS) for c in row["context"].values())
        for model in pwp.COMPARED_MODELS:  # the baselines trained in the run are the suite's own
            assert abs(row["context"][model]["fresh"] - suite[(model, row["seed"], row["recording_id"])]) < 1e-9
    assert pwp.report(rows, Path("results/nhp/records")) == Path("results/nhp/poyo_window_position_followup.md").read_text()
