"""The three layouts of canonical arrays (continuous bins, binned trials, spike times) -> Recording.

Each layout checks its arrays, cuts them into segments (trials, or contiguous runs) and hands
them to ``timeline`` to build the recording.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.data.importers import checks
from bench.data.importers.checks import check_counts, check_finite, per_trial, select_dims, split_codes, vector
from bench.data.importers.features import feature_streams, timeline_bins
from bench.data.importers.messages import ArrayNames, fail, shape_of
from bench.data.importers.spec import ImportSpec
from bench.data.importers.timeline import (
    block_splits,
    build_binned,
    make_splits,
    need_bin_size,
    recording_name,
    task_type,
    velocity_from_position,
)
from bench.data.intervals import Intervals
from bench.data.recording import Behaviour, Recording, Trials


def _label_key(arrays: dict, per_bin: bool) -> str | None:
    """Which of 'label' (per bin) / 'labels' (per trial) holds the labels; either is accepted."""
    order = ("label", "labels") if per_bin else ("labels", "label")
    return next((k for k in order if k in arrays), None)


def _continuous_counts(arrays: dict, spec: ImportSpec, names: ArrayNames) -> np.ndarray:
    """Counts (T bins, U units); a recording of feature streams only has U = 0 on its timeline."""
    if "counts" not in arrays:
        return np.zeros((timeline_bins(arrays, spec, names), 0), np.int32)
    raw = arrays["counts"]
    c = np.asarray(raw)
    if c.ndim != 2:
        raise fail(f"{names('counts')} has shape {shape_of(raw)}; expected 2-D (T bins, U units).")
    if spec.transpose_counts:
        c = c.T
    counts = check_counts(c, "counts", names)
    if counts.shape[0] == 0 or counts.shape[1] == 0:
        raise fail(f"{names('counts')} has shape {shape_of(raw)}; expected at least one bin and one unit.")
    return counts


def _import_continuous(arrays: dict, spec: ImportSpec, names: ArrayNames, behaviour_selected: bool) -> Recording:
    need_bin_size(spec, names)
    counts = _continuous_counts(arrays, spec, names)
    T = counts.shape[0]
    streams = feature_streams(arrays, spec, names, T) if spec.features else {}

    beh = None
    if arrays.get("behaviour") is not None:
        bb = np.asarray(arrays["behaviour"])
        if bb.ndim == 1:
            bb = bb[:, None]
        if bb.ndim != 2 or bb.shape[0] != T:
            raise fail(f"{names('behaviour')} has shape {shape_of(arrays['behaviour'])}; expected ({T}, D): one row per bin of counts.")
        beh = select_dims(check_finite(bb, "behaviour", names), spec, "behaviour", names, behaviour_selected)

    label_key = _label_key(arrays, per_bin=True)
    if "trial_id" not in arrays:
        if label_key:
            raise fail(
                f"{names(label_key)} is given but there is no per-bin 'trial_id' in {names.where}; labels "
                "need trials (a split alone does not: give 'trial_split' per bin without trial ids)."
            )
        bin_split = None
        if "trial_split" in arrays:  # the file's own split, per bin: its contiguous runs become the splits
            sp = vector(arrays, "trial_split", T, names, f"({T},): one split per bin (without 'trial_id')")
            bin_split = split_codes(sp, "trial_split", names)
        seg_beh = [beh] if beh is not None else None
        return build_binned(arrays, [counts], seg_beh, None, bin_split, False, spec, names, streams)

    tid = vector(arrays, "trial_id", T, names, f"({T},): one trial id per bin")
    change = np.flatnonzero(tid[1:] != tid[:-1]) + 1
    bounds = np.concatenate([[0], change, [T]])
    run_ids = tid[bounds[:-1]]
    if np.unique(run_ids).size != run_ids.size:
        raise fail(
            f"{names('trial_id')}: the bins of a trial must be consecutive, but some trial id appears in "
            "two separate runs of rows."
        )
    n = run_ids.size
    seg_of_bin = np.repeat(np.arange(n), np.diff(bounds))
    segs = [counts[a:z] for a, z in zip(bounds[:-1], bounds[1:])]
    seg_beh = [beh[a:z] for a, z in zip(bounds[:-1], bounds[1:])] if beh is not None else None
    labels = None
    if label_key:
        lab = vector(arrays, label_key, None, names, f"({T},) per bin or ({n},) per trial")
        labels = per_trial(checks.labels(lab, spec.label_offset, label_key, names), seg_of_bin, n, label_key, names)
    split = None
    if "trial_split" in arrays:
        sp = vector(arrays, "trial_split", None, names, f"({T},) per bin or ({n},) per trial")
        split = per_trial(split_codes(sp, "trial_split", names), seg_of_bin, n, "trial_split", names)
    return build_binned(arrays, segs, seg_beh, labels, split, True, spec, names, streams)


def _import_trials(arrays: dict, spec: ImportSpec, names: ArrayNames, behaviour_selected: bool) -> Recording:
    need_bin_size(spec, names)
    raw = arrays["trial_counts"]
    if isinstance(raw, np.ndarray) and raw.dtype == object:
        raw = list(raw.reshape(-1))
    if isinstance(raw, (list, tuple)):
        trials = [np.asarray(x) for x in raw]
        for i, t in enumerate(trials):
            if t.ndim != 2:
                raise fail(f"{names('trial_counts')}: trial {i} has shape {t.shape}; expected 2-D (U units, T_i bins).")
    else:
        arr = np.asarray(raw)
        if arr.ndim != 3:
            raise fail(f"{names('trial_counts')} has shape {shape_of(raw)}; expected (N trials, U units, T bins) or a list of (U, T_i) arrays.")
        trials = list(arr)
    n = len(trials)
    if n == 0:
        raise fail(f"{names('trial_counts')} holds no trials.")
    if spec.transpose_counts:
        trials = [t.T for t in trials]  # each (T_i, U) now read as (U, T_i)
    if "trial_lengths" in arrays:
        tl = vector(arrays, "trial_lengths", n, names, f"({n},): the number of valid bins of each trial")
        tl = check_counts(tl, "trial_lengths", names)
        for i, (t, L) in enumerate(zip(trials, tl)):
            if L > t.shape[1]:
                raise fail(f"{names('trial_lengths')}: trial {i} has length {L} but only {t.shape[1]} bins.")
        trials = [t[:, :L] for t, L in zip(trials, tl)]
    n_units = trials[0].shape[0]
    for i, t in enumerate(trials):
        if t.shape[0] != n_units:
            raise fail(
                f"{names('trial_counts')}: trial {i} has {t.shape[0]} units but trial 0 has {n_units}; expected "
                "(U units, T_i bins) with the same U in every trial (set transpose_counts if stored as T x U)."
            )
        if t.shape[1] == 0:
            raise fail(f"{names('trial_counts')}: trial {i} has no bins.")
    segs = [check_counts(t, "trial_counts", names).T for t in trials]  # (T_i, U)

    seg_beh = None
    if arrays.get("trial_behaviour") is not None:
        rb = arrays["trial_behaviour"]
        if isinstance(rb, np.ndarray) and rb.dtype == object:
            rb = list(rb.reshape(-1))
        rb = list(rb) if isinstance(rb, (list, tuple)) or np.ndim(rb) == 3 else None
        if rb is None or len(rb) != n:
            raise fail(f"{names('trial_behaviour')} has shape {shape_of(arrays['trial_behaviour'])}; expected ({n}, D, T) or a list of {n} (D, T_i) arrays.")
        seg_beh = []
        for i, (x, s) in enumerate(zip(rb, segs)):
            x = check_finite(np.asarray(x), "trial_behaviour", names)
            if x.ndim == 1 and x.shape[0] == s.shape[0]:
                x = x[:, None]
            elif x.ndim == 2 and x.shape[1] == s.shape[0]:
                x = x.T
            elif not (x.ndim == 2 and x.shape[0] == s.shape[0]):
                raise fail(f"{names('trial_behaviour')}: trial {i} has shape {x.shape}; expected (D, {s.shape[0]}) to match its {s.shape[0]} bins of counts.")
            seg_beh.append(select_dims(x, spec, "trial_behaviour", names, behaviour_selected))

    label_key = _label_key(arrays, per_bin=False)
    labels = None
    if label_key:
        lab = vector(arrays, label_key, n, names, f"({n},): one label per trial")
        labels = checks.labels(lab, spec.label_offset, label_key, names)
    split = None
    if "trial_split" in arrays:
        split = split_codes(vector(arrays, "trial_split", n, names, f"({n},): one split per trial"), "trial_split", names)
    return build_binned(arrays, segs, seg_beh, labels, split, True, spec, names)


def _import_spikes(arrays: dict, spec: ImportSpec, names: ArrayNames, behaviour_selected: bool) -> Recording:
    t = check_finite(vector(arrays, "spike_times", None, names, "(S,): one time (s) per spike"), "spike_times", names)
    if "spike_units" not in arrays:
        raise fail(f"The spikes layout needs 'spike_units' next to {names('spike_times')}: one unit per spike.")
    u = check_counts(vector(arrays, "spike_units", t.size, names, f"({t.size},): one unit per spike time"), "spike_units", names)
    if t.size == 0:
        raise fail(f"{names('spike_times')} is empty; a recording needs spikes.")
    if "unit_ids" in arrays:
        n_units = int(np.asarray(arrays["unit_ids"]).size)
        unit_ids = checks.unit_ids(arrays, n_units, names)
        if u.max() >= n_units:
            raise fail(f"{names('spike_units')} holds unit {u.max()} but unit_ids has only {n_units} entries (indices are 0-based).")
        idx = u
    else:
        labels_u, idx = np.unique(u, return_inverse=True)
        unit_ids = np.array([f"unit_{int(x):03d}" for x in labels_u])
    order = np.argsort(t, kind="stable")
    t, idx = t[order], idx[order].astype(np.int64)
    times = [t[0], t[-1]]

    behaviour = None
    beh_segments: list[tuple[float, float]] = []
    if arrays.get("behaviour") is not None:
        if "behaviour_timestamps" not in arrays:
            raise fail(f"{names('behaviour')} needs 'behaviour_timestamps' (s) in the spikes layout.")
        bt = check_finite(vector(arrays, "behaviour_timestamps", None, names, "(B,): one time per behaviour sample"), "behaviour_timestamps", names)
        bb = np.asarray(arrays["behaviour"])
        if bb.ndim == 1:
            bb = bb[:, None]
        if bb.ndim != 2 or bb.shape[0] != bt.size:
            raise fail(f"{names('behaviour')} has shape {shape_of(arrays['behaviour'])}; expected ({bt.size}, D): one row per behaviour timestamp.")
        bb = select_dims(check_finite(bb, "behaviour", names), spec, "behaviour", names, behaviour_selected)
        o = np.argsort(bt, kind="stable")
        bt, bb = bt[o], bb[o]
        if bt.size < 2 or np.any(np.diff(bt) <= 0):
            raise fail(f"{names('behaviour_timestamps')} must hold at least two distinct, increasing times.")
        dt = np.diff(bt)
        breaks = np.flatnonzero(dt > 1.5 * np.median(dt)) + 1  # contiguous segments of sampling
        bounds = np.concatenate([[0], breaks, [bt.size]])
        step = float(np.median(dt))
        if spec.behaviour_kind == "position":
            vel = np.concatenate(
                [velocity_from_position(bb[a:z], np.diff(bt[a:z])) for a, z in zip(bounds[:-1], bounds[1:])]
            )
            behaviour = Behaviour(spec.behaviour_name, bt, vel, bb)
        else:
            behaviour = Behaviour(spec.behaviour_name, bt, bb, None)
        beh_segments = [(float(bt[a]), float(bt[z - 1]) + step) for a, z in zip(bounds[:-1], bounds[1:])]
        times += [bt[0], bt[-1] + step]

    trials = None
    given = None
    if "trial_start" in arrays or "trial_end" in arrays:
        if not ("trial_start" in arrays and "trial_end" in arrays):
            raise fail(f"Trials in {names.where} need both 'trial_start' and 'trial_end' (s).")
        ts = check_finite(vector(arrays, "trial_start", None, names, "(N,): trial start times (s)"), "trial_start", names)
        n = ts.size
        te = check_finite(vector(arrays, "trial_end", n, names, f"({n},): one end time per trial_start"), "trial_end", names)
        if np.any(te <= ts):
            i = int(np.flatnonzero(te <= ts)[0])
            raise fail(f"{names('trial_end')}: trial {i} ends at {te[i]} s, not after its start {ts[i]} s.")
        o = np.argsort(ts, kind="stable")
        label_key = _label_key(arrays, per_bin=False)
        target = np.full(n, -1, np.int64)
        if label_key:
            target = checks.labels(vector(arrays, label_key, n, names, f"({n},): one label per trial"), spec.label_offset, label_key, names)
        if "trial_split" in arrays:
            given = split_codes(vector(arrays, "trial_split", n, names, f"({n},): one split per trial"), "trial_split", names)[o]
        valid = np.ones(n, bool)
        if "trial_valid" in arrays:
            valid = vector(arrays, "trial_valid", n, names, f"({n},): one validity flag per trial")
            if valid.dtype.kind not in "biuf" or not np.isin(valid, [0, 1]).all():
                raise fail(f"{names('trial_valid')} holds values other than true / false (1 / 0); expected one flag per trial.")
            valid = valid.astype(bool)
        trials = Trials(ts[o], te[o], target[o], valid[o])
        times += [ts.min(), te.max()]
    elif any(k in arrays for k in ("labels", "label", "trial_split", "trial_valid")):
        raise fail(f"Labels / trial_split / trial_valid in {names.where} need trials: give 'trial_start' and 'trial_end'.")

    start = float(min(times))
    end = float(max(times)) + 1e-3  # half-open domain: keep the last spike inside
    domain = Intervals.single(start, end)
    phases: dict[str, Intervals] = {}
    if trials is not None:
        splits = make_splits(trials, given, spec)
        if behaviour is not None:
            phases["reach_period"] = trials.as_intervals()
    else:
        splits = block_splits(start, end, None)
        if behaviour is not None:
            phases["random_period"] = Intervals(np.array([s for s, _ in beh_segments]), np.array([e for _, e in beh_segments]))
    return Recording(
        recording_id=recording_name(spec),
        subject_id=spec.subject_id,
        brainset=spec.brainset,
        task_type=task_type(spec, trials is not None, behaviour is not None),
        domain=domain,
        spike_times=t,
        spike_units=idx,
        unit_ids=unit_ids,
        behaviour=behaviour,
        trials=trials,
        phases=phases,
        splits=splits,
    )


def _infer_layout(arrays: dict, spec: ImportSpec, names: ArrayNames) -> str:
    for key, layout in (("counts", "continuous"), ("trial_counts", "trials"), ("spike_times", "spikes")):
        if key in arrays:
            return layout
    if spec.features:
        return "continuous"
    raise fail(
        f"{names.where} holds none of the arrays 'counts' (continuous layout), 'trial_counts' (trials "
        "layout) or 'spike_times' (spikes layout); name the right ones with 'fields' (e.g. fields: "
        "{counts: my_counts}). See docs/import_schema.md."
    )


_LAYOUT_KEY = {"continuous": "counts", "trials": "trial_counts", "spikes": "spike_times"}


def build_recording(arrays: dict[str, Any], spec: ImportSpec, names: ArrayNames, behaviour_selected: bool) -> Recording:
    """The recording the arrays describe, in the spec's layout (or the one their keys imply).

    ``behaviour_selected``: the reader already kept only ``behaviour_columns`` (CSV).
    """
    layout = spec.layout or _infer_layout(arrays, spec, names)
    if spec.features and layout != "continuous":
        raise fail(
            f"Feature streams ({', '.join(spec.features)}) are imported with the 'continuous' layout (bins on one "
            f"timeline from 0 s), not the '{layout}' layout of {names.where}."
        )
    key = _LAYOUT_KEY[layout]
    if key not in arrays and not spec.features:
        raise fail(f"{names.where} has no '{spec.fields.get(key, key)}' array, which the '{layout}' layout needs (fields.{key}).")
    build = {"continuous": _import_continuous, "trials": _import_trials, "spikes": _import_spikes}[layout]
    return build(arrays, spec, names, behaviour_selected)

