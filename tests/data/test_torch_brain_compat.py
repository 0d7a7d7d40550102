"""torch_brain 0.2.1 / temporaldata 0.1.6 compatibility, both ways.

- Files written through each library's public API, laid out as torch_brain 0.2.1's ``brainsets prepare``
  lays out perich_miller_population_2018, pei_pandarinath_nlb_2021 and odoherty_sabes_nonhuman_2017,
  are read by the harness's ``brainsets`` source: splits, unit namespacing, behaviour, trials.
- The harness's own files (simulator, importer) load with torch_brain's ``Data.from_hdf5`` and its
  dataset classes (``PerichMillerPopulation2018``): spikes, units, cursor velocity, train domain.

temporaldata is the reader's dependency (always tested); the torch_brain tests skip unless
torch_brain 0.2.x is installed (``pip install -e ".[torchbrain]"``; the ``reference`` extra pins 0.1.2).
"""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from bench.data.importers import import_arrays
from bench.data.intervals import Intervals
from bench.data.sources import BrainsetsSource, FolderParams
from bench.data.storage import load_recording, save_recording
from bench.errors import DataError
from bench.models.tokens import unit_keys
from bench.testing import tiny_recording

PERICH, NLB, ODOHERTY = "perich_miller_population_2018", "pei_pandarinath_nlb_2021", "odoherty_sabes_nonhuman_2017"


def _torch_brain():
    tb = pytest.importorskip("torch_brain", reason="torch_brain is not installed (pip install -e '.[torchbrain]')")
    if not tb.__version__.startswith("0.2."):
        pytest.skip(f"torch_brain {tb.__version__} is installed; these tests are for its 0.2 data API")
    import torch_brain.data
    import torch_brain.datasets

    return tb


def _temporaldata():
    import temporaldata

    return SimpleNamespace(lib=temporaldata, meta=lambda kind, **kw: temporaldata.Data(**kw))


def _torch_brain_api():
    _torch_brain()
    from torch_brain import data as lib

    def meta(kind, **kw):  # torch_brain's description classes, as its pipelines write them
        if kind == "brainset":
            return lib.BrainsetDescription(origin_version="v", derived_version="1.0.0", source="test", description="test", **kw)
        if kind == "session":
            return lib.SessionDescription(recording_date=datetime.datetime(2016, 4, 7), task="REACHING", **kw)
        return lib.SubjectDescription(species="MACACA_MULATTA", sex="M", **kw)

    return SimpleNamespace(lib=lib, meta=meta)


# ----------------------------------------------------------------------------- files as `brainsets prepare` writes them


def _spikes(api, rng, n_units, end, ids):
    t = np.sort(rng.uniform(0.0, end, 400 * n_units))
    spikes = api.lib.IrregularTimeSeries(timestamps=t, unit_index=rng.integers(0, n_units, t.size), domain="auto")
    units = api.lib.ArrayDict(id=np.array(ids), count=np.bincount(spikes.unit_index, minlength=n_units))
    return spikes, units


def _trial_intervals(api, starts, ends, **columns):
    return api.lib.Interval(start=np.asarray(starts, float), end=np.asarray(ends, float), **columns)


def perich_like(api, folder, rng):
    """Centre-out session: cursor (irregular), trials with NaN target of a failed trial, movement phases."""
    sid, end = "c_20131003_center_out_reaching", 30.0
    spikes, units = _spikes(api, rng, 6, end, [f"group_M1/elec{e}/unit_{e}" for e in range(6)])
    t = np.arange(0.0, end, 0.01)
    cursor = api.lib.IrregularTimeSeries(timestamps=t, pos=rng.normal(size=(t.size, 2)),
                                         vel=rng.normal(size=(t.size, 2)), acc=rng.normal(size=(t.size, 2)), domain="auto")
    starts = np.arange(10) * 3.0
    target = np.arange(10, dtype=float) % 8
    target[4] = np.nan  # a failed trial without a target
    result = np.array(["R"] * 10)
    result[4] = "A"
    trials = _trial_intervals(api, starts, starts + 2.5, target_id=target, result=result, is_valid=result == "R",
                              go_cue_time=starts + 0.8)
    ok = result == "R"
    phases = api.lib.Data(
        hold_period=_trial_intervals(api, starts[ok], starts[ok] + 0.8),
        reach_period=_trial_intervals(api, starts[ok] + 0.8, starts[ok] + 2.0),
        return_period=_trial_intervals(api, starts[ok] + 2.0, starts[ok] + 2.5),
        random_period=_trial_intervals(api, starts + 2.5, starts + 3.0),
        domain="auto",
    )
    data = api.lib.Data(brainset=api.meta("brainset", id=PERICH), subject=api.meta("subject", id="c"),
                        session=api.meta("session", id=sid), spikes=spikes, units=units, cursor=cursor,
                        trials=trials, movement_phases=phases,
                        cursor_outlier_segments=_trial_intervals(api, [12.0], [12.2]), domain=cursor.domain)
    data.valid_domain = _trial_intervals(api, starts[[6, 1]], starts[[6, 1]] + 2.5, target_id=target[[6, 1]])
    data.test_domain = _trial_intervals(api, starts[[8, 3]], starts[[8, 3]] + 2.5, target_id=target[[8, 3]])
    data.train_domain = _trial_intervals(api, [0.0, 14.5, 27.0], [2.9, 17.9, 29.99])
    return _save(data, folder / PERICH, sid), dict(target=np.where(np.isnan(target), -1, target), valid=ok)


def nlb_like(api, folder, rng):
    """MC_Maze train file: hand as a RegularTimeSeries with NaN gaps, success flags, eval windows; and the test file."""
    sid, end = "jenkins_maze_train", 24.0
    spikes, units = _spikes(api, rng, 5, end, [f"group_0/elec{e}/unit_{e}" for e in range(5)])
    vel = rng.normal(size=(int(end * 100), 2))
    vel[100:103] = np.nan  # missing samples, as the pipeline fills them
    hand = api.lib.RegularTimeSeries(sampling_rate=100.0, domain_start=0.0, pos=rng.normal(size=vel.shape), vel=vel)
    starts = np.arange(8) * 3.0
    success = np.arange(8) != 2
    trials = _trial_intervals(api, starts, starts + 2.8, success=success, move_onset_time=starts + 1.0,
                              split_indicator=np.array(["train"] * 6 + ["val"] * 2))
    data = api.lib.Data(brainset=api.meta("brainset", id=NLB), session=api.meta("session", id=sid), spikes=spikes,
                        units=units, trials=trials, hand=hand, domain="auto")
    data.nlb_eval_intervals = _trial_intervals(api, starts + 0.95, starts + 1.65)
    data.train_domain = _trial_intervals(api, starts[[3, 0, 5, 1]], starts[[3, 0, 5, 1]] + 2.8)  # shuffled, as split() leaves them
    data.valid_domain = _trial_intervals(api, starts[[4, 2]], starts[[4, 2]] + 2.8)
    data.test_domain = _trial_intervals(api, starts[6:], starts[6:] + 2.8)
    path = _save(data, folder / NLB, sid)
    spikes_t, units_t = _spikes(api, rng, 5, 10.0, [f"group_0/elec{e}/unit_{e}" for e in range(5)])
    test = api.lib.Data(brainset=api.meta("brainset", id=NLB), session=api.meta("session", id="jenkins_maze_test"),
                        spikes=spikes_t, units=units_t, domain="auto")
    _save(test, folder / NLB, "jenkins_maze_test")
    return path, dict(vel=vel, success=success, eval_start=starts + 0.95)


def odoherty_like(api, folder, rng):
    """Random-target session: cursor and finger as RegularTimeSeries, no trials, split blocks in shuffled order."""
    sid, end = "indy_20160407_02", 20.0
    spikes, units = _spikes(api, rng, 4, end, ["M1 001/unsorted", "M1 001/sorted_01", "M1 002/unsorted", "S1 003/unsorted"])
    n = int(end * 250)
    cursor = api.lib.RegularTimeSeries(sampling_rate=250.0, domain_start=0.0, pos=rng.normal(size=(n, 2)),
                                       vel=rng.normal(size=(n, 2)), acc=rng.normal(size=(n, 2)))
    finger = api.lib.RegularTimeSeries(sampling_rate=250.0, domain_start=0.0, pos_3d=rng.normal(size=(n, 3)),
                                       vel_3d=rng.normal(size=(n, 3)))
    data = api.lib.Data(brainset=api.meta("brainset", id=ODOHERTY), subject=api.meta("subject", id="indy"),
                        session=api.meta("session", id=sid), spikes=spikes, units=units, cursor=cursor,
                        finger=finger, domain=cursor.domain)
    blocks = np.linspace(0.0, n / 250.0, 11)
    order = np.array([7, 2, 9, 0, 4, 1, 8, 3, 5, 6])
    data.train_domain = _trial_intervals(api, blocks[order[:8]], blocks[order[:8] + 1])
    data.valid_domain = _trial_intervals(api, blocks[order[8:9]], blocks[order[8:9] + 1])
    data.test_domain = _trial_intervals(api, blocks[order[9:]], blocks[order[9:] + 1])
    return _save(data, folder / ODOHERTY, sid), dict(blocks=blocks, order=order)


def _save(data, folder, stem):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.h5"
    with h5py.File(path, "w") as f:
        data.to_hdf5(f)
    return path


def _stored_split(path, split) -> Intervals:
    with h5py.File(path, "r") as f:
        g = f[f"{split}_domain"]
        return Intervals(g["start"][:], g["end"][:])


def _check_harness_reads(folder, paths):
    """The brainsets source and the reader on the three folders; what torch_brain would read, checked by hand."""
    perich_path, perich = paths[PERICH]
    [f] = BrainsetsSource(FolderParams(path=str(folder / PERICH))).materialize()
    rec = load_recording(f)
    assert (rec.recording_id, rec.brainset, rec.subject_id, rec.task_type) == (
        "c_20131003_center_out_reaching", PERICH, "c", "center_out")
    np.testing.assert_array_equal(rec.trials.target_id, perich["target"])  # NaN -> -1, not -2**63
    np.testing.assert_array_equal(rec.trials.is_valid, perich["valid"])
    assert rec.behaviour.name == "cursor" and rec.behaviour.vel.shape == (3000, 2)
    assert set(rec.phases) == {"hold_period", "reach_period", "return_period", "random_period"}
    for split in ("train", "valid", "test"):
        want = _stored_split(perich_path, split)
        np.testing.assert_allclose(rec.splits[split].start, want.start)
        np.testing.assert_allclose(rec.splits[split].end, want.end)
    # unit namespacing: brainset / session / unit, torch_brain's "<session>/<unit>" within its dataset
    assert unit_keys(rec)[0] == f"{PERICH}/c_20131003_center_out_reaching/group_M1/elec0/unit_0"

    with pytest.raises(DataError, match=f"holds no '\\*.h5' files but brainset folders \\({ODOHERTY}, {NLB}, {PERICH}\\)"):
        BrainsetsSource(FolderParams(path=str(folder))).materialize()  # the processed root, not a brainset

    nlb_path, nlb = paths[NLB]
    with pytest.raises(DataError, match="jenkins_maze_test.h5 hold no train_domain"):
        BrainsetsSource(FolderParams(path=str(folder / NLB))).materialize()
    [f] = BrainsetsSource(FolderParams(path=str(folder / NLB), sessions=["jenkins_maze_train"])).materialize()
    rec = load_recording(f)
    assert rec.task_type == "center_out" and rec.behaviour.name == "hand"
    keep = np.isfinite(nlb["vel"]).all(axis=1)
    np.testing.assert_allclose(rec.behaviour.vel, nlb["vel"][keep])
    np.testing.assert_allclose(rec.behaviour.timestamps, (np.arange(keep.size) / 100.0)[keep])
    np.testing.assert_array_equal(rec.trials.is_valid, nlb["success"])
    np.testing.assert_allclose(rec.phases["reach_period"].start, nlb["eval_start"])
    np.testing.assert_allclose(rec.splits["train"].start, [0.0, 3.0, 9.0, 15.0])  # sorted
    np.testing.assert_allclose(rec.splits["test"].start, [18.0, 21.0])

    od_path, od = paths[ODOHERTY]
    rec = load_recording(od_path)
    assert rec.task_type == "random_target" and rec.trials is None
    assert rec.behaviour.name == "cursor" and rec.behaviour.vel.shape == (5000, 2)
    np.testing.assert_allclose(rec.splits["train"].start, np.sort(od["blocks"][od["order"][:8]]))
    assert rec.unit_ids.tolist() == ["M1 001/unsorted", "M1 001/sorted_01", "M1 002/unsorted", "S1 003/unsorted"]


def _write_all(api, folder):
    rng = np.random.default_rng(0)
    return {name: make(api, folder, rng) for name, make in ((PERICH, perich_like), (NLB, nlb_like), (ODOHERTY, odoherty_like))}


def test_temporaldata_written_brainsets_folders_read_by_the_harness(tmp_path):
    _check_harness_reads(tmp_path, _write_all(_temporaldata(), tmp_path))


def test_torch_brain_written_brainsets_folders_read_by_the_harness(tmp_path):
    paths = _write_all(_torch_brain_api(), tmp_path)
    _check_harness_reads(tmp_path, paths)
    from torch_brain.datasets import OdohertySabesNonhuman2017, PeiPandarinathNLB2021, PerichMillerPopulation2018

    # the harness's splits are torch_brain's sampling intervals; its unit keys are torch_brain's ids under the brainset
    for cls, name, kw in ((PerichMillerPopulation2018, PERICH, {}), (PeiPandarinathNLB2021, NLB, {"recording_ids": ["jenkins_maze_train"]}),
                          (OdohertySabesNonhuman2017, ODOHERTY, {"split_type": None})):
        ds = cls(root=str(tmp_path), **kw)
        recs = [load_recording(tmp_path / name / f"{rid}.h5") for rid in ds.recording_ids]
        assert sorted(k for r in recs for k in unit_keys(r)) == [f"{name}/{u}" for u in ds.get_unit_ids()]
        for split in ("train", "valid", "test"):
            theirs = ds.get_sampling_intervals(split)
            for rec in recs:
                np.testing.assert_allclose(rec.splits[split].start, np.sort(theirs[rec.recording_id].start))


# ----------------------------------------------------------------------------- harness files read by torch_brain


def _check_torch_brain_reads(path, rec):
    _torch_brain()
    from torch_brain.data import Data
    from torch_brain.datasets import PerichMillerPopulation2018
    from torch_brain.datasets.dataset import DatasetIndex

    with h5py.File(path, "r") as f:
        data = Data.from_hdf5(f, lazy=False)
    np.testing.assert_allclose(data.spikes.timestamps, rec.spike_times)
    np.testing.assert_array_equal(data.spikes.unit_index, rec.spike_units)
    assert data.units.id.astype(str).tolist() == rec.unit_ids.tolist()
    behaviour = getattr(data, rec.behaviour.name)
    np.testing.assert_allclose(behaviour.vel, rec.behaviour.vel)
    np.testing.assert_allclose(data.train_domain.start, rec.splits["train"].start)
    np.testing.assert_allclose(data.train_domain.end, rec.splits["train"].end)

    ds = PerichMillerPopulation2018(root=str(path.parent.parent), dirname=path.parent.name, recording_ids=[path.stem])
    rid = path.stem
    train = ds.get_sampling_intervals("train")[rid]
    np.testing.assert_allclose(train.end, rec.splits["train"].end)
    assert ds.get_unit_ids() == sorted(f"{rec.recording_id}/{u}" for u in rec.unit_ids)
    s, e = rec.splits["train"].start[0], rec.splits["train"].end[0]
    sample = ds[DatasetIndex(rid, float(s), float(e))]
    assert sample.spikes.timestamps.size == rec.spikes_between(s, e)[0].size > 0


def test_simulated_session_loads_with_torch_brain(tmp_path):
    rec = tiny_recording(n_trials=12)
    path = save_recording(rec, tmp_path / PERICH / f"{rec.recording_id}.h5")
    _check_torch_brain_reads(path, load_recording(path))


def test_imported_session_loads_with_torch_brain(tmp_path):
    rng = np.random.default_rng(4)
    times = np.sort(rng.uniform(0.0, 20.0, 3000))
    bt = np.arange(0.0, 20.0, 0.02)
    rec = import_arrays({"spike_times": times, "spike_units": rng.integers(0, 7, times.size), "behaviour_timestamps": bt,
                         "behaviour": rng.normal(size=(bt.size, 2)), "trial_start": np.arange(0.0, 19.0, 2.0),
                         "trial_end": np.arange(0.0, 19.0, 2.0) + 1.5}, recording_id="imported_session", behaviour_name="cursor")
    path = save_recording(rec, tmp_path / "imported" / "imported_session.h5")
    _check_torch_brain_reads(path, load_recording(path))


# ----------------------------------------------------------------------------- one session, three ways, one suite


def _brainsets_copy(rec, folder, sid):
    """``rec`` as torch_brain 0.2.1's pipeline writes a Perich & Miller session (task 'REACHING', NaN targets of failed trials)."""
    td = _temporaldata().lib
    iv = lambda x: td.Interval(start=x.start.copy(), end=x.end.copy())  # noqa: E731
    t, b = rec.trials, rec.behaviour
    target = np.where(t.is_valid, t.target_id, np.nan)
    data = td.Data(
        brainset=td.Data(id=PERICH), subject=td.Data(id="c"), session=td.Data(id=sid, task="REACHING"),
        spikes=td.IrregularTimeSeries(timestamps=rec.spike_times, unit_index=rec.spike_units, domain="auto"),
        units=td.ArrayDict(id=np.array([f"group_M1/elec{k}/unit_{k}" for k in range(rec.n_units)])),
        cursor=td.IrregularTimeSeries(timestamps=b.timestamps, vel=b.vel, domain="auto"),
        trials=td.Interval(start=t.start, end=t.end, target_id=target, result=np.where(t.is_valid, "R", "F")),
        movement_phases=td.Data(**{k: iv(v) for k, v in rec.phases.items()}, domain="auto"),
        cursor_outlier_segments=iv(rec.outliers), domain=iv(rec.domain),
    )
    for split in ("train", "valid", "test"):
        setattr(data, f"{split}_domain", iv(rec.splits[split]))
    _save(data, folder / PERICH, sid)


def _nwb_copy(rec, path):
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    nwb = NWBFile(session_description="copy", identifier="copy", session_start_time=datetime.datetime(2016, 10, 4, tzinfo=datetime.timezone.utc))
    for k in range(rec.n_units):
        nwb.add_unit(spike_times=rec.spike_times[rec.spike_units == k])
    nwb.create_processing_module("behavior", "behaviour").add(
        TimeSeries(name="cursor_vel", data=rec.behaviour.vel, timestamps=rec.behaviour.timestamps, unit="cm/s"))
    for column in ("target_id", "result", "split"):
        nwb.add_trial_column(name=column, description=column)
    t = rec.trials
    for i in range(len(t)):
        split = next((n for n, v in rec.splits.items() if v.contains(np.array([t.start[i] + 1e-6]))[0]), "train")
        nwb.add_trial(start_time=t.start[i], stop_time=t.end[i], target_id=int(t.target_id[i]),
                      result="R" if t.is_valid[i] else "F", split=split)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


SUITE = """name: three_ways
task: reaching_velocity
chunk_ms: 50
seeds: [0]
jobs: 1
threads: 1
train: {epochs: 2, batch_size: 16}
latency: {threads: 1, warmup: 2, n_chunks: 10}
datasets:
  - {name: simulator, source: simulator, params: %s}
  - {name: torch_brain_folder, source: brainsets, params: {path: perich_miller_population_2018}}
  - {name: nwb, source: import, params: {path: session.nwb, behaviour_name: cursor, label_column: target_id, valid_column: result, split_column: split}}
models:
  - {name: wiener}
"""


def test_one_session_read_three_ways_scores_alike(tmp_path, capsys, monkeypatch):
    """The simulator's session, its torch_brain-layout copy and its NWB copy through one suite: the folder
    scores exactly as the simulator (same splits and phases); NWB close (its reach period is the whole trial)."""
    import json

    import pandas as pd

    from bench.cli import main
    from bench.data.simulators.nhp import SimulatorParams, session_specs, simulate_session
    from tests.conftest import ROOT

    params = {"preset": "c_co_2016", "n_sessions": 1, "n_trials": 40, "n_neurons": 30}
    rec = simulate_session(session_specs(SimulatorParams(**params))[0])
    _brainsets_copy(rec, tmp_path, "c_20161004_center_out_reaching")
    _nwb_copy(rec, tmp_path / "session.nwb")
    (tmp_path / "suite.yaml").write_text(SUITE % json.dumps(params))
    monkeypatch.chdir(ROOT)  # `bench run` in-process (tests/test_cli.py covers the python -m bench entry point)
    code = main(["run", str(tmp_path / "suite.yaml"), "--out", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err[-3000:]
    r2 = pd.read_csv(tmp_path / "runs" / "summary.csv").set_index("dataset")["mean"]
    assert r2["simulator"] > 0.2
    assert r2["torch_brain_folder"] == pytest.approx(r2["simulator"], abs=1e-9)
    assert r2["nwb"] == pytest.approx(r2["simulator"], abs=0.1)
