"""Arrays -> Recording in the brainsets / temporaldata layout: spikes from counts, the timeline, behaviour,
trials, movement phases and splits.

Binned counts become spike times placed inside their bins, so re-binning at the import's bin width
gives back the counts exactly; binned trials are laid out on one timeline on a ``trial_align_s``
grid, so trial starts fall on the streaming chunk grid.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from bench.data.budget import check_allocation
from bench.data.importers.checks import unit_ids
from bench.data.importers.messages import ArrayNames, fail
from bench.data.importers.spec import ImportSpec, safe_file_name
from bench.data.intervals import Intervals
from bench.data.recording import Behaviour, FeatureStream, Recording, Trials, split_trials


def counts_to_spikes(
    counts: np.ndarray, bin_index: np.ndarray, bin_s: float, placement: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spike times for counts (n_bins, U) whose rows sit at global bin indices ``bin_index``.

    The k spikes of a bin go to the centres of k equal sub-slots ('even') or to a seeded uniform
    position inside each sub-slot ('jitter'); either way every spike stays inside its bin.
    """
    rows, cols = np.nonzero(counts)
    k = counts[rows, cols].astype(np.int64)
    total = int(k.sum())
    rep = np.repeat(np.arange(k.size), k)
    j = np.arange(total) - np.repeat(np.cumsum(k) - k, k)
    if placement == "even":
        offset = 0.5
    else:
        offset = np.random.default_rng(seed).uniform(0.02, 0.98, total)
    frac = (j + offset) / k[rep]
    times = (bin_index[rows[rep]].astype(np.float64) + frac) * bin_s
    units = cols[rep].astype(np.int64)
    order = np.argsort(times, kind="stable")
    return times[order], units[order]


def velocity_from_position(pos: np.ndarray, dt: float | np.ndarray) -> np.ndarray:
    """Backward difference v[i] = (p[i] - p[i-1]) / dt within one segment; v[0] copies v[1]."""
    v = np.zeros_like(pos)
    if pos.shape[0] >= 2:
        dt_arr = np.asarray(dt, dtype=np.float64)
        step = dt_arr if dt_arr.ndim == 0 else dt_arr[:, None]
        v[1:] = np.diff(pos, axis=0) / step
        v[0] = v[1]
    return v


def make_splits(trials: Trials, given: np.ndarray | None, spec: ImportSpec) -> dict[str, Intervals]:
    """Whole trials per split: the file's split (valid carved from its train trials), else 70/10/20."""
    if given is None:
        return split_trials(trials, seed=spec.split_seed)
    test = np.flatnonzero(given == "test")
    valid = np.flatnonzero(given == "valid")
    train = np.flatnonzero(given == "train")
    if valid.size == 0 and train.size:
        rng = np.random.default_rng(spec.split_seed)
        n_valid = int(round(spec.valid_fraction_of_train * train.size))
        pick = np.sort(rng.choice(train, size=n_valid, replace=False))
        valid = pick
        train = np.setdiff1d(train, pick)
    return {k: Intervals(trials.start[v], trials.end[v]) for k, v in (("train", train), ("valid", valid), ("test", test))}


def block_splits(start: float, end: float, step: float | None) -> dict[str, Intervals]:
    """No trials: contiguous 70/10/20 blocks of the domain (boundaries on the bin grid if binned)."""
    def cut(frac: float) -> float:
        t = start + frac * (end - start)
        return start + round((t - start) / step) * step if step else t

    a, b = cut(0.7), cut(0.8)
    return {"train": Intervals.single(start, a), "valid": Intervals.single(a, b), "test": Intervals.single(b, end)}


def run_splits(per_bin: np.ndarray, bin_s: float, spec: ImportSpec) -> dict[str, Intervals]:
    """No trials, split given per bin: each contiguous run of one split is an interval of that split.

    Without valid bins in the file, the last ``valid_fraction_of_train`` of every train run (whole
    bins) is valid, so validation stays next to the data it checks and the test runs are untouched.
    """
    change = np.flatnonzero(per_bin[1:] != per_bin[:-1]) + 1
    bounds = np.concatenate([[0], change, [per_bin.size]])
    runs = [(str(per_bin[a]), int(a), int(z)) for a, z in zip(bounds[:-1], bounds[1:])]
    if not any(name == "valid" for name, _, _ in runs):
        carved = []
        for name, a, z in runs:
            n_valid = int(round(spec.valid_fraction_of_train * (z - a))) if name == "train" else 0
            carved += [(name, a, z - n_valid)] + ([("valid", z - n_valid, z)] if n_valid else [])
        runs = [r for r in carved if r[2] > r[1]]
    out = {}
    for split in ("train", "valid", "test"):
        spans = [(a * bin_s, z * bin_s) for name, a, z in runs if name == split]
        out[split] = Intervals(np.array([s for s, _ in spans]), np.array([e for _, e in spans]))
    return out


def recording_name(spec: ImportSpec) -> str:
    """The session id and output file stem: ``recording_id``, else the data file's stem; always a plain
    file name, so the output stays inside the folder the user chose."""
    name = spec.recording_id or Path(spec.path or "imported").stem
    try:
        return safe_file_name(name, "recording_id" if spec.recording_id else "the data file's name")
    except ValueError as exc:
        raise fail(f"{exc}; set recording_id in the import spec.") from None


def task_type(spec: ImportSpec, has_trials: bool, has_behaviour: bool) -> str:
    if spec.task_type:
        return spec.task_type
    if has_trials:
        return "center_out"
    return "random_target" if has_behaviour else "unknown"


def build_binned(
    arrays: dict,
    segments: list[np.ndarray],
    seg_behaviour: list[np.ndarray] | None,
    labels: np.ndarray | None,
    given_split: np.ndarray | None,
    has_trials: bool,
    spec: ImportSpec,
    names: ArrayNames,
    features: dict[str, FeatureStream] | None = None,
) -> Recording:
    """One recording from binned segments (trials, or one continuous run); ``given_split`` holds one
    split per trial, or per bin when there are no trials (then its runs become the splits).

    With feature streams the segments keep the file's timeline (back to back from 0 s): gaps
    between trials would break the streams' regular bins.
    """
    b = float(spec.bin_size_s)
    n_units = segments[0].shape[1]
    relayout = has_trials and not features
    if has_trials and features:
        moved = sorted(k for k in ("trial_gap_s", "trial_align_s") if k in spec.model_fields_set and getattr(spec, k) > 0)
        if moved:
            raise fail(
                f"The spec's {', '.join(moved)} cannot move trials apart in a recording with feature streams (the streams are "
                "regular over the file's timeline); remove them or set them to 0."
            )
    gap_bins = int(math.ceil(spec.trial_gap_s / b - 1e-9)) if relayout else 0
    align_bins = 1
    if relayout and spec.trial_align_s > 0:
        align_bins = int(round(spec.trial_align_s / b))
        if align_bins < 1 or abs(align_bins * b - spec.trial_align_s) > 1e-9 * max(1.0, spec.trial_align_s):
            raise fail(
                f"trial_align_s {spec.trial_align_s} is not a whole number of bins of {b} s; use a multiple of "
                "bin_size_s, or 0 to switch alignment off."
            )
    starts, cursor = [], 0
    for seg in segments:
        cursor = int(math.ceil(cursor / align_bins)) * align_bins
        starts.append(cursor)
        cursor += seg.shape[0] + gap_bins
    starts_arr = np.asarray(starts, np.int64)
    lengths = np.array([s.shape[0] for s in segments], np.int64)
    bin_index = np.concatenate([s0 + np.arange(n) for s0, n in zip(starts_arr, lengths)])
    counts = np.concatenate(segments, axis=0)
    # about 48 bytes per spike (times, units, indices and the sort's temporaries)
    check_allocation(counts.sum(dtype=np.float64), 48, f"Turning the counts of {names.where} into spike times",
                     "(a count far too large for one bin)")
    spike_times, spike_units = counts_to_spikes(counts, bin_index, b, spec.spike_placement, spec.seed)
    if spike_times.size == 0 and n_units:
        raise fail(f"{names('counts' if 'counts' in arrays else 'trial_counts')} holds no spikes at all.")

    seg_start = starts_arr * b
    seg_end = (starts_arr + lengths) * b
    domain = Intervals(seg_start, seg_end).merged()

    behaviour = None
    kin_start = seg_start.copy()
    if seg_behaviour is not None:
        centres = (bin_index + 0.5) * b
        pos_all = np.concatenate(seg_behaviour, axis=0)
        if spec.behaviour_kind == "position":
            vel = np.concatenate([velocity_from_position(p, b) for p in seg_behaviour], axis=0)
            behaviour = Behaviour(spec.behaviour_name, centres, vel, pos_all)
            kin_start = seg_start + np.where(lengths >= 2, b, 0.0)  # first bin has no backward difference
        else:
            behaviour = Behaviour(spec.behaviour_name, centres, pos_all, None)

    trials = None
    phases: dict[str, Intervals] = {}
    if has_trials:
        target = labels if labels is not None else np.full(len(segments), -1, np.int64)
        trials = Trials(seg_start, seg_end, target.astype(np.int64), np.ones(len(segments), bool))
        splits = make_splits(trials, given_split, spec)
        if behaviour is not None:
            phases["reach_period"] = Intervals(kin_start, seg_end)
    else:
        if given_split is not None:
            splits = run_splits(given_split, b, spec)
        else:
            splits = block_splits(float(seg_start[0]), float(seg_end[-1]), b)
        if behaviour is not None:
            phases["random_period"] = Intervals(kin_start, seg_end)

    return Recording(
        recording_id=recording_name(spec),
        subject_id=spec.subject_id,
        brainset=spec.brainset,
        task_type=task_type(spec, has_trials, behaviour is not None),
        domain=domain,
        spike_times=spike_times,
        spike_units=spike_units,
        unit_ids=unit_ids(arrays, n_units, names) if n_units else np.zeros(0, str),
        behaviour=behaviour,
        trials=trials,
        phases=phases,
        splits=splits,
        features=features or {},
        spike_bin_s=b if n_units else None,
    )


def need_bin_size(spec: ImportSpec, names: ArrayNames) -> None:
    if spec.bin_size_s is None:
        raise fail(f"Binned counts in {names.where} need 'bin_size_s' (the bin width in seconds) in the spec.")


