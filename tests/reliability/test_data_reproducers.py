"""Every data / import fault of issue 13 gives the project's own one-paragraph error (or, for a
recording with almost no spikes, a loud warning) instead of a traceback or a silent score."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from bench.data.importers import import_arrays, import_file, import_from_spec, validate_spec
from bench.data.importers.source import ImportSource
from bench.data.intervals import Intervals
from bench.data.sources import FolderSource
from bench.data.storage import load_recording, save_recording
from bench.data.validity import SparseSpikesWarning
from bench.data.views import binned_counts
from bench.errors import BenchError, DataError
from bench.tasks.reaching import ReachingVelocity
from tests.conftest import make_recording
from tests.reliability.faults import good_arrays, good_h5, set_dataset


def _one_paragraph(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text and len(text) < 2000
    return text


# ----------------------------------------------------------------------------- recordings at load


@pytest.mark.parametrize("name, values, message", [
    ("spikes/timestamps", "inf", r"spikes\.timestamps holds 1 non-finite"),
    ("spikes/unit_index", "float", r"spikes\.unit_index has dtype float64; expected whole numbers"),
    ("spikes/unit_index", "range", r"unit_index ranges over \[0, 99\] but units\.id has only 4 entries"),
    ("spikes/timestamps", "complex", r"spikes\.timestamps has dtype complex128; expected real numbers"),
    ("spikes/timestamps", "text", r"not in the temporaldata / brainsets layout \(TypeError"),
    ("spikes/timestamps", "outside", r"none of its \d+ spikes lies inside its domain"),
    ("trials/end", "reversed", r"trial 0 ends at .* before it starts"),
    ("test_domain/end", "reversed", r"split 'test' \(test_domain\): interval 0 ends at .* before it starts"),
    ("test_domain/end", "outside", r"split 'test' \(test_domain\): interval 0 .* lies outside the recording's domain"),
    ("cursor/timestamps", "nan", r"timestamps cannot contain NaNs"),
])
def test_a_faulty_recording_file_is_refused_at_load(tmp_path, name, values, message):
    path = good_h5(tmp_path / "rec.h5")
    with __import__("h5py").File(path, "r") as f:
        good = f[name][()]
    bad = {
        "inf": lambda a: np.where(np.arange(a.size) == 3, np.inf, a),
        "float": lambda a: a.astype(np.float64) + 0.5,
        "range": lambda a: np.where(np.arange(a.size) == 0, 99, a),
        "complex": lambda a: a.astype(np.complex128) + 1j,
        "text": lambda a: np.array([b"x"] * a.size),
        "outside": lambda a: a + 1e4,
        "reversed": lambda a: a - 1e3,
        "nan": lambda a: np.where(np.arange(a.size) == 5, np.nan, a),
    }[values](good)
    set_dataset(path, name, bad)
    with pytest.raises(DataError, match=message) as err:
        load_recording(path)
    assert str(path) in _one_paragraph(err.value)


def _rebuilt(rec, **changes):
    """The recording built again (its construction checks run) with some fields changed."""
    fields = {k: getattr(rec, k) for k in rec.__dataclass_fields__ if not k.startswith("_")}
    return type(rec)(**{**fields, **changes})


def test_a_recording_with_one_spike_is_loudly_flagged():
    rec = make_recording(n_trials=12, n_units=4)
    with pytest.warns(SparseSpikesWarning, match=r"only 1 of its 1 spikes lie inside its domain"):
        _rebuilt(rec, spike_times=rec.spike_times[:1], spike_units=rec.spike_units[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an intact recording raises no warning
        make_recording(n_trials=12, n_units=4)


# ----------------------------------------------------------------------------- the task's targets


def _task_data(rec):
    return ReachingVelocity().prepare(rec, 0.02)


def test_nan_behaviour_on_the_scored_intervals_is_refused():
    rec = make_recording(n_trials=12, n_units=4)
    rec.behaviour.vel[:, 0] = np.nan
    with pytest.raises(DataError, match=r"Recording tiny_0: task 'reaching_velocity' targets \(vx, vy\) are not finite"):
        _task_data(rec)


def test_constant_behaviour_on_the_scored_intervals_is_refused():
    rec = make_recording(n_trials=12, n_units=4)
    rec.behaviour.vel[:, 1] = 3.0
    with pytest.raises(DataError, match=r"target vy is constant \(3\) over all \d+ scored test samples"):
        _task_data(rec)


def test_an_empty_test_split_is_refused():
    rec = make_recording(n_trials=12, n_units=4)
    rec.splits["test"] = Intervals.empty()
    with pytest.raises(DataError, match=r"its test split \(test_domain: 0 intervals, 0 s\) gives task 'reaching_velocity' nothing to score"):
        _task_data(rec)


def test_a_reversed_test_split_in_memory_is_refused():
    rec = make_recording(n_trials=12, n_units=4)
    with pytest.raises(DataError, match=r"split 'test'.*ends at 1 s before it starts at 5 s"):
        _rebuilt(rec, splits={**rec.splits, "test": Intervals(np.array([5.0]), np.array([1.0]))})


def test_a_valid_recording_scores_unchanged(tmp_path):
    """The checks refuse nothing valid: a saved and reloaded recording prepares the same segments."""
    rec = make_recording(n_trials=12, n_units=4)
    again = load_recording(save_recording(rec, tmp_path / "r.h5"))
    a, b = _task_data(rec), _task_data(again)
    for split in ("train", "valid", "test"):
        assert len(a.splits[split]) == len(b.splits[split]) > 0
        for x, y in zip(a.splits[split], b.splits[split]):
            np.testing.assert_array_equal(x.targets, y.targets)
            np.testing.assert_array_equal(x.eval_mask, y.eval_mask)


# ----------------------------------------------------------------------------- imports


def test_a_huge_count_is_refused_with_the_figure():
    arrays = good_arrays(np.random.default_rng(0))
    arrays["counts"][3, 1] = 2**31 - 1
    with pytest.raises(DataError, match=r"would need 96 GiB .* more than the 16 GiB allowed.*BENCH_MAX_ALLOC_GB"):
        import_arrays(arrays, bin_size_s=0.02)


def test_a_huge_span_is_refused_with_the_figure_before_binning(monkeypatch):
    t = np.array([0.0, 0.5, 1.0, 1e12])
    rec = import_arrays({"spike_times": t, "spike_units": np.array([0, 1, 0, 1])})
    with pytest.raises(DataError, match=r"Binning recording imported \(1e\+12 s of domain, 2 units\) at 20 ms would need [\d.e+]+ GiB"):
        binned_counts(rec, 0.02)
    monkeypatch.setenv("BENCH_MAX_ALLOC_GB", "0.000001")
    small = import_arrays({"spike_times": np.array([0.0, 100.0]), "spike_units": np.array([0, 0])})
    with pytest.raises(DataError, match=r"more than the 1e-06 GiB allowed"):
        binned_counts(small, 0.001)


def test_a_huge_span_in_an_import_is_refused_before_writing(tmp_path):
    np.savez(tmp_path / "s.npz", spike_times=np.array([0.0, 1.0, 2.0, 1e12]), spike_units=np.array([0, 1, 0, 1]))
    with pytest.raises(DataError, match=r"Writing recording s \(1e\+12 s of domain\) .* would need 1.49e\+04 GiB"):
        import_from_spec({"path": str(tmp_path / "s.npz")}, tmp_path / "out")
    assert not any((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


@pytest.mark.parametrize("bin_size_s", [1e-300, 0.0, -1.0, float("inf"), float("nan"), 1e9])
def test_an_absurd_bin_size_is_refused(bin_size_s):
    with pytest.raises(DataError, match=r"field 'bin_size_s'"):
        import_arrays(good_arrays(np.random.default_rng(0)), bin_size_s=bin_size_s)


def test_random_bytes_in_a_csv_give_a_clean_error(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=r"counts\.csv is not a text CSV file: byte .* is not UTF-8") as err:
        import_file({"path": str(path), "bin_size_s": 0.02}, tmp_path / "out.h5")
    _one_paragraph(err.value)
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize("key", ["counts", "behaviour"])
def test_complex_arrays_are_refused_not_truncated(tmp_path, key):
    arrays = good_arrays(np.random.default_rng(0))
    arrays[key] = arrays[key].astype(np.complex128) + 0.5j
    np.savez(tmp_path / "c.npz", **arrays)
    with pytest.raises(DataError, match=rf"Array '{key}' in .*c\.npz has dtype complex128; expected real numbers"):
        import_file({"path": str(tmp_path / "c.npz"), "bin_size_s": 0.02}, tmp_path / "out.h5")


@pytest.mark.parametrize("rid", ["../../x", "/tmp/abs_x", "a/b", "..", ".hidden", "c:x", ""])
def test_a_recording_id_that_is_a_path_is_refused_and_nothing_is_written(tmp_path, rid):
    arrays = good_arrays(np.random.default_rng(0))
    np.savez(tmp_path / "in.npz", **arrays)
    out = tmp_path / "deep" / "out"
    with pytest.raises(DataError, match=r"recording_id .* must be a plain name for a file"):
        import_from_spec({"path": str(tmp_path / "in.npz"), "bin_size_s": 0.02, "recording_id": rid}, out)
    assert not out.exists() and not (out / f"{rid}.h5").exists()  # where a path id would have written
    with pytest.raises(ValueError, match=r"name .* must be a plain name"):  # the suite's import source names a folder
        ImportSource.Params(path="in.npz", bin_size_s=0.02, name=rid or ".")


@pytest.mark.parametrize("pattern", ["../../../etc/*", "/etc/*", "sub/../../*", "~/*", ""])
def test_an_hdf5_pattern_cannot_leave_its_folder(tmp_path, pattern):
    with pytest.raises(ValueError, match=r"must be a relative glob inside the folder 'path'"):
        FolderSource.Params(path=str(tmp_path), pattern=pattern)


def test_an_hdf5_pattern_lists_files_inside_its_folder_only(tmp_path):
    (tmp_path / "data" / "sub").mkdir(parents=True)
    good_h5(tmp_path / "data" / "sub" / "a.h5")
    good_h5(tmp_path / "outside.h5")
    src = FolderSource(FolderSource.Params(path="data", pattern="**/*.h5"), base_dir=tmp_path)
    assert src.materialize() == [tmp_path / "data" / "sub" / "a.h5"]


def _suite_error(tmp_path: Path, dataset: str) -> str:
    """The one-paragraph error of load_suite on a tiny suite with this dataset entry."""
    from bench.suite.loader import load_suite

    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: s\ntask: reaching_velocity\nchunk_ms: 20\nseeds: [0]\n"
        f"datasets:\n  - {dataset}\nmodels:\n  - {{name: wiener, params: {{bin_ms: 20, n_lags: 2}}}}\n"
    )
    with pytest.raises(BenchError) as err:
        load_suite(suite)
    return _one_paragraph(err.value)


def test_allow_pickle_cannot_come_from_a_suite_or_spec(tmp_path):
    with pytest.raises(DataError, match=r"allow_pickle cannot be set in an import spec or a suite file"):
        validate_spec({"path": "x.npz", "bin_size_s": 0.02, "allow_pickle": True})
    text = _suite_error(tmp_path, "{name: d, source: import, params: {path: x.npz, bin_size_s: 0.02, allow_pickle: true}}")
    assert re.search(r"allow_pickle cannot be set .*--allow-pickle", text), text


def test_an_hdf5_pattern_escaping_its_folder_is_a_clean_suite_error(tmp_path):
    (tmp_path / "data").mkdir()
    text = _suite_error(tmp_path, "{name: d, source: hdf5, params: {path: data, pattern: '../../../etc/*'}}")
    assert re.search(r"pattern '\.\./\.\./\.\./etc/\*' must be a relative glob inside the folder", text), text


def test_bench_import_refuses_a_path_id_and_pickles_unless_its_runner_allows_them(tmp_path, capsys, monkeypatch):
    """Through the command line: exit 2 with one paragraph and no traceback, nothing written; the
    person running ``bench import`` (not the spec) allows unpickling with --allow-pickle. In-process
    through ``bench.cli.main`` (tests/test_cli.py covers the ``python -m bench`` entry point)."""
    import traceback
    from types import SimpleNamespace

    from bench.cli import main

    rng = np.random.default_rng(1)
    obj = np.empty(3, dtype=object)
    obj[:] = [rng.poisson(1.0, (2, n)) for n in (5, 7, 6)]
    np.savez(tmp_path / "v.npz", trial_counts=obj, labels=[0, 1, 0])
    spec = tmp_path / "spec.yaml"
    monkeypatch.chdir(Path(__file__).resolve().parents[2])

    def bench_import(*extra: str) -> SimpleNamespace:
        try:
            code, tb = main(["import", str(spec), "--out", str(tmp_path / "out"), *extra]), ""
        except Exception:  # what a user would see as a traceback
            code, tb = 1, "Traceback (in-process)\n" + traceback.format_exc()
        return SimpleNamespace(returncode=code, stderr=capsys.readouterr().err + tb)

    spec.write_text("path: v.npz\nbin_size_s: 0.02\nrecording_id: ../../escaped\n")
    bad = bench_import("--allow-pickle")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "must be a plain name" in bad.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.parent.glob("escaped*"))
    spec.write_text("path: v.npz\nbin_size_s: 0.02\n")
    refused = bench_import()
    assert refused.returncode == 2 and "--allow-pickle" in refused.stderr and "Traceback" not in refused.stderr
    allowed = bench_import("--allow-pickle")
    assert allowed.returncode == 0, allowed.stderr
    assert len(load_recording(tmp_path / "out" / "v.h5").trials) == 3


def test_a_counts_stream_with_a_huge_count_is_refused_with_the_figure():
    from bench.data.recording import FeatureStream

    stream = FeatureStream("threshold_crossings", 0.02, 0.0, np.array([[1e30, 0.0], [1.0, 2.0]]), np.array(["a", "b"]))
    with pytest.raises(DataError, match=r"Feature stream 'threshold_crossings' as spike events would need 1.49e\+22 GiB"):
        type(make_recording())("r", "s", "b", "unknown", Intervals.single(0.0, 0.04), np.zeros(0),
                               np.zeros(0, np.int64), np.zeros(0, str), features={stream.name: stream})


def test_an_empty_test_split_in_a_file_is_refused_when_the_task_is_prepared(tmp_path):
    path = good_h5(tmp_path / "rec.h5")
    set_dataset(path, "test_domain/start", np.zeros(0))
    set_dataset(path, "test_domain/end", np.zeros(0))
    with pytest.raises(DataError, match=r"rec\.h5: its test split \(test_domain: 0 intervals, 0 s\) gives task 'reaching_velocity' nothing to score"):
        _task_data(load_recording(path))


def test_a_csv_column_field_that_selects_several_columns_is_refused(tmp_path):
    """Found by the fuzzer: spike_unit_column '*' picked 3 columns and the reader failed to unpack them."""
    (tmp_path / "s.csv").write_text("t,u\n0.1,0\n0.2,1\n0.5,0\n")
    with pytest.raises(DataError, match=r"Column field\(s\) spike_time_column / spike_unit_column \(0, '\*'\) select 3 columns"):
        import_file({"path": str(tmp_path / "s.csv"), "layout": "spikes", "spike_unit_column": "*"}, tmp_path / "o.h5")
