"""Import entry points: errors name the file, key and expectation, and nothing is half-written."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from bench.data.importers import import_arrays, import_from_spec
from bench.errors import DataError


def test_missing_file_names_path_and_field(tmp_path):
    with pytest.raises(DataError, match=r"nope\.npz.*field 'path'"):
        import_from_spec(dict(path=str(tmp_path / "nope.npz"), bin_size_s=0.02), tmp_path / "o")
    np.savetxt(tmp_path / "f.csv", np.ones((3, 2)), delimiter=",")
    with pytest.raises(DataError, match=r"missing\.csv.*field 'targets_path'"):
        import_from_spec(dict(path=str(tmp_path / "f.csv"), targets_path=str(tmp_path / "missing.csv"),
                              bin_size_s=0.02), tmp_path / "o")
    with pytest.raises(DataError, match=r"does not exist.*recipe 'imperial_bmi'"):
        import_from_spec(dict(recipe="imperial_bmi", path=str(tmp_path / "nowhere")), tmp_path / "o")


def test_missing_key_names_key(tmp_path):
    np.savez(tmp_path / "a.npz", spikes=np.ones((4, 2)))
    with pytest.raises(DataError, match=r"'counts'.*'trial_counts'.*'spike_times'"):
        import_from_spec(dict(path=str(tmp_path / "a.npz"), bin_size_s=0.02), tmp_path / "o")
    with pytest.raises(DataError, match=r"no array 'X' \(fields\.counts\).*spikes"):
        import_from_spec(dict(path=str(tmp_path / "a.npz"), bin_size_s=0.02, fields={"counts": "X"}), tmp_path / "o")
    scipy.io.savemat(tmp_path / "m.mat", {"a": np.ones(3)})
    with pytest.raises(DataError, match=r"no variable 'train_trial'"):
        import_from_spec(dict(path=str(tmp_path / "m.mat"), bin_size_s=0.001,
                              trial_structs=[{"variable": "train_trial"}]), tmp_path / "o")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())  # nothing half-written


def test_wrong_shapes_name_key_and_expected_shape(tmp_path):
    np.savez(tmp_path / "a.npz", counts=np.ones((10, 3)), behaviour=np.ones((9, 2)))
    with pytest.raises(DataError, match=r"(?i)array 'behaviour'.*\(9, 2\).*expected \(10, D\)"):
        import_from_spec(dict(path=str(tmp_path / "a.npz"), bin_size_s=0.02), tmp_path / "o")
    np.savez(tmp_path / "b.npz", counts=np.ones(10))
    with pytest.raises(DataError, match=r"(?i)array 'counts'.*\(10,\).*2-D \(T bins, U units\)"):
        import_from_spec(dict(path=str(tmp_path / "b.npz"), bin_size_s=0.02), tmp_path / "o")
    np.savez(tmp_path / "c.npz", trial_counts=np.ones((4, 3, 5)), labels=np.ones(3))
    with pytest.raises(DataError, match=r"(?i)array 'labels'.*\(3,\).*\(4,\)"):
        import_from_spec(dict(path=str(tmp_path / "c.npz"), bin_size_s=0.02), tmp_path / "o")
    with pytest.raises(DataError, match=r"whole, non-negative"):
        import_arrays(dict(counts=np.full((3, 2), 0.5)), bin_size_s=0.02)
    with pytest.raises(DataError, match=r"(?i)'label' in the arrays.*changes inside a trial"):
        import_arrays(dict(counts=np.ones((4, 2)), trial_id=[1, 1, 2, 2], label=[1, 2, 3, 3]), bin_size_s=0.02)
    with pytest.raises(DataError, match=r"bin_size_s"):
        import_arrays(dict(counts=np.ones((4, 2))))
    with pytest.raises(DataError, match=r"unknown recipe 'nope'"):
        import_from_spec(dict(recipe="nope", path="x"), tmp_path / "o")
    with pytest.raises(DataError, match=r"bogus"):
        import_from_spec(dict(path="x.npz", bogus=1), tmp_path / "o")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())  # nothing half-written





def test_cli_import_writes_the_file_and_prints_the_hint(tmp_path, capsys):
    from bench.cli import main

    np.savez(tmp_path / "c.npz", counts=np.ones((100, 2), np.int64), behaviour=np.ones((100, 2)))
    (tmp_path / "spec.yaml").write_text("path: c.npz\nbin_size_s: 0.01\nrecording_id: sess1\n")
    assert main(["import", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "o")]) == 0
    out, err = capsys.readouterr()
    assert (tmp_path / "o" / "sess1.h5").is_file() and "wrote" in out
    assert "hint: sess1 is a continuous recording without trials" in err and "window_s" in err
    assert main(["import", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.yaml does not exist" in capsys.readouterr().err
