"""Command options as suite changes: only what is given changes, nested fields merge."""

import textwrap

from bench.suite.overrides import suite_overrides

SUITE = """
name: t
task: reaching_velocity
protocol: latency
latency: {threads: 1, n_chunks: 300}
datasets:
  - {name: a, source: simulator, params: {preset: c_co_2016}}
  - {name: b, source: simulator, params: {preset: t_co}}
models:
  - {name: wiener}
  - {name: gru, params: {hidden: 32}}
"""


def test_changes_merge_into_the_files_fields(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(SUITE))
    out = suite_overrides(p, {"latency.threads": 2, "protocol.params.rounds": 4, "datasets.params.scale": "paper",
                              "chunk_ms": 20.0, "train.epochs": None})
    assert out["latency"] == {"threads": 2, "n_chunks": 300}
    assert out["protocol"] == {"name": "latency", "params": {"rounds": 4}}
    assert [d["params"] for d in out["datasets"]] == [{"preset": "c_co_2016", "scale": "paper"},
                                                       {"preset": "t_co", "scale": "paper"}]
    assert out["chunk_ms"] == 20.0 and "train" not in out and "models" not in out


def test_models_keep_the_files_configuration_where_it_lists_them(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent(SUITE))
    assert suite_overrides(p, {}, models=["gru", "mlp"])["models"] == [{"name": "gru", "params": {"hidden": 32}},
                                                                      {"name": "mlp"}]
