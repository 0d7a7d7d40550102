"""Protocol parameters that set how long a run trains or times (epoch budgets, rounds, lookaheads)
have upper bounds and finite values: a suite asking for 10^9 rounds or NaN seconds is refused by
`bench validate` with the field named, not found out hours into `bench run`."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bench.errors import SuiteError
from bench.protocols.window_position import WindowPositionParams
from bench.suite.loader import load_suite
from bench.suite.plan import plan_runs

SUITE = """
name: bounds
task: reaching_velocity
protocol: {{name: {name}, params: {params}}}
datasets:
  - {{name: sim, source: simulator, params: {{preset: c_co_2016, n_sessions: 1, n_trials: 12, n_neurons: 12}}}}
models:
  - {{name: {model}}}
"""


def _validate(tmp_path: Path, name: str, params: str, model: str = "gru") -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE.format(name=name, params=params, model=model))
    plan_runs(load_suite(path))


@pytest.mark.parametrize("name, params, field", [
    ("learning_curve", "{epochs: [0]}", "epochs"),
    ("learning_curve", "{epochs: [-5, 10]}", "epochs"),
    ("learning_curve", "{epochs: [1000000000]}", "epochs"),
    ("learning_curve", "{epochs: [" + ", ".join(["1"] * 51) + "]}", "epochs"),
    ("latency", "{rounds: 1000000000}", "rounds"),
    ("latency", "{rounds: 0}", "rounds"),
    ("training_time", "{rounds: 100000}", "rounds"),
    ("window_position", "{lookaheads: [-1.0]}", "lookaheads"),
    ("window_position", "{lookaheads: [1.0e+9]}", "lookaheads"),
    ("window_position", "{context_s: 1.0e+7}", "context_s"),
])
def test_out_of_bounds_protocol_parameters_are_refused_naming_the_field(tmp_path, name, params, field):
    model = "poyo-ss" if name == "window_position" else "gru"
    with pytest.raises(SuiteError) as info:
        _validate(tmp_path, name, params, model)
    message = str(info.value)
    assert field in message and "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("name, params", [
    ("learning_curve", "{epochs: [1, 100000]}"),
    ("latency", "{rounds: 1000}"),
    ("training_time", "{rounds: 100}"),
    ("window_position", "{lookaheads: [0.0, 60.0], context_s: 3600}"),
])
def test_protocol_parameters_at_their_bounds_are_accepted(tmp_path, name, params):
    _validate(tmp_path, name, params, "poyo-ss" if name == "window_position" else "gru")


@pytest.mark.parametrize("values", [{"lookaheads": [float("nan")]}, {"context_s": float("inf")}])
def test_non_finite_protocol_parameters_are_refused_even_past_the_yaml_reader(values):
    """The YAML reader refuses .nan / .inf first; parameters reaching a protocol another way (a
    command-line override, a dict from code) are checked by the parameters themselves."""
    with pytest.raises(ValidationError, match="finite"):
        WindowPositionParams(**values)


REPORT_SUITE = """
name: report
task: reaching_velocity
protocol: {{name: {name}, report: {report}}}
datasets:
  - {{name: sim, source: simulator, params: {{preset: c_co_2016, n_sessions: 1, n_trials: 12, n_neurons: 12}}}}
models:
  - {{name: poyo-ss}}
"""


@pytest.mark.parametrize("name, report, field", [
    # found by the suite fuzz: a dict among reference_models crashed the table after every run (TypeError)
    ("window_position", "{reference: ../results/nhp, reference_models: [mlp, {x: gru}]}", "reference_models"),
    ("window_position", "{reference: [../results/nhp]}", "reference"),
    ("window_position", "{reference_modles: [mlp]}", "reference_modles"),
    ("latency", "{reference: 7}", "reference"),
    ("latency", "{reference: [gru, {name: gru}]}", "reference"),
])
def test_protocol_table_options_are_checked_before_any_run(tmp_path, name, report, field):
    path = tmp_path / "suite.yaml"
    path.write_text(REPORT_SUITE.format(name=name, report=report))
    with pytest.raises(SuiteError) as info:
        plan_runs(load_suite(path))
    assert "protocol.report" in str(info.value) and field in str(info.value)
