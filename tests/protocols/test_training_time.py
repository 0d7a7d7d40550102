"""The training-time protocol: every model trains once per round on the same session."""

from bench.results.records import load_records
from bench.suite.schedule import run_suite


def test_seconds_per_epoch_per_round_and_ratio_to_the_first_model(tmp_path, protocol_suite):
    out = run_suite(protocol_suite("{name: training_time, params: {rounds: 2}}"), out=tmp_path / "run",
                    progress=False, log=lambda *_: None)
    records = {r.label: r for r in load_records(out)}
    for rec in records.values():
        assert len(rec.scores["seconds_per_epoch"]) == 2 and rec.scores["median_seconds_per_epoch"] > 0
        assert rec.train_seconds >= sum(rec.scores["seconds_per_epoch"]) * 0.99  # one epoch per round
    first_row = next(line for line in (out / "training_time.md").read_text().splitlines() if line.startswith("| wiener"))
    assert first_row.rstrip(" |").endswith("1.00")
