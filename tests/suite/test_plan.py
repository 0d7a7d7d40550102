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
