"""One recording session in the brainsets / temporaldata HDF5 layout, loaded into plain arrays.

The on-disk format is the one ``brainsets prepare`` writes with ``temporaldata.Data.to_hdf5``:

- ``spikes.timestamps`` (s, float64) and ``spikes.unit_index`` (int, into ``units.id``)
- ``units.id`` (strings)
- behaviour: ``cursor`` or ``hand`` (or ``finger``), an irregular time series with
  ``timestamps`` and ``vel`` (and optionally ``pos``); velocity is derived from ``pos`` if absent
- ``trials``: intervals with optional ``target_id`` / ``target_dir`` and ``is_valid`` / ``result``
- ``movement_phases``: ``hold_period``, ``reach_period``, ``return_period``, ``random_period``,
  ``invalid`` (intervals); ``cursor_outlier_segments`` (intervals)
- ``domain``, ``train_domain``, ``valid_domain``, ``test_domain`` (intervals)
- ``session.id``, ``subject.id``, ``brainset.id`` and the optional ``session.task`` attribute

Models never see temporaldata objects: they consume the views in ``bench.data.views``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from bench.data.intervals import Intervals
from bench.errors import DataError

BEHAVIOUR_KEYS = ("cursor", "hand", "finger")
PHASE_KEYS = ("hold_period", "reach_period", "return_period", "random_period", "invalid")
SPLITS = ("train", "valid", "test")
TASK_TYPES = ("center_out", "random_target", "unknown")


@dataclass
class Behaviour:
    """A behavioural time series sampled at ``timestamps`` (velocity always present)."""

    name: str
    timestamps: np.ndarray
    vel: np.ndarray
    pos: np.ndarray | None = None


@dataclass
class Trials:
    start: np.ndarray
    end: np.ndarray
    target_id: np.ndarray  # int, -1 where unknown
    is_valid: np.ndarray  # bool: successful trial

    def __len__(self) -> int:
        return int(self.start.size)

    def as_intervals(self, mask: np.ndarray | None = None) -> Intervals:
        m = np.ones(len(self), bool) if mask is None else mask
        return Intervals(self.start[m], self.end[m])


@dataclass
class Recording:
    """A session: spikes in continuous time, behaviour, trials, phases and data splits."""

    recording_id: str
    subject_id: str
    brainset: str
    task_type: str
    domain: Intervals
    spike_times: np.ndarray
    spike_units: np.ndarray
    unit_ids: np.ndarray
    behaviour: Behaviour | None = None
    trials: Trials | None = None
    phases: dict[str, Intervals] = field(default_factory=dict)
    outliers: Intervals = field(default_factory=Intervals.empty)
    splits: dict[str, Intervals] = field(default_factory=dict)
    path: Path | None = None
    # per-process cache of derived views (binned counts etc.), filled by bench.data.views
    _views: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_units(self) -> int:
        return int(self.unit_ids.size)

    @property
    def duration(self) -> float:
        return self.domain.duration

    def split(self, name: str) -> Intervals:
        return self.splits[name]

    def spikes_between(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        """Spike times and unit indices with start <= t < end (spike_times are sorted)."""
        lo, hi = np.searchsorted(self.spike_times, [start, end], side="left")
        return self.spike_times[lo:hi], self.spike_units[lo:hi]


# ----------------------------------------------------------------------------- writing


def _to_temporaldata(rec: Recording):
    from temporaldata import ArrayDict, Data, Interval, IrregularTimeSeries

    def interval(iv: Intervals, **extra) -> Interval:
        return Interval(start=iv.start.copy(), end=iv.end.copy(), **extra)

    fields: dict = dict(
        brainset=Data(id=rec.brainset),
        subject=Data(id=rec.subject_id),
        session=Data(id=rec.recording_id, task=rec.task_type),
        spikes=IrregularTimeSeries(
            timestamps=rec.spike_times.astype(np.float64),
            unit_index=rec.spike_units.astype(np.int64),
            domain=interval(rec.domain),
        ),
        units=ArrayDict(id=np.asarray(rec.unit_ids).astype(str)),
        domain=interval(rec.domain),
    )
    if rec.behaviour is not None:
        b = rec.behaviour
        cols = dict(vel=b.vel.astype(np.float64))
        if b.pos is not None:
            cols["pos"] = b.pos.astype(np.float64)
        fields[b.name] = IrregularTimeSeries(
            timestamps=b.timestamps.astype(np.float64), domain=interval(rec.domain), **cols
        )
    if rec.trials is not None:
        t = rec.trials
        fields["trials"] = Interval(
            start=t.start.copy(),
            end=t.end.copy(),
            target_id=t.target_id.astype(np.int64),
            is_valid=t.is_valid.astype(bool),
        )
    if rec.phases:
        fields["movement_phases"] = Data(
            **{k: interval(v) for k, v in rec.phases.items()}, domain=interval(rec.domain)
        )
    fields["cursor_outlier_segments"] = interval(rec.outliers)
    data = Data(**fields)
    for split in SPLITS:
        if split in rec.splits:
            setattr(data, f"{split}_domain", interval(rec.splits[split]))
    return data


def save_recording(rec: Recording, path: str | Path) -> Path:
    """Write ``rec`` as a brainsets-style HDF5 file, atomically (temp file then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _to_temporaldata(rec)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            data.to_hdf5(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# ----------------------------------------------------------------------------- reading


def _intervals(obj) -> Intervals:
    return Intervals(np.asarray(obj.start, np.float64), np.asarray(obj.end, np.float64))


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.item())
    return str(value)


def _guess_task_type(data, phases: dict[str, Intervals], declared: str | None) -> str:
    if declared:
        d = declared.lower()
        if "center" in d or "centre" in d or d in ("co",):
            return "center_out"
        if "random" in d or d in ("rt",):
            return "random_target"
    if phases.get("random_period") is not None and len(phases["random_period"]) > 0:
        return "random_target"
    if phases.get("reach_period") is not None and len(phases["reach_period"]) > 0:
        return "center_out"
    return "unknown"


def load_recording(path: str | Path) -> Recording:
    """Read one brainsets / temporaldata HDF5 file; raises DataError naming the problem."""
    from temporaldata import Data

    path = Path(path)
    if not path.is_file():
        raise DataError(f"Recording file {path} does not exist.")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(
            f"Recording file {path} is not a readable HDF5 file ({exc}). It may be truncated "
            "or corrupt: re-create it (delete it and rerun, or rerun the importer / brainsets prepare)."
        ) from None
    try:
        try:
            data = Data.from_hdf5(f, lazy=False)
        except Exception as exc:  # temporaldata raises assorted errors on malformed files
            raise DataError(
                f"Recording file {path} is HDF5 but not in the temporaldata / brainsets layout "
                f"({type(exc).__name__}: {exc}). Expected groups spikes, units and domain."
            ) from None
        return _from_data(data, path)
    finally:
        f.close()


def _from_data(data, path: Path) -> Recording:
    keys = set(data.keys())
    for required in ("spikes", "units"):
        if required not in keys:
            raise DataError(
                f"Recording file {path} has no '{required}' group; a brainsets recording needs "
                "spikes.timestamps, spikes.unit_index and units.id."
            )
    spike_times = np.asarray(data.spikes.timestamps, np.float64)
    spike_units = np.asarray(data.spikes.unit_index, np.int64)
    unit_ids = np.array([_text(u) for u in np.asarray(data.units.id)])
    if spike_times.size == 0 or unit_ids.size == 0:
        raise DataError(
            f"Recording file {path} is empty: it holds {spike_times.size} spikes and "
            f"{unit_ids.size} units; a recording needs at least one spike and one unit."
        )
    if spike_units.min() < 0 or spike_units.max() >= unit_ids.size:
        raise DataError(
            f"Recording file {path}: spikes.unit_index ranges over [{spike_units.min()}, "
            f"{spike_units.max()}] but units.id has only {unit_ids.size} entries."
        )
    order = np.argsort(spike_times, kind="stable")
    spike_times, spike_units = spike_times[order], spike_units[order]

    # temporaldata's keys() leaves out ``domain``, so look it up directly
    stored_domain = getattr(data, "domain", None)
    if stored_domain is not None and len(stored_domain) > 0:
        domain = _intervals(stored_domain)
    else:
        domain = Intervals.single(float(spike_times[0]), float(spike_times[-1]) + 1e-6)

    behaviour = None
    for name in BEHAVIOUR_KEYS:
        if name in keys:
            ts_obj = getattr(data, name)
            bkeys = set(ts_obj.keys())
            t = np.asarray(ts_obj.timestamps, np.float64)
            pos = np.asarray(ts_obj.pos, np.float64) if "pos" in bkeys else None
            if "vel" in bkeys:
                vel = np.asarray(ts_obj.vel, np.float64)
            elif pos is not None and t.size > 1:
                vel = np.gradient(pos, t, axis=0)
            else:
                raise DataError(f"Recording file {path}: behaviour '{name}' has neither vel nor pos.")
            behaviour = Behaviour(name=name, timestamps=t, vel=vel.reshape(t.size, -1), pos=pos)
            break

    trials = None
    if "trials" in keys and len(data.trials) > 0:
        tr = data.trials
        tkeys = set(tr.keys())
        n = len(tr)
        target = np.full(n, -1, np.int64)
        for k in ("target_id", "target_dir", "direction"):
            if k in tkeys:
                target = np.asarray(getattr(tr, k)).astype(np.int64)
                break
        valid = np.ones(n, bool)
        if "is_valid" in tkeys:
            valid = np.asarray(tr.is_valid).astype(bool)
        elif "result" in tkeys:
            res = np.array([_text(r) for r in np.asarray(tr.result)])
            valid = np.isin(res, ["R", "success", "1", "True"])
        trials = Trials(np.asarray(tr.start, np.float64), np.asarray(tr.end, np.float64), target, valid)

    phases: dict[str, Intervals] = {}
    if "movement_phases" in keys:
        mp = data.movement_phases
        for k in PHASE_KEYS:
            if k in set(mp.keys()):
                phases[k] = _intervals(getattr(mp, k))
    outliers = Intervals.empty()
    for k in ("cursor_outlier_segments", "hand_outlier_segments"):
        if k in keys:
            outliers = _intervals(getattr(data, k))

    splits = {s: _intervals(getattr(data, f"{s}_domain")) for s in SPLITS if f"{s}_domain" in keys}

    def ident(key: str, default: str) -> str:
        if key in keys and "id" in set(getattr(data, key).keys()):
            return _text(getattr(data, key).id)
        return default

    declared = None
    if "session" in keys and "task" in set(data.session.keys()):
        declared = _text(data.session.task)
    rec = Recording(
        recording_id=ident("session", path.stem),
        subject_id=ident("subject", "unknown"),
        brainset=ident("brainset", path.parent.name),
        task_type=_guess_task_type(data, phases, declared),
        domain=domain,
        spike_times=spike_times,
        spike_units=spike_units,
        unit_ids=unit_ids,
        behaviour=behaviour,
        trials=trials,
        phases=phases,
        outliers=outliers,
        splits=splits,
        path=path,
    )
    return rec


def split_trials(
    trials: Trials, fractions=(0.7, 0.1, 0.2), seed: int = 42, only_valid: bool = True
) -> dict[str, Intervals]:
    """Random 70/10/20 trial split as brainsets does (seeded), returned as split intervals."""
    idx = np.flatnonzero(trials.is_valid) if only_valid else np.arange(len(trials))
    rng = np.random.default_rng(seed)
    idx = rng.permutation(idx)
    n = idx.size
    n_train = int(round(fractions[0] * n))
    n_valid = int(round(fractions[1] * n))
    parts = {"train": idx[:n_train], "valid": idx[n_train : n_train + n_valid], "test": idx[n_train + n_valid :]}
    return {k: Intervals(trials.start[v], trials.end[v]) for k, v in parts.items()}
