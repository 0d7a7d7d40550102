"""The recipes for the two real datasets in ../shared/realdata (skipped without them)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from bench.data.importers import ImportSource, import_from_spec
from bench.data.storage import load_recording
from tests.data.importers.helpers import REALDATA, rebin, split_index, trial_counts_of


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
