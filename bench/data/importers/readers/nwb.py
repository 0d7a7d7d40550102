"""NWB files (pynwb) as DANDI and the Neural Latents Benchmark publish them -> the ``spikes`` layout.

Read: the ``units`` table (``spike_times``, one row per unit; ids from its ``id`` column), one
behaviour time series (a ``TimeSeries`` / ``SpatialSeries`` anywhere under ``processing`` or
``acquisition``, e.g. MC_Maze's ``behavior/hand_vel`` or DANDI 000688's
``behavior/Velocity/cursor_vel``), and the ``trials`` table (``start_time``, ``stop_time`` and
optional label, validity and split columns). Behaviour samples that hold NaN (NLB marks missing samples
so) are dropped, which leaves a gap in the sampling; the spikes layout cuts segments at gaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.data.importers.messages import ArrayNames, fail
from bench.data.importers.spec import ImportSpec
from bench.errors import BenchError


def _open(path: Path):
    try:
        import pynwb
    except ImportError:
        raise fail(
            f"Reading {path} (format 'nwb') needs pynwb, which is not installed; `pip install pynwb==4.2.0` "
            "(it is a dependency of this project: reinstall it with `pip install -e .`)."
        ) from None
    try:
        io = pynwb.NWBHDF5IO(str(path), "r")
        return io, io.read()
    except Exception as exc:  # pynwb / hdmf raise assorted errors on files that are not NWB
        raise fail(
            f"Import input file {path} (field 'path') is not a readable NWB file ({type(exc).__name__}: "
            f"{str(exc)[:300]}). Expected an NWB 2.x HDF5 file as DANDI publishes it."
        ) from None


def _series_in(container, prefix: str) -> dict[str, Any]:
    """Every TimeSeries below ``container`` (a processing module or acquisition), by path."""
    from pynwb import TimeSeries

    found: dict[str, Any] = {}
    items = container.data_interfaces.items() if hasattr(container, "data_interfaces") else container.items()
    for name, obj in items:
        path = f"{prefix}/{name}" if prefix else name
        if isinstance(obj, TimeSeries):
            found[path] = obj
        else:  # Position, Velocity (BehavioralTimeSeries), ... hold named series
            for child in getattr(obj, "children", ()):
                if isinstance(child, TimeSeries):
                    found[f"{path}/{child.name}"] = child
    return found


def behaviour_series(nwbfile) -> dict[str, Any]:
    """All time series a behaviour can come from: 'MODULE/NAME[/SERIES]' and 'acquisition/NAME'."""
    found: dict[str, Any] = {}
    for module_name, module in nwbfile.processing.items():
        found.update(_series_in(module, module_name))
    found.update(_series_in(nwbfile.acquisition, "acquisition"))
    return found


def _pick_series(found: dict[str, Any], spec: ImportSpec, path: Path) -> str:
    listing = ", ".join(sorted(found)) or "none"
    if spec.behaviour_series:
        if spec.behaviour_series not in found:
            raise fail(
                f"NWB file {path} has no time series '{spec.behaviour_series}' (field 'behaviour_series'); "
                f"its time series are: {listing}."
            )
        return spec.behaviour_series
    word = "vel" if spec.behaviour_kind == "velocity" else "pos"
    hits = [k for k in found if word in k.rsplit("/", 1)[-1].lower() and "eye" not in k.lower()]
    if len(hits) == 1:
        return hits[0]
    raise fail(
        f"NWB file {path}: cannot tell which time series is the {spec.behaviour_kind} to decode "
        f"({len(hits)} candidates named '*{word}*'); name it with 'behaviour_series' (e.g. "
        f"behaviour_series: behavior/hand_vel, and behaviour_kind: velocity or position). Its time series "
        f"are: {listing}."
    )


def _timestamps(ts, n: int, where: str) -> np.ndarray:
    if ts.timestamps is not None:
        t = np.asarray(ts.timestamps[:], np.float64)
    elif ts.rate:
        t = float(ts.starting_time or 0.0) + np.arange(n) / float(ts.rate)
    else:
        raise fail(f"{where} has neither timestamps nor a sampling rate.")
    if t.shape != (n,):
        raise fail(f"{where} has {t.size} timestamps for {n} samples; expected one per sample.")
    return t


def _read_behaviour(nwbfile, spec: ImportSpec, path: Path, arrays: dict, names: dict) -> None:
    found = behaviour_series(nwbfile)
    if not found and not spec.behaviour_series:
        return  # no behaviour in the file: spikes (and trials) only
    key = _pick_series(found, spec, path)
    where = f"time series '{key}'"
    values = np.asarray(found[key].data[:])
    if values.ndim not in (1, 2) or values.shape[0] < 2 or values.dtype.kind not in "iuf":
        raise fail(f"The {where} has shape {values.shape} and dtype {values.dtype}; expected numbers (samples, dims).")
    values = values.reshape(values.shape[0], -1).astype(np.float64)
    t = _timestamps(found[key], values.shape[0], f"The {where}")
    keep = np.isfinite(values).all(axis=1) & np.isfinite(t)
    if keep.sum() < 2:
        raise fail(f"The {where} has {int(keep.sum())} samples without NaN; expected at least two.")
    arrays["behaviour_timestamps"], arrays["behaviour"] = t[keep], values[keep]
    names["behaviour"] = f"the {where}"
    names["behaviour_timestamps"] = f"the timestamps of the {where}"


def _read_units(nwbfile, path: Path, arrays: dict, names: dict) -> None:
    units = nwbfile.units
    if units is None or "spike_times" not in units.colnames:
        raise fail(
            f"NWB file {path} has no units table with spike_times; the importer reads sorted units or "
            "threshold crossings as nwbfile.units (one row per unit, its spike times in seconds)."
        )
    ids = np.asarray(units.id[:])
    per_unit = [np.asarray(units["spike_times"][i], np.float64) for i in range(len(ids))]
    counts = np.array([p.size for p in per_unit], np.int64)
    if counts.sum() == 0:
        raise fail(f"NWB file {path}: the units table holds {len(ids)} units and no spike times; a recording needs spikes.")
    arrays["spike_times"] = np.concatenate(per_unit)
    arrays["spike_units"] = np.repeat(np.arange(len(ids)), counts)
    arrays["unit_ids"] = np.array([f"unit_{int(i):03d}" if np.issubdtype(ids.dtype, np.integer) else str(i) for i in ids])
    names["spike_times"] = "units.spike_times"
    names["spike_units"] = "the units table"
    names["unit_ids"] = "units.id"


def _trial_column(table, column, path: Path, field: str) -> np.ndarray:
    if not isinstance(column, str) or column not in table.colnames:
        raise fail(
            f"NWB file {path}: the trials table has no column {column!r} ({field}); its columns are "
            f"{', '.join(table.colnames)}."
        )
    return np.asarray(table[column][:])


VALID_WORDS = ("r", "success", "successful", "reward", "rewarded", "true", "1")


def _valid_flags(raw: np.ndarray) -> np.ndarray:
    """Booleans / 0-1 as they are; text true for a success ('R' as DANDI 000688's result, 'success', ...)."""
    if raw.dtype.kind in "biuf":
        return raw
    text = np.array([(x.decode() if isinstance(x, bytes) else str(x)).strip().lower() for x in raw.reshape(-1)])
    return np.isin(text, VALID_WORDS)


def _read_trials(nwbfile, spec: ImportSpec, path: Path, arrays: dict, names: dict) -> None:
    table = nwbfile.trials
    if table is None or len(table) == 0:
        if spec.label_column is not None or spec.split_column is not None:
            raise fail(f"NWB file {path} has no trials table, but label_column / split_column name its columns.")
        return
    arrays["trial_start"] = np.asarray(table["start_time"][:], np.float64)
    arrays["trial_end"] = np.asarray(table["stop_time"][:], np.float64)
    names["trial_start"], names["trial_end"] = (f"trials.{c}" for c in ("start_time", "stop_time"))
    if spec.label_column is not None:
        arrays["labels"] = _trial_column(table, spec.label_column, path, "label_column")
        names["labels"] = f"trials.{spec.label_column}"
    if spec.valid_column is not None:
        arrays["trial_valid"] = _valid_flags(_trial_column(table, spec.valid_column, path, "valid_column"))
        names["trial_valid"] = f"trials.{spec.valid_column}"
    if spec.split_column is not None:
        raw = _trial_column(table, spec.split_column, path, "split_column")
        text = np.array([(x.decode() if isinstance(x, bytes) else str(x)).strip() for x in raw.reshape(-1)])
        split = np.array([spec.split_names.get(x, x) for x in text]) if spec.split_names else text
        names["trial_split"] = f"trials.{spec.split_column}"
        keep = split != "exclude"  # trials no split may use (NLB's 'none'): left out of the recording
        if not keep.any():
            raise fail(f"NWB file {path}: split_names excludes every trial of trials.{spec.split_column}.")
        for key in ("trial_start", "trial_end", "labels", "trial_valid"):
            if key in arrays:
                arrays[key] = arrays[key][keep]
        arrays["trial_split"] = split[keep]


def read_nwb(spec: ImportSpec) -> tuple[dict[str, Any], ArrayNames]:
    """The units, behaviour and trials of an NWB file as the ``spikes`` layout's arrays."""
    if spec.layout not in (None, "spikes"):
        raise fail(f"NWB import reads spike times: layout must be 'spikes' (or left out), not '{spec.layout}'.")
    path = Path(spec.path)
    io, nwbfile = _open(path)
    arrays: dict[str, Any] = {}
    names: dict[str, str] = {}
    try:
        for part, read in (("units", lambda: _read_units(nwbfile, path, arrays, names)),
                           ("behaviour", lambda: _read_behaviour(nwbfile, spec, path, arrays, names)),
                           ("trials", lambda: _read_trials(nwbfile, spec, path, arrays, names))):
            try:
                read()
            except BenchError:
                raise
            except Exception as exc:  # pynwb reads lazily: a damaged table fails here, in hdmf or h5py
                raise fail(
                    f"NWB file {path}: its {part} could not be read ({type(exc).__name__}: {str(exc)[:200]}); the "
                    "file opened as NWB but that part is damaged or not laid out as NWB 2.x writes it."
                ) from None
    finally:
        io.close()
    return arrays, ArrayNames(str(path), names)
