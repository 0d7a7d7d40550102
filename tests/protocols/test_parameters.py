"""The parameters protocol: models set up untrained where they can, counts beside the paper's."""

from bench import registry
from bench.results.records import load_records
from bench.suite.schedule import run_suite


def test_counts_without_training_and_deviation_from_the_paper(tmp_path, protocol_suite, monkeypatch):
    monkeypatch.setattr(registry.models.get("gru"), "paper_parameters", 1000)
    out = run_suite(protocol_suite("parameters"), out=tmp_path / "run", progress=False, log=lambda *_: None)
    records = {r.label: r for r in load_records(out)}
    gru = records["gru"]
    assert gru.n_parameters > 1000 and gru.scores == {"paper_parameters": 1000, "n_units": 16}
    assert gru.train_seconds == 0.0 and gru.identity["protocol"] == {"name": "parameters", "version": 1}
    row = next(line for line in (out / "parameters.md").read_text().splitlines() if line.startswith("| gru"))
    assert f"{(gru.n_parameters - 1000) / 1000:+.1%}" in row
    assert records["wiener"].scores["paper_parameters"] is None
