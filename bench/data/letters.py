"""Single-character handwriting trials (Willett et al. 2021) -> one ``Recording``.

Both the handwriting simulator and the ``singleLetters.mat`` importer hand their trials here, so a
simulated session and an imported one are the same kind of file: a 192-channel (by default)
``threshold_crossings`` counts stream at 10 ms, one trial per written character laid back to back
on the timeline, ``trials.target_id`` = the character's index in ``CHARACTERS``, the instructed
delay as ``movement_phases.hold_period`` and go cue -> trial end as ``reach_period`` (so the go
cue of a trial is the start of its reach_period), and a split stratified by character.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.data.intervals import Intervals
from bench.data.recording import Behaviour, FeatureStream, Recording, Trials
from bench.errors import DataError

# The 31 characters of the original data: a-z, then the symbols as T5 wrote them ('>' = space,
# '~' = period), with the names the file uses in `neuralActivityCube_<name>`.
SYMBOL_NAMES = {">": "greaterThan", ",": "comma", "'": "apostrophe", "~": "tilde", "?": "questionMark"}
CHARACTERS: tuple[str, ...] = tuple("abcdefghijklmnopqrstuvwxyz") + tuple(SYMBOL_NAMES)
FILE_NAMES: tuple[str, ...] = tuple("abcdefghijklmnopqrstuvwxyz") + tuple(SYMBOL_NAMES.values())
STREAM = "threshold_crossings"
MIN_TRIALS_PER_CHARACTER = 3  # a stratified train / valid / test split needs at least one of each


@dataclass
class LetterTrial:
    """One trial: the character's index in CHARACTERS, counts (bins, channels), the go-cue bin
    within them, and optionally the pen-tip velocity (bins, 2)."""

    character: int
    counts: np.ndarray
    go_bin: int
    pen_velocity: np.ndarray | None = None


def stratified_split(labels: np.ndarray, fractions=(0.7, 0.1, 0.2), seed: int = 42) -> np.ndarray:
    """Per trial 'train' / 'valid' / 'test': each character's trials shuffled and cut at the
    fractions, at least one trial of every character in each split."""
    rng = np.random.default_rng(seed)
    out = np.empty(labels.size, dtype=object)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = idx.size
        n_test = max(1, int(round(fractions[2] * n)))
        n_valid = max(1, int(round(fractions[1] * n)))
        out[idx[:n_test]] = "test"
        out[idx[n_test : n_test + n_valid]] = "valid"
        out[idx[n_test + n_valid :]] = "train"
    return out


def letters_recording(
    trials: list[LetterTrial],
    recording_id: str,
    subject_id: str,
    brainset: str,
    source: str,
    bin_s: float = 0.01,
    channel_ids: list[str] | None = None,
    split_seed: int = 42,
) -> Recording:
    """The recording of a session's character trials (in the given order, back to back).

    ``source`` names where the trials come from (a file and key) for the errors: too few trials of
    a character for a stratified split, or cubes of different channel counts."""
    if not trials:
        raise DataError(f"{source}: no character trials; expected at least {MIN_TRIALS_PER_CHARACTER} per character.")
    n_channels = trials[0].counts.shape[1]
    labels = np.array([t.character for t in trials])
    counts = np.bincount(labels, minlength=len(CHARACTERS))
    few = [f"'{CHARACTERS[c]}' ({counts[c]})" for c in np.flatnonzero((counts > 0) & (counts < MIN_TRIALS_PER_CHARACTER))]
    if few:
        raise DataError(
            f"{source}: characters with fewer than {MIN_TRIALS_PER_CHARACTER} trials: {', '.join(few)}. A session "
            "is split per character into train / valid / test, so each character needs at least "
            f"{MIN_TRIALS_PER_CHARACTER} trials; drop that character or merge sessions."
        )
    starts, ends, gos, vel = [], [], [], []
    t = 0
    for tr in trials:
        if tr.counts.ndim != 2 or tr.counts.shape[1] != n_channels:
            raise DataError(f"{source}: a '{CHARACTERS[tr.character]}' trial has counts of shape {tr.counts.shape}; "
                            f"expected (bins, {n_channels}) like the other trials.")
        if not 0 < tr.go_bin < tr.counts.shape[0]:
            raise DataError(f"{source}: go-cue bin {tr.go_bin} lies outside its trial of {tr.counts.shape[0]} bins.")
        starts.append(t)
        gos.append(t + tr.go_bin)
        t += tr.counts.shape[0]
        ends.append(t)
        if tr.pen_velocity is not None:
            vel.append(tr.pen_velocity)
    values = np.concatenate([tr.counts for tr in trials]).astype(np.float32)
    ids = channel_ids or [f"elec{i:03d}" for i in range(n_channels)]
    stream = FeatureStream(STREAM, bin_s, 0.0, values, ids, "counts")
    start, end, go = (np.asarray(a, np.float64) * bin_s for a in (starts, ends, gos))
    split = stratified_split(labels, seed=split_seed)
    behaviour = None
    if len(vel) == len(trials):
        behaviour = Behaviour("hand", (np.arange(t) + 0.5) * bin_s, np.concatenate(vel).astype(np.float64))
    return Recording(
        recording_id=recording_id,
        subject_id=subject_id,
        brainset=brainset,
        task_type="unknown",
        domain=Intervals.single(0.0, t * bin_s),
        spike_times=np.zeros(0),
        spike_units=np.zeros(0, np.int64),
        unit_ids=np.zeros(0, str),
        behaviour=behaviour,
        trials=Trials(start, end, labels.astype(np.int64), np.ones(labels.size, bool)),
        phases={"hold_period": Intervals(start, go), "reach_period": Intervals(go, end)},
        splits={s: Intervals(start[split == s], end[split == s]) for s in ("train", "valid", "test")},
        features={STREAM: stream},
    )


def go_cues(rec: Recording) -> np.ndarray:
    """The go-cue time of every trial: the start of the reach_period inside it (DataError if a
    trial has none)."""
    reach = rec.phases.get("reach_period")
    tr = rec.trials
    if reach is None or tr is None or len(reach) == 0:
        raise DataError(f"Recording {rec.path or rec.recording_id} has no movement_phases.reach_period: "
                        "handwriting trials need their go cue (the start of reach_period in each trial).")
    i = np.searchsorted(reach.start, tr.start, side="left")
    ok = (i < len(reach)) & (reach.start[np.minimum(i, len(reach) - 1)] < tr.end)
    if not ok.all():
        raise DataError(f"Recording {rec.path or rec.recording_id}: trial {int(np.flatnonzero(~ok)[0])} has no "
                        "go cue (no reach_period starting inside it).")
    return reach.start[i]
