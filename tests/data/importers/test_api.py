"""Importer: .npz / .mat / .csv arrays -> HDF5 recordings (docs/import_schema.md)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from bench.data.importers import (
    IMPORTER_VERSION,
    ImportSource,
    import_arrays,
    import_file,
    import_from_spec,
)
from bench.data.recording import load_recording
from bench.errors import BenchError, DataError
from bench.registry import data_sources

REALDATA = Path(__file__).resolve().parents[3].parent / "shared" / "realdata"
EPS = 1e-9


# ----------------------------------------------------------------------------- helpers


def rebin(times, units, n_units, start, n_bins, bin_s):
    """Counts (n_bins, n_units) of bins [start + i*bin_s, ...) - independent of bench.data.views."""
    idx = np.floor((times - start) / bin_s + EPS).astype(np.int64)
    keep = (idx >= 0) & (idx < n_bins)
    flat = idx[keep] * n_units + units[keep]
    return np.bincount(flat, minlength=n_bins * n_units).reshape(n_bins, n_units)


def trial_counts_of(rec, i, bin_s):
    s, e = rec.trials.start[i], rec.trials.end[i]
    n = int(round((e - s) / bin_s))
    return rebin(rec.spike_times, rec.spike_units, rec.n_units, s, n, bin_s)


def split_index(rec):
    """Split name of each trial (by its start)."""
    out = np.full(len(rec.trials), "", dtype=object)
    for name, iv in rec.splits.items():
        hit = iv.contains(rec.trials.start + 1e-6)
        assert not np.any(out[hit] != ""), "a trial is in two splits"
        out[hit] = name
    return out


def continuous_arrays(rng, n_trials=10, n_units=5, bins=(15, 25)):
    lengths = rng.integers(bins[0], bins[1], n_trials)
    T = int(lengths.sum())
    counts = rng.poisson(1.2, (T, n_units))
    trial_id = np.repeat(np.arange(1, n_trials + 1), lengths)
    pos = np.cumsum(rng.normal(size=(T, 3)), axis=0)
    label = (np.arange(n_trials) % 4) + 1
    return dict(counts=counts, behaviour=pos, trial_id=trial_id, label=label), lengths


# ----------------------------------------------------------------------------- continuous layout


def test_npz_continuous_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    arrays, lengths = continuous_arrays(rng)
    np.savez(tmp_path / "rec.npz", **arrays)
    b = 0.02
    out = import_file(
        dict(path=str(tmp_path / "rec.npz"), bin_size_s=b, behaviour_kind="position", label_offset=1,
             behaviour_columns=[0, 1]),
        tmp_path / "out.h5",
    )
    rec = load_recording(out)
    assert rec.n_units == 5 and len(rec.trials) == 10
    assert rec.task_type == "center_out"
    np.testing.assert_array_equal(rec.trials.target_id, arrays["label"] - 1)
    assert rec.trials.is_valid.all()
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    for i in range(10):
        a, z = bounds[i], bounds[i + 1]
        np.testing.assert_array_equal(trial_counts_of(rec, i, b), arrays["counts"][a:z])
        # behaviour at bin centres, velocity = backward difference within the trial
        lo, hi = np.searchsorted(rec.behaviour.timestamps, [rec.trials.start[i], rec.trials.end[i]])
        assert hi - lo == z - a
        np.testing.assert_allclose(
            rec.behaviour.timestamps[lo:hi], rec.trials.start[i] + (np.arange(z - a) + 0.5) * b, atol=1e-9
        )
        pos = arrays["behaviour"][a:z, :2]
        np.testing.assert_allclose(rec.behaviour.pos[lo:hi], pos)
        vel = np.diff(pos, axis=0) / b
        np.testing.assert_allclose(rec.behaviour.vel[lo + 1 : hi], vel)
        np.testing.assert_allclose(rec.behaviour.vel[lo], vel[0])
    # trials start on the 0.1 s grid, at least 0.1 s apart
    assert np.allclose(np.round(rec.trials.start / 0.1) * 0.1, rec.trials.start)
    assert np.all(rec.trials.start[1:] - rec.trials.end[:-1] >= 0.1 - 1e-9)
    # the reach period starts one bin in (no backward difference for the first bin)
    np.testing.assert_allclose(rec.phases["reach_period"].start, rec.trials.start + b)
    np.testing.assert_allclose(rec.phases["reach_period"].end, rec.trials.end)
    # 70/10/20 by trial, seed 42
    names = split_index(rec)
    assert sorted(np.unique(names, return_counts=True)[1]) == [1, 2, 7]
    assert (names == "train").sum() == 7 and (names == "test").sum() == 2


def test_domain_roundtrips_through_hdf5(tmp_path):
    rng = np.random.default_rng(1)
    arrays, _ = continuous_arrays(rng, n_trials=4)
    rec = import_arrays(arrays, bin_size_s=0.02, behaviour_kind="position", label_offset=1)
    assert len(rec.domain) == 4 and rec.domain.start[0] == 0.0
    np.testing.assert_allclose(rec.domain.start, rec.trials.start)
    from bench.data.recording import save_recording

    loaded = load_recording(save_recording(rec, tmp_path / "r.h5"))
    with h5py.File(tmp_path / "r.h5", "r") as f:
        np.testing.assert_allclose(f["domain/start"][:], rec.domain.start)
    assert len(loaded.domain) == len(rec.domain)
    np.testing.assert_allclose(loaded.domain.start, rec.domain.start)


def test_continuous_without_trials_velocity_and_block_splits():
    rng = np.random.default_rng(2)
    counts = rng.poisson(0.5, (100, 3))
    vel = rng.normal(size=(100, 2))
    rec = import_arrays(dict(counts=counts, behaviour=vel), bin_size_s=0.01, behaviour_name="cursor")
    assert rec.trials is None and rec.task_type == "random_target"
    assert rec.behaviour.name == "cursor" and rec.behaviour.pos is None
    np.testing.assert_allclose(rec.behaviour.vel, vel)
    np.testing.assert_array_equal(rebin(rec.spike_times, rec.spike_units, 3, 0.0, 100, 0.01), counts)
    assert [(float(s), float(e)) for s, e in rec.splits["train"]] == [(0.0, pytest.approx(0.7))]
    assert rec.splits["valid"].duration == pytest.approx(0.1)
    assert rec.splits["test"].duration == pytest.approx(0.2)
    assert "random_period" in rec.phases


def test_jitter_placement_keeps_counts_and_is_seeded():
    rng = np.random.default_rng(3)
    counts = rng.poisson(3.0, (50, 4))
    a = import_arrays(dict(counts=counts), bin_size_s=0.05, spike_placement="jitter", seed=7)
    b = import_arrays(dict(counts=counts), bin_size_s=0.05, spike_placement="jitter", seed=7)
    c = import_arrays(dict(counts=counts), bin_size_s=0.05, spike_placement="jitter", seed=8)
    np.testing.assert_array_equal(a.spike_times, b.spike_times)
    assert not np.array_equal(a.spike_times, c.spike_times)
    np.testing.assert_array_equal(rebin(a.spike_times, a.spike_units, 4, 0.0, 50, 0.05), counts)


def test_one_ms_bins_recover_spike_times():
    rng = np.random.default_rng(4)
    true_ms = np.sort(rng.choice(2000, 300, replace=False))
    units = rng.integers(0, 3, 300)
    counts = np.zeros((2000, 3), np.uint8)
    np.add.at(counts, (true_ms, units), 1)
    rec = import_arrays(dict(counts=counts), bin_size_s=0.001)
    np.testing.assert_array_equal(np.floor(rec.spike_times * 1000 + EPS).astype(int), true_ms)
    np.testing.assert_array_equal(rec.spike_units, units[np.argsort(true_ms, kind="stable")])


# ----------------------------------------------------------------------------- trials layout


def test_npz_trials_with_file_split(tmp_path):
    rng = np.random.default_rng(5)
    N, U, T = 40, 6, 30
    tc = rng.poisson(0.8, (N, U, T))
    labels = np.arange(N) % 8
    split = np.where(np.arange(N) % 5 == 0, "test", "train")
    np.savez(tmp_path / "t.npz", trial_counts=tc, labels=labels, trial_split=split)
    [out] = import_from_spec(dict(path="t.npz", bin_size_s=0.001), tmp_path / "o", base_dir=tmp_path)
    assert out == tmp_path / "o" / "t.h5"
    rec = load_recording(out)
    assert rec.n_units == U and len(rec.trials) == N and rec.behaviour is None
    np.testing.assert_array_equal(rec.trials.target_id, labels)
    for i in range(N):
        np.testing.assert_array_equal(trial_counts_of(rec, i, 0.001), tc[i].T)
    names = split_index(rec)
    np.testing.assert_array_equal(names == "test", split == "test")
    n_train_file = int((split == "train").sum())  # 32 -> 4 valid, 28 train
    assert (names == "valid").sum() == round(n_train_file / 8)
    assert (names == "train").sum() == n_train_file - round(n_train_file / 8)


def test_trials_variable_length_padded_and_pickled(tmp_path):
    rng = np.random.default_rng(6)
    lengths = np.array([10, 14, 7, 12])
    trials = [rng.poisson(1.0, (3, n)) for n in lengths]
    padded = np.zeros((4, 3, 14), np.int64)
    for i, t in enumerate(trials):
        padded[i, :, : t.shape[1]] = t
    beh = [rng.normal(size=(n, 2)) for n in lengths]  # (T_i, D) also accepted
    rec = import_arrays(
        dict(trial_counts=padded, trial_lengths=lengths, labels=[1, 2, 1, 2], trial_behaviour=beh),
        bin_size_s=0.02,
    )
    for i, t in enumerate(trials):
        np.testing.assert_array_equal(trial_counts_of(rec, i, 0.02), t.T)
    np.testing.assert_allclose(rec.behaviour.vel, np.concatenate(beh))
    # lists of different lengths in an .npz need allow_pickle
    obj = np.empty(4, dtype=object)
    obj[:] = trials
    np.savez(tmp_path / "v.npz", trial_counts=obj, labels=[1, 2, 1, 2])
    with pytest.raises(DataError, match="allow_pickle"):
        import_file(dict(path=str(tmp_path / "v.npz"), bin_size_s=0.02), tmp_path / "v.h5")
    rec2 = load_recording(
        import_file(dict(path=str(tmp_path / "v.npz"), bin_size_s=0.02, allow_pickle=True), tmp_path / "v.h5")
    )
    for i, t in enumerate(trials):
        np.testing.assert_array_equal(trial_counts_of(rec2, i, 0.02), t.T)


# ----------------------------------------------------------------------------- .mat files


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


# ----------------------------------------------------------------------------- .csv files


def test_csv_continuous_by_name_and_by_index(tmp_path):
    rng = np.random.default_rng(10)
    arrays, lengths = continuous_arrays(rng, n_trials=8)
    import pandas as pd

    pd.DataFrame(arrays["counts"], columns=[f"u{i}" for i in range(5)]).to_csv(tmp_path / "f.csv", index=False)
    tg = pd.DataFrame(arrays["behaviour"], columns=["x", "y", "z"])
    tg["dir"] = np.repeat(arrays["label"], lengths)
    tg["trial"] = arrays["trial_id"]
    tg.to_csv(tmp_path / "t.csv", index=False)
    spec = dict(
        path="f.csv", targets_path="t.csv", counts_columns=["u0", "u2", "u4"], behaviour_columns=["x", "y"],
        behaviour_kind="position", label_column="dir", trial_column="trial", label_offset=1, bin_size_s=0.02,
    )
    [out] = import_from_spec(spec, tmp_path / "o", base_dir=tmp_path)
    rec = load_recording(out)
    assert rec.n_units == 3 and len(rec.trials) == 8
    np.testing.assert_array_equal(rec.trials.target_id, arrays["label"] - 1)
    np.testing.assert_array_equal(trial_counts_of(rec, 2, 0.02), arrays["counts"][lengths[:2].sum() : lengths[:3].sum()][:, [0, 2, 4]])
    # headerless files, columns by position (the imperial_bmi layout)
    np.savetxt(tmp_path / "f2.csv", arrays["counts"], delimiter=",", fmt="%d")
    np.savetxt(tmp_path / "t2.csv", tg.to_numpy(), delimiter=",")
    spec2 = dict(spec, path="f2.csv", targets_path="t2.csv", counts_columns=None, behaviour_columns=[0, 1],
                 label_column=3, trial_column=4)
    rec2 = load_recording(import_from_spec(spec2, tmp_path / "o2", base_dir=tmp_path)[0])
    assert rec2.n_units == 5
    np.testing.assert_allclose(rec2.behaviour.vel, rec.behaviour.vel)


def test_csv_spikes_layout(tmp_path):
    rng = np.random.default_rng(11)
    t = np.sort(rng.uniform(0, 10, 500))
    u = rng.choice([3, 7, 12], 500)
    np.savetxt(tmp_path / "s.csv", np.c_[t, u], delimiter=",", header="time,unit", comments="")
    bt = np.arange(0, 10, 0.01)
    pos = np.c_[np.sin(bt), np.cos(bt)]
    np.savetxt(tmp_path / "b.csv", np.c_[bt, pos], delimiter=",", header="t,x,y", comments="")
    starts = np.arange(0, 10, 1.0)
    np.savetxt(tmp_path / "tr.csv", np.c_[starts, starts + 0.8, np.arange(10) % 2], delimiter=",",
               header="start,end,dir", comments="")
    spec = dict(format="csv", layout="spikes", path="s.csv", spike_time_column="time", spike_unit_column="unit",
                behaviour_path="b.csv", behaviour_time_column="t", behaviour_kind="position",
                trials_path="tr.csv", label_column="dir")
    rec = load_recording(import_from_spec(spec, tmp_path / "o", base_dir=tmp_path)[0])
    np.testing.assert_allclose(rec.spike_times, t)
    assert list(rec.unit_ids) == ["unit_003", "unit_007", "unit_012"]
    np.testing.assert_array_equal(rec.unit_ids[rec.spike_units], [f"unit_{x:03d}" for x in u])
    np.testing.assert_allclose(rec.behaviour.vel[1:], np.diff(pos, axis=0) / 0.01, rtol=1e-6)
    assert len(rec.trials) == 10 and set(rec.trials.target_id) == {0, 1}
    assert sum(len(v) for v in rec.splits.values()) == 10


def test_npz_spikes_layout_with_given_split(tmp_path):
    t = np.array([0.5, 0.1, 2.2, 3.3, 4.9])
    rec = import_arrays(
        dict(spike_times=t, spike_units=[0, 1, 0, 1, 1], unit_ids=["a", "b"], trial_start=[0, 2, 4],
             trial_end=[1, 3, 5], labels=[2, 3, 2], trial_split=["train", "train", "test"]),
        valid_fraction_of_train=0.0,
    )
    np.testing.assert_allclose(rec.spike_times, np.sort(t))
    assert list(rec.unit_ids[rec.spike_units]) == ["b", "a", "a", "b", "b"]
    assert len(rec.splits["train"]) == 2 and len(rec.splits["test"]) == 1 and len(rec.splits["valid"]) == 0


# ----------------------------------------------------------------------------- errors


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


# ----------------------------------------------------------------------------- data source


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


# ----------------------------------------------------------------------------- the real datasets

needs_realdata = pytest.mark.skipif(
    not REALDATA.is_dir(), reason=f"real datasets not present at {REALDATA} (only in the project's shared folder)"
)


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("realcache")


@needs_realdata
def test_imperial_bmi_import_and_ridge_decoding(real_cache):
    src = ImportSource(ImportSource.Params(recipe="imperial_bmi", path=str(REALDATA / "imperial_bmi")), cache_dir=real_cache)
    [path] = src.materialize(progress=False)
    rec = load_recording(path)
    b = 0.02
    assert rec.n_units == 98 and len(rec.trials) == 800
    assert rec.behaviour.name == "hand" and rec.behaviour.vel.shape == (18203, 2)
    n_bins = np.round((rec.trials.end - rec.trials.start) / b).astype(int)
    assert n_bins.sum() == 18203 and n_bins.min() == 19 and n_bins.max() == 39
    rate = rec.spike_times.size / (n_bins.sum() * b) / rec.n_units
    assert 20.0 < rate < 23.0  # ~21.4 Hz
    assert sorted(np.unique(rec.trials.target_id)) == list(range(8))
    assert np.all(np.bincount(rec.trials.target_id) == 100)
    names = split_index(rec)
    assert (names == "train").sum() == 560 and (names == "valid").sum() == 80 and (names == "test").sum() == 160

    # ridge regression on the current + 4 previous 20 ms bins, within each trial
    X, Y, S = [], [], []
    first = np.round(rec.trials.start / b).astype(int)  # trials start on the 20 ms grid from 0
    assert np.allclose(first * b, rec.trials.start)
    whole = rebin(rec.spike_times, rec.spike_units, rec.n_units, 0.0, int(first[-1] + n_bins[-1]), b)
    for i in range(len(rec.trials)):
        c = whole[first[i] : first[i] + n_bins[i]].astype(float)
        pad = np.concatenate([np.zeros((4, c.shape[1])), c])
        X.append(np.concatenate([pad[4 - j : 4 - j + c.shape[0]] for j in range(5)], axis=1))
        lo, hi = np.searchsorted(rec.behaviour.timestamps, [rec.trials.start[i], rec.trials.end[i]])
        Y.append(rec.behaviour.vel[lo:hi])
        S.append(np.full(c.shape[0], names[i]))
    X, Y, S = np.concatenate(X), np.concatenate(Y), np.concatenate(S)
    tr, te = S != "test", S == "test"
    Xa = np.c_[X, np.ones(len(X))]
    lam = 10.0 * np.eye(Xa.shape[1])
    lam[-1, -1] = 0.0
    w = np.linalg.solve(Xa[tr].T @ Xa[tr] + lam, Xa[tr].T @ Y[tr])
    pred = Xa[te] @ w
    r2 = 1 - ((Y[te] - pred) ** 2).sum(0) / ((Y[te] - Y[te].mean(0)) ** 2).sum(0)
    assert r2.mean() > 0.45, f"ridge velocity R^2 {r2} on held-out imperial_bmi trials"


@needs_realdata
def test_ee239as_center_out_import(real_cache, tmp_path):
    [path] = import_from_spec(dict(recipe="ee239as_center_out", path=str(REALDATA / "ee239as_center_out")), tmp_path)
    rec = load_recording(path)
    assert rec.n_units == 97 and len(rec.trials) == 91 * 8 * 2
    assert rec.behaviour is None and rec.task_type == "center_out"
    np.testing.assert_allclose(rec.trials.end - rec.trials.start, 0.7)
    assert np.all(np.bincount(rec.trials.target_id) == 182)  # direction d (1-8) stored as d-1
    names = split_index(rec)
    assert (names == "test").sum() == 728 and (names == "valid").sum() == 91 and (names == "train").sum() == 637
    # 1 ms spike trains come back exactly: compare one trial with the .mat file
    mat = scipy.io.loadmat(REALDATA / "ee239as_center_out" / "ps4_realdata.mat")
    ids = {}
    for var in ("train_trial", "test_trial"):
        for idx in np.ndindex(mat[var].shape):
            ids[int(mat[var][idx]["trialId"].squeeze())] = (var, idx)
    order = sorted(ids)
    for i in (0, 700, 1455):
        var, idx = ids[order[i]]
        spikes = mat[var][idx]["spikes"]
        np.testing.assert_array_equal(trial_counts_of(rec, i, 0.001), spikes.T)
        assert rec.trials.target_id[i] == idx[1]
        assert (names[i] == "test") == (var == "test_trial")
