"""The committed leaderboard belongs to the committed suite, and record identity is stable.

Every run that ``python -m bench run suites/nhp.yaml`` plans has its record in results/nhp/records,
so the tables are reproducible and ``--out results/nhp`` resumes instead of starting over. A run's
key is made of non-default settings plus versions: a new parameter with a default keeps every key,
and a version bump makes exactly that model's records stale.
"""

from pathlib import Path

import pytest
from pydantic import Field

from bench import registry
from bench.results.records import load_records
from bench.suite.loader import load_suite
from bench.suite.plan import plan_runs, sort_records

ROOT = Path(__file__).resolve().parents[2]
SUITE, RECORDS = ROOT / "suites/nhp.yaml", ROOT / "results/nhp"


def test_committed_records_match_the_suite():
    runs = plan_runs(load_suite(SUITE))
    have = {p.name for p in (RECORDS / "records").glob("*.json")}
    missing = [r.name for r in runs if r.name not in have]
    assert not missing, f"{len(missing)} of {len(runs)} planned runs have no committed record, e.g. {missing[:3]}"
    assert len(runs) == len(have) == 55


@pytest.mark.parametrize("model", ["gru", "possm-gru", "poyo-ss"])
def test_a_new_parameter_with_a_default_keeps_every_key(model, monkeypatch):
    cls = registry.models.get(model)
    extended = type("Extended", (cls.Params,), {"__annotations__": {"new_option": int}, "new_option": Field(3)})
    monkeypatch.setattr(cls, "Params", extended)
    assert "new_option" in load_suite(SUITE).model_params(next(m for m in load_suite(SUITE).spec.models
                                                               if m.name == model)).model_dump()
    stored = sort_records(plan_runs(load_suite(SUITE)), load_records(RECORDS))
    assert len(stored.current) == 55 and not stored.stale and not stored.unplanned


def test_a_version_bump_makes_exactly_that_models_records_stale(monkeypatch):
    monkeypatch.setattr(registry.models.get("gru"), "version", 2)
    stored = sort_records(plan_runs(load_suite(SUITE)), load_records(RECORDS))
    assert sorted(r.label for r, _ in stored.stale) == ["gru"] * 5
    assert all(diffs == ["model.version: 1 -> 2"] for _, diffs in stored.stale)
    assert len(stored.current) == 50 and {r.label for r in stored.current} >= {"mlp", "s4d", "possm-gru"}


def test_a_task_version_bump_makes_every_record_stale(monkeypatch):
    monkeypatch.setattr(registry.tasks.get("reaching_velocity"), "version", 2)
    stored = sort_records(plan_runs(load_suite(SUITE)), load_records(RECORDS))
    assert len(stored.stale) == 55 and not stored.current
