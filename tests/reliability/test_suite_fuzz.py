"""Property tests (hypothesis): a mutated committed suite file is a valid suite or the project's own
error (one bounded paragraph), within a time bound, never a traceback or a hang.

``BENCH_FUZZ_EXAMPLES`` sets the examples per test (default 30: about 200 over the hypothesis tests
of tests/reliability, each test a few seconds). The longer campaign is
``python -m tests.reliability.fuzz_suites --n 10000 --run -1 --log LOG`` (README, Reliability).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.suite.loader import load_suite
from bench.suite.plan import plan_runs
from tests.reliability.fuzz_data import run_case
from tests.reliability.fuzz_suites import SOURCES, _paths, validate_case, warm_up

EXAMPLES = int(os.environ.get("BENCH_FUZZ_EXAMPLES", "30"))
TIME_BOUND_S = 10.0
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module", autouse=True)
def _imports_done():
    warm_up()


def _assert_clean(outcome) -> None:
    assert outcome.kind in ("ok", "error"), outcome.detail
    assert outcome.seconds < TIME_BOUND_S, f"{outcome.seconds:.1f} s"
    if outcome.kind == "error":
        assert "\n" not in outcome.detail and "Traceback" not in outcome.detail and len(outcome.detail) < 3000


def _validate_bytes(workdir: Path, data: bytes) -> None:
    path = workdir / "suite.yaml"
    path.write_bytes(data)
    plan_runs(load_suite(path))


@FUZZ
@given(index=st.integers(0, len(SOURCES) - 1), seed=st.integers(0, 2**31 - 1))
def test_a_mutated_committed_suite_is_valid_or_refused_cleanly(index, seed):
    """The fuzz script's mutations: structural (types, values, keys, nesting) then text and bytes."""
    _assert_clean(run_case(validate_case, index, seed, timeout=TIME_BOUND_S))


@FUZZ
@given(index=st.integers(0, len(SOURCES) - 1), where=st.integers(0, 10**6), value=yaml_values,
       replace=st.booleans())
def test_any_value_anywhere_is_valid_or_refused_cleanly(index, where, value, replace):
    """A value hypothesis makes up (any type, NaN, huge ints, odd text) at any place of a suite."""
    tree = yaml.safe_load(SOURCES[index])
    paths = [p for p in _paths(tree) if p]
    path = paths[where % len(paths)]
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    if replace or not isinstance(parent[path[-1]], dict):
        parent[path[-1]] = value
    else:
        parent[path[-1]][f"k{where}"] = value
    text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)
    _assert_clean(run_case(_validate_bytes, text.encode()))


@FUZZ
@given(index=st.integers(0, len(SOURCES) - 1), at=st.integers(0, 10**6), junk=st.binary(min_size=1, max_size=40))
def test_random_bytes_in_a_suite_are_valid_or_refused_cleanly(index, at, junk):
    data = SOURCES[index].encode()
    at %= len(data) + 1
    _assert_clean(run_case(_validate_bytes, data[:at] + junk + data[at:]))
