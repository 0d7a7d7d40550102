"""Recordings on disk: the brainsets / temporaldata HDF5 layout, read into and written from ``Recording``.

The on-disk format is the one ``brainsets prepare`` writes with ``temporaldata.Data.to_hdf5``:

- ``spikes.timestamps`` (s, float64) and ``spikes.unit_index`` (int, into ``units.id``)
- ``units.id`` (strings)
- behaviour: ``cursor`` or ``hand`` (or ``finger``), an irregular time series with
  ``timestamps`` and ``vel`` (and optionally ``pos``); velocity is derived from ``pos`` if absent
- ``trials``: intervals with optional ``target_id`` / ``target_dir`` and ``is_valid`` / ``result``
  (and, for sequence tasks, ``labels`` (n, max_len) int padded with -1 and ``sentence`` strings)
- ``movement_phases``: ``hold_period``, ``reach_period``, ``return_period``, ``random_period``,
  ``invalid`` (intervals); ``cursor_outlier_segments`` (intervals)
- ``domain``, ``train_domain``, ``valid_domain``, ``test_domain`` (intervals)
- ``session.id``, ``subject.id``, ``brainset.id`` and the optional ``session.task`` attribute
- ``features/<name>``: regular per-channel feature streams (see ``FeatureStream``), each a group
  with attributes ``kind`` ("counts" | "continuous") and ``bin_s``, ``channels.id`` (strings) and
  ``series``, a temporaldata ``RegularTimeSeries`` with ``values`` (n_bins, n_channels) float32,
  ``sampling_rate`` = 1 / bin_s and domain [t0, t0 + n_bins * bin_s)

A recording holds spikes, feature streams, or both. Without a ``spikes`` group (e.g. handwriting /
speech data that only have threshold crossings), its spike events are derived from a counts stream
(see ``Recording``), so spike-token models read crossings as events, one token per crossing.

Models never see temporaldata objects: they consume the views in ``bench.data.views``.
"""


from __future__ import annotations

import os
import tempfile
from pathlib import Path

import h5py
import numpy as np

from bench.data import brainsets_compat as compat
from bench.data.budget import check_allocation
from bench.data.intervals import Intervals
from bench.data.recording import BEHAVIOUR_KEYS, PHASE_KEYS, SPLITS, Behaviour, FeatureStream, Recording, Trials
from bench.data.validity import real_array
from bench.errors import DataError


# ----------------------------------------------------------------------------- writing


def _features_to_temporaldata(rec: Recording, interval):
    from temporaldata import ArrayDict, Data, RegularTimeSeries

    streams = {}
    for name, f in rec.features.items():
        series = RegularTimeSeries(sampling_rate=1.0 / f.bin_s, domain_start=f.t0, values=f.values)
        streams[name] = Data(kind=f.kind, bin_s=f.bin_s, channels=ArrayDict(id=f.channel_ids.astype(str)),
                             series=series, domain=series.domain)
    return Data(**streams, domain=interval(rec.domain))


def _to_temporaldata(rec: Recording):
    from temporaldata import ArrayDict, Data, Interval, IrregularTimeSeries

    def interval(iv: Intervals, **extra) -> Interval:
        return Interval(start=iv.start.copy(), end=iv.end.copy(), **extra)

    fields: dict = dict(
        brainset=Data(id=rec.brainset),
        subject=Data(id=rec.subject_id),
        session=Data(id=rec.recording_id, task=rec.task_type,
                     **({"spike_bin_s": rec.spike_bin_s} if rec.spike_bin_s is not None else {})),
        domain=interval(rec.domain),
    )
    if rec.events_from is None and rec.n_units:  # derived events are re-derived on loading
        fields["spikes"] = IrregularTimeSeries(
            timestamps=rec.spike_times.astype(np.float64),
            unit_index=rec.spike_units.astype(np.int64),
            domain=interval(rec.domain),
        )
        fields["units"] = ArrayDict(id=np.asarray(rec.unit_ids).astype(str))
    if rec.features:
        fields["features"] = _features_to_temporaldata(rec, interval)
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
            **({} if t.labels is None else {"labels": np.asarray(t.labels, np.int64)}),
            **({} if t.sentence is None else {"sentence": np.asarray(t.sentence).astype(str)}),
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
    span = float(rec.domain.end[-1] - rec.domain.start[0])
    # temporaldata indexes each irregular series (spikes, behaviour) on a 1 s grid over the domain
    check_allocation(span, 16, f"Writing recording {rec.recording_id} ({span:g} s of domain) to {path}",
                     "(a time far from the others, e.g. in ms where seconds are expected)")
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


def _intervals(obj, where: str = "intervals") -> Intervals:
    start, end = real_array(obj.start, f"{where}.start"), real_array(obj.end, f"{where}.end")
    return Intervals(start.astype(np.float64), end.astype(np.float64))


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.item())
    return str(value)


def _guess_task_type(data, phases: dict[str, Intervals], declared: str | None, session_id: str, brainset: str) -> str:
    named = compat.task_from_text(declared) or compat.task_from_names(session_id, brainset)
    if named:
        return named
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
        try:
            return _from_data(data, path)
        except DataError as exc:
            text = str(exc)
            raise DataError(text if str(path) in text else f"Recording file {path}: {text}") from None
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as exc:  # wrong type or shape
            raise DataError(
                f"Recording file {path} holds a field of the wrong type or shape ({type(exc).__name__}: "
                f"{str(exc)[:200]}); expected the temporaldata / brainsets layout (see bench/data/storage.py)."
            ) from None
    finally:
        f.close()


def _read_features(data, path: Path) -> dict[str, FeatureStream]:
    if "features" not in set(data.keys()):
        return {}
    streams = {}
    for name in data.features.keys():
        group = getattr(data.features, name)
        gkeys = set(group.keys())
        missing = [k for k in ("series", "channels", "kind") if k not in gkeys]
        if missing:
            raise DataError(
                f"Recording file {path}: feature stream 'features/{name}' lacks {', '.join(missing)}; "
                "expected attributes kind and bin_s, channels.id and a RegularTimeSeries 'series' with values."
            )
        series = group.series
        bin_s = float(group.bin_s) if "bin_s" in gkeys else 1.0 / float(series.sampling_rate)
        try:
            streams[name] = FeatureStream(
                name=name, bin_s=bin_s, t0=float(np.asarray(series.domain.start)[0]),
                values=np.asarray(series.values), channel_ids=np.asarray(group.channels.id).astype(str),
                kind=_text(group.kind),
            )
        except DataError as exc:
            raise DataError(f"Recording file {path}: {exc}") from None
    return streams


def _read_spikes(data, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recorded spikes (times sorted, unit indices, unit ids)."""
    keys = set(data.keys())
    for required in ("spikes", "units"):
        if required not in keys:
            raise DataError(
                f"Recording file {path} has no '{required}' group; a brainsets recording needs "
                "spikes.timestamps, spikes.unit_index and units.id (or, without spikes, feature "
                "streams under 'features')."
            )
    spike_times = real_array(data.spikes.timestamps, f"Recording file {path}: spikes.timestamps").astype(np.float64)
    spike_units = real_array(data.spikes.unit_index, f"Recording file {path}: spikes.unit_index", integer=True)
    spike_units = spike_units.astype(np.int64)
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
    return spike_times[order], spike_units[order], unit_ids


def _from_data(data, path: Path) -> Recording:
    keys = set(data.keys())
    features = _read_features(data, path)
    if "spikes" in keys or not features:
        spike_times, spike_units, unit_ids = _read_spikes(data, path)
    else:  # features only: spike events, if any, are derived from a counts stream
        spike_times, spike_units, unit_ids = np.zeros(0), np.zeros(0, np.int64), np.zeros(0, str)

    # temporaldata's keys() leaves out ``domain``, so look it up directly
    stored_domain = getattr(data, "domain", None)
    if stored_domain is not None and len(stored_domain) > 0:
        domain = _intervals(stored_domain, "domain")
    elif spike_times.size:
        domain = Intervals.single(float(spike_times[0]), float(spike_times[-1]) + 1e-6)
    else:
        domain = Intervals.single(min(f.t0 for f in features.values()), max(f.end for f in features.values()))

    behaviour = None
    for name in BEHAVIOUR_KEYS:
        if name in keys:
            ts_obj = getattr(data, name)
            bkeys = set(ts_obj.keys())
            where = f"Recording file {path}: behaviour '{name}'"
            t = real_array(ts_obj.timestamps, f"{where}.timestamps").astype(np.float64)
            pos = real_array(ts_obj.pos, f"{where}.pos").astype(np.float64) if "pos" in bkeys else None
            if "vel" in bkeys:
                vel = real_array(ts_obj.vel, f"{where}.vel").astype(np.float64)
            elif pos is not None and t.size > 1:
                vel = np.gradient(pos, t, axis=0)
            else:
                raise DataError(f"Recording file {path}: behaviour '{name}' has neither vel nor pos.")
            t, vel, pos = compat.finite_samples(t, vel.reshape(t.size, -1), pos)
            behaviour = Behaviour(name=name, timestamps=t, vel=vel, pos=pos)
            break

    trials = None
    if "trials" in keys and len(data.trials) > 0:
        tr = data.trials
        tkeys = set(tr.keys())
        n = len(tr)
        target = np.full(n, -1, np.int64)
        for k in ("target_id", "target_dir", "direction"):
            if k in tkeys:
                target = compat.trial_targets(getattr(tr, k), f"Recording file {path}: trials.{k}")
                break
        valid = compat.success_flags(tr, tkeys)
        valid = np.ones(n, bool) if valid is None else valid
        if "is_valid" in tkeys:
            valid = np.asarray(tr.is_valid).astype(bool)
        elif "result" in tkeys:
            res = np.array([_text(r) for r in np.asarray(tr.result)])
            valid = np.isin(res, ["R", "success", "1", "True"])
        labels = np.asarray(tr.labels, np.int64).reshape(n, -1) if "labels" in tkeys else None
        sentence = np.array([_text(x) for x in np.asarray(tr.sentence)]) if "sentence" in tkeys else None
        start = real_array(tr.start, "trials.start").astype(np.float64)
        trials = Trials(start, real_array(tr.end, "trials.end").astype(np.float64), target, valid,
                        labels, sentence)

    phases: dict[str, Intervals] = {}
    if "movement_phases" in keys:
        mp = data.movement_phases
        for k in PHASE_KEYS:
            if k in set(mp.keys()):
                phases[k] = _intervals(getattr(mp, k), f"movement_phases.{k}")
    outliers = Intervals.empty()
    for k in ("cursor_outlier_segments", "hand_outlier_segments"):
        if k in keys:
            outliers = _intervals(getattr(data, k), k)

    phases = compat.eval_window_phases(data, keys, phases)
    splits = {s: _intervals(getattr(data, f"{s}_domain"), f"{s}_domain") for s in SPLITS if f"{s}_domain" in keys}

    def ident(key: str, default: str) -> str:
        if key in keys and "id" in set(getattr(data, key).keys()):
            return _text(getattr(data, key).id)
        return default

    declared = None
    if "session" in keys and "task" in set(data.session.keys()):
        declared = _text(data.session.task)
    spike_bin_s = None
    if "session" in keys and "spike_bin_s" in set(data.session.keys()):
        spike_bin_s = float(real_array(data.session.spike_bin_s, f"Recording file {path}: session.spike_bin_s"))
        if not (np.isfinite(spike_bin_s) and spike_bin_s > 0):
            raise DataError(f"Recording file {path}: session.spike_bin_s is {spike_bin_s!r}; expected a positive bin width in seconds.")
    session_id, brainset = ident("session", path.stem), ident("brainset", path.parent.name)
    fields = dict(
        recording_id=session_id,
        subject_id=ident("subject", "unknown"),
        brainset=brainset,
        task_type=_guess_task_type(data, phases, declared, session_id, brainset),
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
        spike_bin_s=spike_bin_s,
    )
    try:
        rec = Recording(**fields, features=features)
    except DataError as exc:
        raise DataError(f"Recording file {path}: {exc}") from None
    return rec
