"""Bad suites fail validation with one paragraph naming the file, the field and what was expected."""

import textwrap

import pytest

from bench.errors import SuiteError
from bench.suite.loader import load_suite

GOOD = """
name: t
task: reaching_velocity
datasets:
  - {name: d, source: hdf5, params: {path: FOLDER}}
models:
  - {name: wiener}
  - {name: gru, params: {hidden: 32}, train: {epochs: 2}}
"""


def write(tmp_path, text, folder="data"):
    p = tmp_path / "suite.yaml"
    p.write_text(textwrap.dedent(text).replace("FOLDER", str(folder)))
    return p


def test_valid_suite_loads(tmp_path, tiny_folder):
    suite = load_suite(write(tmp_path, GOOD, tiny_folder))
    assert [m.name for m in suite.spec.models] == ["wiener", "gru"]
    assert suite.train_config(suite.spec.models[1]).epochs == 2
    assert suite.model_params(suite.spec.models[1]).hidden == 32


def test_unknown_model_names_field_and_alternatives(tmp_path, tiny_folder):
    p = write(tmp_path, GOOD.replace("name: gru,", "name: gruu,"), tiny_folder)
    with pytest.raises(SuiteError) as exc:
        load_suite(p)
    msg = str(exc.value)
    assert "models[1].name" in msg and "gruu" in msg and "Did you mean 'gru'" in msg and str(p) in msg


def test_missing_field(tmp_path):
    p = write(tmp_path, "name: t\ntask: reaching_velocity\nmodels: [{name: wiener}]\n")
    with pytest.raises(SuiteError, match="field 'datasets': required field is missing"):
        load_suite(p)


def test_wrong_type_in_model_params(tmp_path, tiny_folder):
    p = write(tmp_path, GOOD.replace("hidden: 32", "hidden: lots"), tiny_folder)
    with pytest.raises(SuiteError, match=r"models\[1\]\.params\.hidden.*'lots'"):
        load_suite(p)


def test_unknown_field_lists_allowed(tmp_path, tiny_folder):
    p = write(tmp_path, GOOD + "chunk_size: 3\n", tiny_folder)
    with pytest.raises(SuiteError, match="chunk_size.*unknown field.*allowed fields"):
        load_suite(p)


def test_wrong_literal_lists_allowed_values(tmp_path, tiny_folder):
    p = write(tmp_path, GOOD + "device: tpu\n", tiny_folder)
    with pytest.raises(SuiteError, match="Allowed values: 'cpu', 'cuda', 'auto'"):
        load_suite(p)


def test_model_task_kind_mismatch(tmp_path, tiny_folder, monkeypatch):
    from bench import registry
    from bench.tasks.base import TaskKind

    monkeypatch.setattr(registry.models.get("wiener"), "supported_kinds", frozenset({TaskKind.regression}))
    p = write(tmp_path, GOOD.replace("task: reaching_velocity", "task: reach_direction"), tiny_folder)
    with pytest.raises(SuiteError, match="'wiener'.*cannot do task 'reach_direction'.*supports only: regression"):
        load_suite(p)


def test_needs_gpu_needs_an_untrained_set_up(tmp_path, tiny_folder):
    p = write(tmp_path, GOOD.replace("{name: wiener}", "{name: wiener, needs_gpu: true}"), tiny_folder)
    with pytest.raises(SuiteError, match=r"'models\[0\].needs_gpu': model 'wiener' cannot be set up untrained"):
        load_suite(p)


def test_bin_not_dividing_chunk(tmp_path, tiny_folder):
    p = write(tmp_path, GOOD.replace("{name: wiener}", "{name: wiener, params: {bin_ms: 30}}"), tiny_folder)
    with pytest.raises(SuiteError, match="bin_ms=30 does not divide"):
        load_suite(p)


def test_not_yaml(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite(p)


def test_unknown_protocol_and_bad_protocol_params_name_the_field(tmp_path, tiny_folder):
    p = write(tmp_path, GOOD.replace("task: reaching_velocity", "task: reaching_velocity\nprotocol: latncy"), tiny_folder)
    with pytest.raises(SuiteError, match=r"field 'protocol.name': Unknown protocol 'latncy'.*latency"):
        load_suite(p)
    p = write(tmp_path, GOOD.replace("task: reaching_velocity",
                                     "task: reaching_velocity\nprotocol: {name: latency, params: {rounds: 0}}"), tiny_folder)
    with pytest.raises(SuiteError, match=r"protocol.params.rounds"):
        load_suite(p)
