"""The suite fuzz's tiny budget (tiny_runs.tiny_suite) keeps a mutant's structure and stays valid:
if it made valid suites invalid, the campaign would report the harness's errors as the mutants'."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.suite.loader import load_suite
from bench.suite.plan import plan_runs
from tests.reliability.fuzz_suites import SUITES
from tests.reliability.tiny_runs import TINY_SIZES, tiny_suite, write_tiny_suite


def _protocol_name(raw: dict) -> str:
    protocol = raw.get("protocol", "train_eval")
    return protocol if isinstance(protocol, str) else protocol["name"]


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_every_committed_suite_on_the_tiny_budget_is_valid_with_its_models_and_protocol(tmp_path, path):
    raw = yaml.safe_load(path.read_text())
    out = tmp_path / "tiny.yaml"
    assert write_tiny_suite(raw, out), "the small model sizes made a committed suite invalid: adjust TINY_SIZES"
    tiny = yaml.safe_load(out.read_text())
    runs = plan_runs(load_suite(out))
    assert [m["name"] for m in tiny["models"]] == [m["name"] for m in raw["models"]]
    assert [d["name"] for d in tiny["datasets"]] == [d["name"] for d in raw["datasets"]]
    assert _protocol_name(tiny) == _protocol_name(raw)
    assert {r.seed for r in runs} == {(raw.get("seeds") or [0])[0]} and tiny["train"]["epochs"] == 1


def test_a_size_the_mutant_sets_is_kept_and_relative_paths_are_anchored_at_suites():
    raw = {"name": "x", "task": "reaching_velocity", "leaderboard": "../results/nhp",
           "models": [{"name": "gru", "params": {"hidden": 7}}, {"name": "wiener"}],
           "datasets": [{"name": "d", "source": "import", "params": {"recipe": "imperial_bmi", "path": "../data"}},
                        {"name": "s", "source": "simulator", "params": {"preset": "t_co"}, "sessions": [3]}]}
    tiny = tiny_suite(raw)
    gru, wiener = tiny["models"]
    assert gru["params"]["hidden"] == 7 and gru["params"]["embed_dim"] == TINY_SIZES["embed_dim"]
    assert wiener["params"] == {}  # no size parameter of its class
    assert Path(tiny["leaderboard"]).is_absolute() and tiny["leaderboard"].endswith("suites/../results/nhp")
    assert tiny["datasets"][0]["params"]["path"].endswith("suites/../data")
    assert tiny["datasets"][1]["params"]["n_sessions"] == 1 and "sessions" not in tiny["datasets"][1]
    assert raw["models"][0]["params"] == {"hidden": 7}  # the mutant itself is not changed
