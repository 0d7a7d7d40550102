"""Feature streams (threshold crossings, spike-band power) imported from npz / mat / csv and read back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.io

from bench.data.importers import import_arrays, import_from_spec
from bench.data.storage import load_recording
from bench.errors import DataError


def crossings_and_power(seed: int = 0, seconds: float = 3.0):
    """A 192-channel threshold-crossing stream at 10 ms and a 256-channel spike-band-power stream at 20 ms."""
    rng = np.random.default_rng(seed)
    tx = rng.poisson(0.2, (int(round(seconds / 0.01)), 192))
    sbp = rng.gamma(2.0, 1.5, (int(round(seconds / 0.02)), 256))
    return tx, sbp


def test_npz_crossings_at_10ms_and_power_at_20ms(tmp_path):
    tx, sbp = crossings_and_power()
    vel = np.random.default_rng(1).normal(size=(tx.shape[0], 2))
    np.savez(tmp_path / "tx.npz", tx=tx, behaviour=vel, trial_id=np.repeat(np.arange(10), 30))
    np.savez(tmp_path / "sbp.npz", sbp=sbp, names=[f"elec{i}" for i in range(256)], behaviour=vel[::2])
    [tx_file] = import_from_spec(
        dict(path="tx.npz", bin_size_s=0.01, features={"threshold_crossings": {"key": "tx", "kind": "counts"}}),
        tmp_path / "out", base_dir=tmp_path)
    [sbp_file] = import_from_spec(
        dict(path="sbp.npz", bin_size_s=0.02,
             features={"spike_band_power": {"key": "sbp", "kind": "continuous", "channel_ids": "names"}}),
        tmp_path / "out", base_dir=tmp_path)

    rec = load_recording(tx_file)
    stream = rec.features["threshold_crossings"]
    assert (stream.kind, stream.bin_s, stream.t0, stream.values.shape) == ("counts", 0.01, 0.0, (300, 192))
    np.testing.assert_array_equal(stream.values, tx)
    assert rec.events_from == "threshold_crossings" and rec.n_units == 192  # one spike event per crossing
    assert rec.spike_times.size == tx.sum()
    # trials keep the file's timeline (no gaps), so the stream stays regular under them
    assert len(rec.trials) == 10 and np.allclose(rec.trials.start, np.arange(10) * 0.3)
    np.testing.assert_allclose(rec.behaviour.vel, vel)

    rec = load_recording(sbp_file)
    stream = rec.features["spike_band_power"]
    assert (stream.kind, stream.bin_s, stream.values.shape, rec.n_units) == ("continuous", 0.02, (150, 256), 0)
    np.testing.assert_array_equal(stream.values, sbp.astype(np.float32))
    assert list(stream.channel_ids[:2]) == ["elec0", "elec1"]
    assert rec.streams == ("spike_band_power",)


def test_mat_and_csv_streams_with_their_own_bin_widths(tmp_path):
    tx, sbp = crossings_and_power(seed=2, seconds=1.0)
    scipy.io.savemat(tmp_path / "r.mat", {"data": {"tx": tx.T.astype(float), "sbp": sbp}})
    spec = dict(path="r.mat", bin_size_s=0.01, features={
        "threshold_crossings": {"key": "data.tx", "transpose": True},
        "spike_band_power": {"key": "data.sbp", "kind": "continuous", "bin_size_s": 0.02}})
    rec = load_recording(import_from_spec(spec, tmp_path / "m", base_dir=tmp_path)[0])
    np.testing.assert_array_equal(rec.features["threshold_crossings"].values, tx)
    np.testing.assert_allclose(rec.features["spike_band_power"].values, sbp, rtol=1e-6)
    assert rec.features["spike_band_power"].bin_s == 0.02

    pd.DataFrame(tx, columns=[f"tx_{i}" for i in range(192)]).assign(vx=1.0).to_csv(tmp_path / "tx.csv", index=False)
    pd.DataFrame(sbp, columns=[f"sbp_{i}" for i in range(256)]).to_csv(tmp_path / "sbp.csv", index=False)
    spec = dict(path="tx.csv", bin_size_s=0.01, features={
        "threshold_crossings": {"columns": "tx_*"},
        "spike_band_power": {"path": "sbp.csv", "columns": "sbp_0:sbp_255", "kind": "continuous", "bin_size_s": 0.02}})
    rec = load_recording(import_from_spec(spec, tmp_path / "c", base_dir=tmp_path)[0])
    np.testing.assert_array_equal(rec.features["threshold_crossings"].values, tx)
    assert rec.features["threshold_crossings"].channel_ids[191] == "tx_191"
    np.testing.assert_allclose(rec.features["spike_band_power"].values, sbp, rtol=1e-6)


def test_stream_errors_name_the_stream_and_the_expectation():
    tx, sbp = crossings_and_power(seconds=1.0)
    with pytest.raises(DataError, match=r"'sbp'.*holds 50 bins of 10 ms = 0.5 s, but the recording's timeline is 100 "
                                        r"bins of 10 ms = 1 s.*features\.spike_band_power\.bin_size_s"):
        import_arrays(dict(tx=tx, sbp=sbp[:50]), bin_size_s=0.01, features={
            "threshold_crossings": {"key": "tx"}, "spike_band_power": {"key": "sbp", "kind": "continuous"}})
    with pytest.raises(DataError, match=r"'tx'.*whole, non-negative"):
        import_arrays(dict(tx=tx + 0.5), bin_size_s=0.01, features={"threshold_crossings": {"key": "tx"}})
    with pytest.raises(DataError, match=r"no 'nope' \(features\.threshold_crossings\)"):
        import_arrays(dict(tx=tx), bin_size_s=0.01, features={"threshold_crossings": {"key": "nope"}})
    with pytest.raises(DataError, match=r"trial_gap_s cannot move trials apart"):
        import_arrays(dict(tx=tx, trial_id=np.repeat([1, 2], 50)), bin_size_s=0.01, trial_gap_s=0.2,
                      features={"threshold_crossings": {"key": "tx"}})
    with pytest.raises(DataError, match=r"'continuous' layout.*not the 'spikes' layout"):
        import_arrays(dict(spike_times=[0.1], spike_units=[0], tx=tx), features={"threshold_crossings": {"key": "tx"}})
