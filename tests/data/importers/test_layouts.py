"""Layouts: continuous bins, binned trials and spike times -> recordings (bench.data.importers.layouts / timeline)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from bench.data.importers import import_arrays, import_file, import_from_spec
from bench.data.storage import load_recording, save_recording
from bench.errors import DataError
from tests.data.importers.helpers import EPS, continuous_arrays, rebin, split_index, trial_counts_of


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
    with pytest.raises(DataError, match="--allow-pickle"):
        import_file(dict(path=str(tmp_path / "v.npz"), bin_size_s=0.02), tmp_path / "v.h5")
    # only the caller can allow unpickling, never the spec (tests/reliability/test_data_reproducers.py)
    rec2 = load_recording(
        import_file(dict(path=str(tmp_path / "v.npz"), bin_size_s=0.02), tmp_path / "v.h5", allow_pickle=True)
    )
    for i, t in enumerate(trials):
        np.testing.assert_array_equal(trial_counts_of(rec2, i, 0.02), t.T)





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





def spans(iv):
    return [(round(float(s), 9), round(float(e), 9)) for s, e in iv]


def test_split_per_bin_without_trial_ids_becomes_split_runs():
    rng = np.random.default_rng(14)
    counts = rng.poisson(1.0, (100, 3))
    split = ["train"] * 60 + ["test"] * 20 + ["train"] * 20
    rec = import_arrays(dict(counts=counts, behaviour=rng.normal(size=(100, 2)), trial_split=split), bin_size_s=0.01)
    assert rec.trials is None and rec.task_type == "random_target"
    # the last 1/8 of each train run (whole bins) is valid; the file's test run is untouched
    assert spans(rec.splits["train"]) == [(0.0, 0.52), (0.8, 0.98)]
    assert spans(rec.splits["valid"]) == [(0.52, 0.6), (0.98, 1.0)]
    assert spans(rec.splits["test"]) == [(0.6, 0.8)]
    np.testing.assert_array_equal(rebin(rec.spike_times, rec.spike_units, 3, 0.0, 100, 0.01), counts)
    # a file that marks valid bins itself keeps them; 0/1 codes work too
    rec2 = import_arrays(dict(counts=counts, trial_split=["train"] * 70 + ["valid"] * 10 + ["test"] * 20), bin_size_s=0.01)
    assert [spans(rec2.splits[k]) for k in ("train", "valid", "test")] == [[(0.0, 0.7)], [(0.7, 0.8)], [(0.8, 1.0)]]
    rec3 = import_arrays(dict(counts=counts, trial_split=np.r_[np.zeros(80), np.ones(20)]), bin_size_s=0.01,
                         valid_fraction_of_train=0.25)
    assert [spans(rec3.splits[k]) for k in ("train", "valid", "test")] == [[(0.0, 0.6)], [(0.6, 0.8)], [(0.8, 1.0)]]


def test_split_without_trial_ids_must_be_per_bin_and_labels_still_need_trials():
    counts = np.ones((10, 2), np.int64)
    with pytest.raises(DataError, match=r"'trial_split'.*a list of 3; expected \(10,\): one split per bin"):
        import_arrays(dict(counts=counts, trial_split=["train", "test", "train"]), bin_size_s=0.01)
    with pytest.raises(DataError, match=r"'label'.*no per-bin 'trial_id'.*labels need trials"):
        import_arrays(dict(counts=counts, label=np.ones(10)), bin_size_s=0.01)


def test_native_bin_width_is_kept_and_checked(tmp_path):
    from bench.data.views import binned_counts

    rec = import_arrays(dict(counts=np.ones((50, 2), np.int64)), bin_size_s=0.02)
    loaded = load_recording(save_recording(rec, tmp_path / "r.h5"))
    assert rec.spike_bin_s == loaded.spike_bin_s == 0.02
    assert binned_counts(loaded, 0.04).sum() == 100
    with pytest.raises(DataError, match=r"imported from counts binned at 20 ms.*bin_ms\) of 50 ms.*dataset_params"):
        binned_counts(loaded, 0.05)
    with pytest.raises(DataError, match=r"of 10 ms is not a whole multiple"):
        binned_counts(loaded, 0.01)
    spikes = import_arrays(dict(spike_times=[0.1, 0.2], spike_units=[0, 1]))
    assert spikes.spike_bin_s is None  # real spike times: any bin


def test_a_chunk_that_cuts_imported_bins_is_refused():
    from bench.tasks.reaching import ReachingVelocity

    rng = np.random.default_rng(18)
    arrays, _ = continuous_arrays(rng, n_trials=6)
    rec = import_arrays(arrays, bin_size_s=0.02, behaviour_kind="position")
    assert ReachingVelocity().prepare(rec, 0.04).chunk_s == 0.04
    with pytest.raises(DataError, match=r"binned at 20 ms; the suite's chunk \(chunk_ms\) of 50 ms.*dataset_params"):
        ReachingVelocity().prepare(rec, 0.05)
