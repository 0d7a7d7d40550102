"""The import data source: cached conversion, re-keyed on changed inputs."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from bench.data.importers import IMPORTER_VERSION, ImportSource
from bench.data.storage import load_recording
from bench.errors import BenchError
from bench.registry import data_sources
from tests.data.importers.helpers import continuous_arrays


def test_import_source_caches_and_rekeys(tmp_path):
    rng = np.random.default_rng(12)
    arrays, _ = continuous_arrays(rng, n_trials=5)
    suite_dir = tmp_path / "suite"
    suite_dir.mkdir()
    np.savez(suite_dir / "rec.npz", **arrays)
    cls = data_sources.get("import")
    assert cls is ImportSource
    params = cls.Params(path="rec.npz", bin_size_s=0.02, behaviour_kind="position", label_offset=1)
    src = cls(params, cache_dir=tmp_path / "cache", base_dir=suite_dir)
    [out] = src.materialize(progress=False)
    assert out.parent.parent == tmp_path / "cache" / "imported" and out.parent.name.startswith("rec-")
    assert out.name == "rec.h5" and len(load_recording(out).trials) == 5
    mtime = out.stat().st_mtime_ns
    assert src.materialize(progress=False) == [out] and out.stat().st_mtime_ns == mtime  # reused
    # a changed input file gets a new key
    np.savez(suite_dir / "rec.npz", **{**arrays, "counts": arrays["counts"] + 1})
    os.utime(suite_dir / "rec.npz", ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    [out2] = src.materialize(progress=False)
    assert out2 != out and out2.is_file()
    assert IMPORTER_VERSION
    with pytest.raises(Exception, match="bogus"):
        cls.Params(path="rec.npz", bogus=1)
    with pytest.raises(Exception, match="needs 'path'"):
        cls.Params(recipe="imperial_bmi")
    with pytest.raises(BenchError, match=r"missing\.npz.*field 'path'"):
        cls(cls.Params(path="missing.npz", bin_size_s=0.02), cache_dir=tmp_path / "cache", base_dir=suite_dir).materialize()


SUITE = """
name: imported_tiny
task: reaching_velocity
chunk_ms: 20
seeds: [0]
train: {epochs: 1, batch_size: 8}
latency: {threads: 1, warmup: 1, n_chunks: 10}
datasets:
  - {name: mine, source: import, params: {spec: specs/session.yaml}}
models:
  - {name: wiener, params: {bin_ms: 20, n_lags: 2}}
"""


def suite_with_spec(tmp_path, spec_text: str, suite_text: str = SUITE):
    """suite/suite.yaml naming suite/specs/session.yaml, whose data file is suite/data/rec.npz."""
    rng = np.random.default_rng(17)
    arrays, _ = continuous_arrays(rng, n_trials=20)
    (tmp_path / "suite" / "data").mkdir(parents=True)
    (tmp_path / "suite" / "specs").mkdir()
    np.savez(tmp_path / "suite" / "data" / "rec.npz", **arrays)
    (tmp_path / "suite" / "specs" / "session.yaml").write_text(spec_text)
    path = tmp_path / "suite" / "suite.yaml"
    path.write_text(suite_text)
    return path


GOOD_SPEC = "path: ../data/rec.npz\nbin_size_s: 0.02\nbehaviour_kind: position\nlabel_offset: 1\n"


def test_suite_names_a_spec_file_validated_at_load_and_run(tmp_path):
    from bench.results.records import load_records
    from bench.suite.loader import load_suite
    from bench.suite.schedule import run_suite

    path = suite_with_spec(tmp_path, GOOD_SPEC)
    suite = load_suite(path)
    source = suite.source(suite.spec.datasets[0], cache_dir=tmp_path / "cache")
    assert source.spec.path == str(tmp_path / "suite" / "data" / "rec.npz")  # relative to the spec file
    assert source.spec.bin_size_s == 0.02
    out = run_suite(path, out=tmp_path / "runs", cache_dir=tmp_path / "cache", progress=False, compare=False,
                    log=lambda *_: None)
    [record] = load_records(out)
    assert record.dataset == "mine" and np.isfinite(record.summary.mean)


@pytest.mark.parametrize("spec_text, params, message", [
    ("path: ../data/rec.npz\nbin_size_s: -1\n", "{spec: specs/session.yaml}",
     r"specs/session\.yaml.*field 'bin_size_s'.*greater than or equal to 0?\.000001"),
    ("path: ../data/rec.npz\nbogus: 1\n", "{spec: specs/session.yaml}", r"specs/session\.yaml.*field 'bogus'"),
    ("path: ../data/rec.txt\n", "{spec: specs/session.yaml}", r"rec\.txt.*set format to one of npz, mat, csv"),
    ("- not a mapping\n", "{spec: specs/session.yaml}", r"specs/session\.yaml.*must hold a mapping"),
    (GOOD_SPEC, "{spec: specs/missing.yaml}", r"specs/missing\.yaml does not exist \(field 'spec'"),
    (GOOD_SPEC, "{path: specs/session.yaml}", r"name an import spec file with 'spec: specs/session\.yaml'"),
])
def test_a_broken_spec_file_fails_suite_validation(tmp_path, spec_text, params, message):
    from bench.suite.loader import load_suite

    path = suite_with_spec(tmp_path, spec_text, SUITE.replace("{spec: specs/session.yaml}", params))
    with pytest.raises(BenchError, match=message):
        load_suite(path)


def test_hint_for_continuous_recordings_without_trials(tmp_path, capsys):
    np.savez(tmp_path / "c.npz", counts=np.ones((500, 2), np.int64), behaviour=np.ones((500, 2)))
    src = ImportSource(ImportSource.Params(path="c.npz", bin_size_s=0.01), cache_dir=tmp_path / "cache", base_dir=tmp_path)
    src.materialize(progress=True)
    err = capsys.readouterr().err
    assert "hint: c is a continuous recording without trials" in err and "window_s" in err and "3.5 s" in err
