"""MATLAB files: v5 struct arrays and flat variables, v7.3 (HDF5) arrays and struct arrays."""

from __future__ import annotations

import h5py
import numpy as np
import scipy.io

from bench.data.importers import import_arrays, import_file
from bench.data.storage import load_recording
from tests.data.importers.helpers import continuous_arrays, split_index, trial_counts_of


def _struct_array(rng, shape, id_start, n_units=4, n_bins=50):
    arr = np.empty(shape, dtype=[("trialId", object), ("spikes", object)])
    truth = {}
    ids = rng.permutation(np.arange(id_start, id_start + int(np.prod(shape))))
    for k, idx in enumerate(np.ndindex(shape)):
        spikes = (rng.random((n_units, n_bins)) < 0.05).astype(np.uint8)
        arr[idx] = (np.array([[ids[k]]]), spikes)
        truth[int(ids[k])] = (spikes, idx[1])
    return arr, truth


def test_mat_struct_arrays_like_ee239as(tmp_path):
    rng = np.random.default_rng(7)
    train, t1 = _struct_array(rng, (6, 4), 100)
    test, t2 = _struct_array(rng, (2, 4), 200)
    scipy.io.savemat(tmp_path / "ps.mat", {"train_trial": train, "test_trial": test})
    spec = dict(
        path=str(tmp_path / "ps.mat"),
        layout="trials",
        trial_structs=[{"variable": "train_trial", "split": "train"}, {"variable": "test_trial", "split": "test"}],
        counts_field="spikes",
        id_field="trialId",
        label_axis=1,
        bin_size_s=0.001,
    )
    rec = load_recording(import_file(spec, tmp_path / "ps.h5"))
    truth = {**t1, **t2}
    order = sorted(truth)  # trials are laid out by trial id
    assert len(rec.trials) == 32 and rec.n_units == 4
    for i, tid in enumerate(order):
        spikes, col = truth[tid]
        np.testing.assert_array_equal(trial_counts_of(rec, i, 0.001), spikes.T)
        assert rec.trials.target_id[i] == col
    names = split_index(rec)
    np.testing.assert_array_equal(names == "test", np.array(order) >= 200)
    assert (names == "valid").sum() == 3  # 1/8 of 24 train trials


def test_mat_flat_variables_renamed(tmp_path):
    rng = np.random.default_rng(8)
    arrays, lengths = continuous_arrays(rng, n_trials=6)
    scipy.io.savemat(
        tmp_path / "c.mat",
        {"X": arrays["counts"].astype(float), "P": arrays["behaviour"], "tid": arrays["trial_id"], "dir": arrays["label"]},
    )
    spec = dict(
        path=str(tmp_path / "c.mat"),
        fields={"counts": "X", "behaviour": "P", "trial_id": "tid", "label": "dir"},
        bin_size_s=0.02,
        behaviour_kind="position",
    )
    rec = load_recording(import_file(spec, tmp_path / "c.h5"))
    assert len(rec.trials) == 6
    np.testing.assert_array_equal(rec.trials.target_id, arrays["label"])
    np.testing.assert_array_equal(trial_counts_of(rec, 0, 0.02), arrays["counts"][: lengths[0]])
    assert rec.behaviour.vel.shape == (int(lengths.sum()), 3)


def test_mat_v73_numeric_arrays(tmp_path):
    rng = np.random.default_rng(9)
    counts = rng.poisson(1.0, (40, 3)).astype(float)
    with h5py.File(tmp_path / "v73.mat", "w", userblock_size=512) as f:
        d = f.create_dataset("counts", data=counts.T)  # MATLAB writes column-major
        d.attrs["MATLAB_class"] = np.bytes_("double")
    with open(tmp_path / "v73.mat", "r+b") as fh:  # the text header MATLAB puts in the user block
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .".ljust(116))
    rec = import_arrays({"counts": counts}, bin_size_s=0.02)
    rec2 = load_recording(import_file(dict(path=str(tmp_path / "v73.mat"), bin_size_s=0.02), tmp_path / "v.h5"))
    np.testing.assert_array_equal(rec2.spike_times, rec.spike_times)
    np.testing.assert_array_equal(rec2.spike_units, rec.spike_units)


def test_mat_v73_struct_array(tmp_path):
    """A 2 x 4 struct array of trials as MATLAB v7.3 stores it (fields = arrays of references)."""
    rng = np.random.default_rng(13)
    truth = {}
    with h5py.File(tmp_path / "s.mat", "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        g = f.create_group("trials")
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        r_sp = np.empty((4, 2), dtype=h5py.ref_dtype)  # stored transposed
        r_id = np.empty((4, 2), dtype=h5py.ref_dtype)
        for k, (i, j) in enumerate(np.ndindex(2, 4)):
            s = (rng.random((3, 20)) < 0.2).astype(np.uint8)
            d = refs.create_dataset(f"s{k}", data=s.T)
            e = refs.create_dataset(f"i{k}", data=np.array([[50.0 - k]]))
            r_sp[j, i], r_id[j, i] = d.ref, e.ref
            truth[50 - k] = (s, j)
        g.create_dataset("spikes", data=r_sp)
        g.create_dataset("trialId", data=r_id)
    spec = dict(path=str(tmp_path / "s.mat"), trial_structs=[{"variable": "trials"}], id_field="trialId",
                label_axis=1, bin_size_s=0.001)
    rec = load_recording(import_file(spec, tmp_path / "s.h5"))
    assert len(rec.trials) == 8 and rec.n_units == 3
    for i, tid in enumerate(sorted(truth)):
        s, col = truth[tid]
        np.testing.assert_array_equal(trial_counts_of(rec, i, 0.001), s.T)
        assert rec.trials.target_id[i] == col



