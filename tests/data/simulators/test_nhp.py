"""The built-in NHP reaching simulator: determinism, caching, file layout and realism checks."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from bench.data.storage import load_recording
from bench.data.simulators.nhp import PRESETS, SimulatorParams, SimulatorSource, session_specs, simulate_session
from bench.data.simulators.nhp.presets import pool_size
from bench.data.simulators.nhp.spikes import REFRACTORY_S
from bench.registry import data_sources

REALDATA = Path(__file__).resolve().parents[3].parent / "shared" / "realdata"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("simcache")


@pytest.fixture(scope="module")
def co_paths(cache_dir) -> list[Path]:
    return SimulatorSource(SimulatorParams(preset="c_co_2016"), cache_dir=cache_dir).materialize(progress=False)


@pytest.fixture(scope="module")
def co_recs(co_paths):
    return [load_recording(p) for p in co_paths]


@pytest.fixture(scope="module")
def rt_rec(cache_dir):
    params = SimulatorParams(preset="t_rt", n_sessions=1)
    return load_recording(SimulatorSource(params, cache_dir=cache_dir).materialize(progress=False)[0])


def _binned(rec, width: float):
    n = int(rec.duration / width)
    idx = (rec.spike_times / width).astype(np.int64)
    keep = idx < n
    counts = np.bincount(idx[keep] * rec.n_units + rec.spike_units[keep], minlength=n * rec.n_units)
    centres = (np.arange(n) + 0.5) * width
    b = rec.behaviour
    vel = np.stack([np.interp(centres, b.timestamps, b.vel[:, d]) for d in range(2)], axis=1)
    return counts.reshape(n, rec.n_units).astype(float), vel, centres


# ----------------------------------------------------------------------------- source and params


def test_registered_with_validated_params():
    assert data_sources.get("simulator") is SimulatorSource
    assert SimulatorParams(preset="t_co").scale == "default"
    with pytest.raises(ValidationError):
        SimulatorParams(preset="monkey_x")
    with pytest.raises(ValidationError):
        SimulatorParams(preset="t_co", scale="huge")
    with pytest.raises(ValidationError):
        SimulatorParams(preset="t_co", n_trails=10)  # extra fields are forbidden


def test_preset_session_counts_follow_the_paper():
    counts = {name: len(session_specs(SimulatorParams(preset=name))) for name in PRESETS}
    assert counts == {"c_co_2016": 2, "c_co_2010": 5, "t_co": 6, "t_rt": 6, "h_co": 1}


def test_same_seed_same_session_other_seed_differs():
    spec = session_specs(SimulatorParams(preset="h_co", n_trials=20))[0]
    a, b = simulate_session(spec), simulate_session(spec)
    np.testing.assert_array_equal(a.spike_times, b.spike_times)
    np.testing.assert_array_equal(a.spike_units, b.spike_units)
    np.testing.assert_array_equal(a.behaviour.vel, b.behaviour.vel)
    other = simulate_session(session_specs(SimulatorParams(preset="h_co", n_trials=20, seed=1))[0])
    assert other.spike_times.size != a.spike_times.size or not np.array_equal(other.spike_times, a.spike_times)
    assert not np.array_equal(other.behaviour.vel[:500], a.behaviour.vel[:500])


def test_materialize_caches_files(cache_dir, co_paths):
    assert co_paths == sorted(co_paths) and len(co_paths) == 2
    assert all(p.suffix == ".h5" and p.is_file() for p in co_paths)
    before = [p.stat().st_mtime_ns for p in co_paths]
    again = SimulatorSource(SimulatorParams(preset="c_co_2016"), cache_dir=cache_dir).materialize(progress=False)
    assert again == co_paths
    assert [p.stat().st_mtime_ns for p in again] == before
    other = SimulatorSource(SimulatorParams(preset="c_co_2016", seed=3), cache_dir=cache_dir)
    assert other.folder != co_paths[0].parent  # another seed is another cache entry


# ----------------------------------------------------------------------------- file contents


def test_loaded_session_has_brainsets_fields(co_recs):
    rec = co_recs[0]
    assert rec.recording_id.startswith("c_co_2016/c_2016")
    assert (rec.subject_id, rec.brainset, rec.task_type) == ("c", "c_co_2016", "center_out")
    b = rec.behaviour
    assert b.name == "cursor" and b.pos.shape == b.vel.shape == (b.timestamps.size, 2)
    np.testing.assert_allclose(np.diff(b.timestamps), 0.01)
    assert 180 < rec.duration < 330  # about 4 minutes at the default scale
    assert 60 <= rec.n_units <= 100
    trials = rec.trials
    assert len(trials) == 120 and set(np.unique(trials.target_id)) == set(range(8))
    assert 0.0 < (~trials.is_valid).mean() < 0.15
    assert np.all(trials.end > trials.start) and np.all(trials.start[1:] >= trials.end[:-1])
    assert {"hold_period", "reach_period", "return_period"} <= set(rec.phases)
    in_trials = trials.as_intervals()
    for name in ("hold_period", "reach_period", "return_period"):
        assert np.all(in_trials.contains(rec.phases[name].start))
    # brainsets-style 70/10/20 split of the successful trials
    n_valid = int(trials.is_valid.sum())
    sizes = {k: len(v) for k, v in rec.splits.items()}
    n_train, n_val = round(0.7 * n_valid), round(0.1 * n_valid)
    assert sizes == {"train": n_train, "valid": n_val, "test": n_valid - n_train - n_val}
    split_starts = np.sort(np.concatenate([v.start for v in rec.splits.values()]))
    np.testing.assert_array_equal(split_starts, np.sort(trials.start[trials.is_valid]))


def test_reach_kinematics_look_like_monkey_cursor_data(co_recs):
    rec = co_recs[0]
    speed = np.hypot(*rec.behaviour.vel.T)
    t = rec.behaviour.timestamps
    reach = rec.phases["reach_period"]
    valid = rec.trials.as_intervals(rec.trials.is_valid)
    peaks = [speed[(t >= s) & (t < e)].max() for s, e in reach if valid.contains(np.array([s]))[0]]
    assert 20.0 < np.median(peaks) < 40.0
    assert np.std(peaks) > 1.0  # trial-to-trial variability


def test_units_come_from_one_pool_and_partly_overlap(co_recs):
    pool = {f"c/n{k:04d}" for k in range(pool_size("c", "default"))}
    ids = [set(r.unit_ids.tolist()) for r in co_recs]
    assert all(u <= pool for u in ids)
    for a, b in itertools.combinations(ids, 2):
        assert 0.0 < len(a & b) / min(len(a), len(b)) < 1.0


def test_rates_in_cortical_range_and_spikes_in_continuous_time(co_recs):
    rec = co_recs[0]
    rates = np.bincount(rec.spike_units, minlength=rec.n_units) / rec.duration
    assert 10.0 <= rates.mean() <= 35.0
    assert rates.max() < 150.0
    t = rec.spike_times
    assert t.min() >= rec.domain.start[0] and t.max() < rec.domain.end[-1]
    # not binned: the sub-millisecond part is spread out, not stuck at grid points
    frac = (t * 1000.0) % 1.0
    assert np.mean(np.minimum(frac, 1.0 - frac) < 1e-6) < 0.01
    assert np.histogram(frac, bins=10)[0].min() > 0.05 * t.size
    order = np.lexsort((t, rec.spike_units))
    same = np.diff(rec.spike_units[order]) == 0
    assert np.diff(t[order])[same].min() >= REFRACTORY_S - 1e-12


def test_random_target_session(rt_rec):
    assert rt_rec.task_type == "random_target" and rt_rec.subject_id == "t"
    assert "random_period" in rt_rec.phases and len(rt_rec.phases["random_period"]) == len(rt_rec.trials)
    assert np.all(rt_rec.trials.target_id == -1)
    assert 180 < rt_rec.duration < 330


@pytest.mark.parametrize("which", ["co", "rt"])
def test_velocity_is_linearly_decodable(which, co_recs, rt_rec):
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    rec = co_recs[0] if which == "co" else rt_rec
    counts, vel, centres = _binned(rec, 0.05)
    lagged = np.concatenate([np.roll(np.sqrt(counts), j, axis=0) for j in range(5)], axis=1)
    train, test = rec.splits["train"].contains(centres), rec.splits["test"].contains(centres)
    model = Ridge(alpha=1.0).fit(lagged[train], vel[train])
    assert r2_score(vel[test], model.predict(lagged[test])) > 0.3


# ----------------------------------------------------------------------------- statistics report


def test_compare_with_real_without_real_data(cache_dir, co_paths, tmp_path):
    from bench.data.simstats import compare_with_real, format_report

    df = compare_with_real(tmp_path / "no_such_dir", preset="c_co_2016", cache_dir=cache_dir)
    assert list(df["source"]) == ["simulator", "simulator"]
    assert df["rate_mean_hz"].between(10, 35).all()
    assert df["fano_100ms"].between(0.8, 2.0).all()
    assert (df["linear_r2"] > 0.3).all()
    assert "| simulator" in format_report(df)


def test_compare_with_real_data(cache_dir, co_paths):
    if not REALDATA.is_dir():
        pytest.skip(f"real data folder {REALDATA} is absent (it is only in the project's shared checkout)")
    from bench.data.simstats import compare_with_real

    df = compare_with_real(REALDATA, preset="c_co_2016", cache_dir=cache_dir)
    real = df[df["source"] == "real"].set_index("dataset")
    assert set(real.index) == {"imperial_bmi", "ee239as_center_out"}
    assert real.loc["imperial_bmi", "units"] == 98 and real.loc["ee239as_center_out", "units"] == 97
    assert 15 < real.loc["imperial_bmi", "rate_mean_hz"] < 30
    assert 0.4 < real.loc["imperial_bmi", "linear_r2"] < 0.8
    assert np.isnan(real.loc["ee239as_center_out", "linear_r2"])
