"""Property tests (hypothesis): a faulty import spec, array, file (.npz, .csv, .mat v5 / v7.3, NWB)
or HDF5 recording gives a valid recording or the project's own error (BenchError), within a time
bound, never a traceback or a hang.

``BENCH_FUZZ_EXAMPLES`` sets the examples per test (default 30, each test a few seconds; about 200
over the hypothesis tests of tests/reliability). The longer campaign is the script
``python -m tests.reliability.fuzz_data --n 1000`` (docs/data_checks.md).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.data.importers import ImportSpec, validate_spec
from bench.errors import BenchError
from tests.reliability.fuzz_data import (
    ARRAY_OPS,
    FILE_OPS,
    H5_OPS,
    LAYOUTS,
    NWB_OPS,
    SPEC_FIELDS,
    SPEC_VALUES,
    h5_case,
    import_case,
    nwb_case,
    run_case,
)

EXAMPLES = int(os.environ.get("BENCH_FUZZ_EXAMPLES", "30"))
TIME_BOUND_S = 10.0
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

seeds = st.integers(0, 2**31 - 1)


def _assert_clean(outcome) -> None:
    assert outcome.kind in ("ok", "error"), outcome.detail
    assert outcome.seconds < TIME_BOUND_S, f"{outcome.seconds:.1f} s: {outcome.detail[:300]}"
    if outcome.kind == "error":  # one paragraph, bounded
        assert "\n" not in outcome.detail and "Traceback" not in outcome.detail and len(outcome.detail) < 3000


@FUZZ
@given(member=st.integers(0, 999), op=st.sampled_from(H5_OPS), seed=seeds)
def test_a_mutated_hdf5_recording_loads_and_is_used_or_is_refused_cleanly(member, op, seed):
    _assert_clean(run_case(h5_case, member, op, seed, timeout=TIME_BOUND_S))


@FUZZ
@given(layout=st.sampled_from(LAYOUTS), key=st.integers(0, 99), op=st.sampled_from(ARRAY_OPS + FILE_OPS),
       field=st.integers(0, len(SPEC_FIELDS) - 1), value=st.integers(-1, len(SPEC_VALUES) - 1), seed=seeds)
def test_a_mutated_import_is_imported_and_used_or_is_refused_cleanly(layout, key, op, field, value, seed):
    _assert_clean(run_case(import_case, layout, key, op, field, value, seed, timeout=TIME_BOUND_S))


@FUZZ
@given(member=st.integers(0, 999), op=st.sampled_from(NWB_OPS), field=st.integers(0, len(SPEC_FIELDS) - 1),
       value=st.integers(-1, len(SPEC_VALUES) - 1), seed=seeds)
def test_a_mutated_nwb_import_is_imported_and_used_or_is_refused_cleanly(member, op, field, value, seed):
    """Any dataset or attribute of an NLB-like NWB file changed (or the file damaged): pynwb's and
    hdmf's assorted exceptions must reach the user as one DataError paragraph."""
    _assert_clean(run_case(nwb_case, member, op, field, value, seed, timeout=TIME_BOUND_S))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(spec=st.dictionaries(st.sampled_from(SPEC_FIELDS + ("path", "features", "trial_structs", "recipe")),
                            json_values | st.sampled_from(SPEC_VALUES), max_size=6))
def test_an_arbitrary_import_spec_validates_or_is_refused_cleanly(spec):
    try:
        out = validate_spec(spec)
    except BenchError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 5000
        return
    assert isinstance(out, ImportSpec)
    assert out.recording_id is None or ("/" not in out.recording_id and ".." != out.recording_id)
    assert out.bin_size_s is None or 1e-6 <= out.bin_size_s <= 3600


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_fuzzers_unmutated_inputs_are_valid(layout):
    """The fuzzer starts from inputs that import and score: its faults are the only faults."""
    out = run_case(import_case, layout, 0, "none", 0, -1, 0, timeout=TIME_BOUND_S)
    assert out.kind == "ok", out.detail
    assert run_case(nwb_case, 0, "none", 0, -1, 0, timeout=TIME_BOUND_S).kind == "ok"
    for member in (0, 1):  # without and with feature streams
        assert run_case(h5_case, member, "none", 0, timeout=TIME_BOUND_S).kind == "ok"


@pytest.mark.parametrize("op", ["huge", "complex", "text", "float", "empty", "flip_bytes", "delete_group"])
def test_each_kind_of_fault_is_exercised_and_clean(op):
    """The same check without hypothesis, one case per kind of fault (fails loudly if a kind breaks)."""
    for member in range(0, 60, 15):
        _assert_clean(run_case(h5_case, member, op, member, timeout=TIME_BOUND_S))


def test_an_nwb_file_whose_spike_index_is_float_is_refused_cleanly():
    """Found by the fuzz_data campaign (seed 2027): units.spike_times_index stored as floats made
    hdmf's lazy slicing raise TypeError inside the units reader."""
    out = run_case(nwb_case, 143, "float", 939, -1, 760608270, timeout=TIME_BOUND_S)
    assert out.kind == "error" and "its units could not be read" in out.detail, out.detail
    _assert_clean(out)
