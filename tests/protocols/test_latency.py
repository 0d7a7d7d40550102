"""The latency protocol: models timed together in interleaved rounds, pooled, tabled with ratios."""

import numpy as np

from bench.latency import LatencyStats
from bench.protocols.latency import pooled
from bench.results.records import load_records
from bench.suite.schedule import run_suite


def _stats(samples):
    return LatencyStats("cpu", 1, len(samples), 0, 50.0, 1.0, 0, 0, 0, 0, 0, 0, np.asarray(samples, float))


def test_pooled_rounds_are_percentiles_of_every_sample():
    out = pooled([_stats([1.0, 2.0]), _stats([3.0, 0.5])])
    assert out["n_chunks"] == 4 and out["rounds"] == 2
    assert out["median_ms"] == np.median([1, 2, 3, 0.5]) and out["max_ms"] == 3.0
    assert out["over_budget_fraction"] == 0.5  # 2 and 3 ms over the 1 ms budget


def test_models_are_timed_together_and_tabled_against_a_reference(tmp_path, protocol_suite):
    suite = protocol_suite("{name: latency, params: {rounds: 2}, report: {reference: [gru]}}")
    logs = []
    out = run_suite(suite, out=tmp_path / "run", progress=False, log=logs.append, jobs=2)
    assert "(2 in parallel)" not in logs[0]  # timing protocols never run in parallel workers
    records = {r.label: r for r in load_records(out)}
    assert set(records) == {"wiener", "gru"}
    for rec in records.values():
        assert rec.protocol == "latency" and rec.summary is None
        assert rec.latency["cpu"]["n_chunks"] == 20 and rec.latency["cpu"]["rounds"] == 2
        assert rec.scores["timed_with"] == ["wiener", "gru"] and rec.scores["recording"] == "tiny_0"
        assert rec.identity["protocol"] == {"name": "latency", "version": 1, "params": {"rounds": 2}}
    table = (out / "latency.md").read_text()
    gru_row = next(line for line in table.splitlines() if line.startswith("| gru"))
    assert "x gru" in table and gru_row.rstrip(" |").endswith("1.000")
    assert (out / "latency.csv").exists() and not (out / "table.md").exists()
    logs.clear()
    run_suite(suite, out=tmp_path / "run", progress=False, log=logs.append)
    assert "2 runs, 2 already recorded, 0 to run" in logs[0]
