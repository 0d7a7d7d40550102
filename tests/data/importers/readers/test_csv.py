"""CSV files: continuous counts + targets, spike lists with behaviour and trial files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.data.importers import import_from_spec
from bench.data.storage import load_recording
from bench.errors import DataError
from tests.data.importers.helpers import continuous_arrays, rebin, trial_counts_of


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


def test_csv_column_ranges_and_globs(tmp_path):
    rng = np.random.default_rng(15)
    counts = rng.poisson(1.0, (30, 6))
    df = pd.DataFrame(counts, columns=[f"c{i}" for i in range(6)])
    df.insert(0, "time", np.arange(30) * 0.01)
    df["unit_a"], df["unit_b"] = counts[:, 0] + 1, counts[:, 1] + 2
    df.to_csv(tmp_path / "f.csv", index=False)
    base = dict(path="f.csv", bin_size_s=0.01)

    def imported(columns):
        rec = load_recording(import_from_spec(dict(base, counts_columns=columns), tmp_path / "o", base_dir=tmp_path)[0])
        return rebin(rec.spike_times, rec.spike_units, rec.n_units, 0.0, 30, 0.01)

    np.testing.assert_array_equal(imported("c0:c5"), counts)  # names: both ends included
    np.testing.assert_array_equal(imported("1:4"), counts[:, :3])  # positions: half-open, like range()
    np.testing.assert_array_equal(imported("unit_*"), np.c_[counts[:, 0] + 1, counts[:, 1] + 2])
    np.testing.assert_array_equal(imported(["c4:c5", "c0", 3]), counts[:, [4, 5, 0, 2]])
    for bad, message in (("c5:c2", "runs backwards"), ("x_*", "matches no column"), ("c0:c9", "no column named 'c9'"),
                         ("2:40", "does not fit"), ("nope", "no column named 'nope'")):
        with pytest.raises(DataError, match=message):
            imported(bad)


def test_csv_split_column_without_trial_column(tmp_path):
    rng = np.random.default_rng(16)
    counts = rng.poisson(1.0, (40, 3))
    np.savetxt(tmp_path / "f.csv", counts, delimiter=",", fmt="%d")
    pd.DataFrame({"vx": rng.normal(size=40), "vy": rng.normal(size=40), "set": ["train"] * 30 + ["test"] * 10}).to_csv(
        tmp_path / "t.csv", index=False)
    spec = dict(path="f.csv", targets_path="t.csv", behaviour_columns=["vx", "vy"], split_column="set", bin_size_s=0.05,
                valid_fraction_of_train=0.2)
    rec = load_recording(import_from_spec(spec, tmp_path / "o", base_dir=tmp_path)[0])
    assert rec.trials is None
    assert [[(round(s, 9), round(e, 9)) for s, e in rec.splits[k]] for k in ("train", "valid", "test")] == [
        [(0.0, 1.2)], [(1.2, 1.5)], [(1.5, 2.0)]]
