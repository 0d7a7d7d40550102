"""Run identity: a protocol and a session selection enter it only when they are not the defaults."""

import textwrap

import pytest

from bench.errors import DataError
from bench.suite.execute import DatasetCache
from bench.suite.loader import load_suite
from bench.suite.plan import plan_runs

SUITE = """
name: t
task: reaching_velocity
PROTOCOL
datasets:
  - {name: d, source: hdf5, params: {path: FOLDER}SESSIONS}
models:
  - {name: wiener}
"""


def _plan(tmp_path, folder, protocol="", sessions=""):
    p = tmp_path / "suite.yaml"
    p.write_text(textwrap.dedent(SUITE).replace("FOLDER", str(folder)).replace("PROTOCOL", protocol)
                 .replace("SESSIONS", sessions))
    suite = load_suite(p)
    return suite, plan_runs(suite)[0]


def test_the_default_protocol_leaves_the_identity_as_it_was(tmp_path, tiny_folder):
    _, plain = _plan(tmp_path, tiny_folder)
    _, explicit = _plan(tmp_path, tiny_folder, "protocol: train_eval")
    assert "protocol" not in plain.identity and plain.key == explicit.key
    assert plain.config["protocol"] == {"name": "train_eval", "params": {}}


def test_a_protocol_and_its_non_default_params_are_in_the_key(tmp_path, tiny_folder):
    _, plain = _plan(tmp_path, tiny_folder)
    _, latency = _plan(tmp_path, tiny_folder, "protocol: latency")
    _, rounds = _plan(tmp_path, tiny_folder, "protocol: {name: latency, params: {rounds: 5}, report: {reference: [x]}}")
    _, same = _plan(tmp_path, tiny_folder, "protocol: {name: latency, params: {rounds: 5}}")
    assert latency.identity["protocol"] == {"name": "latency", "version": 1}
    assert rounds.identity["protocol"]["params"] == {"rounds": 5}
    assert len({plain.key, latency.key, rounds.key}) == 3 and rounds.key == same.key  # report options: not identity


def test_selected_sessions_are_in_the_key_and_load_only_those(tmp_path, tiny_folder):
    _, every = _plan(tmp_path, tiny_folder)
    suite, second = _plan(tmp_path, tiny_folder, sessions=", sessions: [1]")
    assert second.identity["data"]["sessions"] == [1] and second.key != every.key
    recs = DatasetCache(suite, None, progress=False).recordings(suite.spec.datasets[0])
    assert [r.recording_id for r in recs] == ["tiny_1"]
    suite, _ = _plan(tmp_path, tiny_folder, sessions=", sessions: [2]")
    with pytest.raises(DataError, match=r"dataset 'd' selects sessions \[2\].*2 recording\(s\)"):
        DatasetCache(suite, None, progress=False).recordings(suite.spec.datasets[0])


def test_a_model_may_run_its_own_seeds_with_the_same_keys(tmp_path, tiny_folder):
    p = tmp_path / "suite.yaml"
    p.write_text(textwrap.dedent(SUITE).replace("FOLDER", str(tiny_folder)).replace("PROTOCOL", "seeds: [0, 1, 2]")
                 .replace("SESSIONS", "").replace("- {name: wiener}", "- {name: wiener}\n  - {name: mlp, seeds: [0]}"))
    runs = plan_runs(load_suite(p))
    assert [(r.model.name, r.seed) for r in runs] == [("wiener", 0), ("wiener", 1), ("wiener", 2), ("mlp", 0)]
    alone = tmp_path / "alone.yaml"  # a model's seed list does not enter its runs' identity
    alone.write_text(textwrap.dedent(SUITE).replace("FOLDER", str(tiny_folder)).replace("PROTOCOL", "")
                     .replace("SESSIONS", "").replace("- {name: wiener}", "- {name: mlp}"))
    assert plan_runs(load_suite(alone))[0].key == runs[-1].key
