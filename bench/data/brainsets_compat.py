"""What torch_brain 0.2's ``brainsets`` folders hold beyond the core layout, mapped when a file is read.

torch_brain 0.2.1 (which absorbed brainsets and temporaldata) writes the layout ``bench.data.storage``
reads, with differences a reader must not get wrong silently:

- behaviour may be a ``RegularTimeSeries`` (O'Doherty's cursor, NLB's hand at 1 kHz) whose missing
  samples are NaN: those samples are dropped (a model cannot train on or be scored against NaN);
- ``trials.target_id`` is float, NaN for trials without a target (cast to int it would be -2**63): -1;
- NLB's trials say ``success`` (bool) instead of ``is_valid`` / ``result``;
- ``session.task`` is "REACHING" for every session, so the task type comes from the session id
  (Perich & Miller: ``c_20131003_center_out_reaching`` / ``..._random_target_reaching``) or, failing
  that, from the brainset (``BRAINSET_TASKS``);
- NLB scores on ``nlb_eval_intervals`` (movement onset -50 ms to +650 ms of each trial): without
  ``movement_phases`` they are read as the ``reach_period`` the reaching task scores.
"""

from __future__ import annotations

import numpy as np

from bench.data.intervals import Intervals
from bench.errors import DataError

# Brainsets whose sessions all run one task, for files whose session id does not name it.
BRAINSET_TASKS = {
    "odoherty_sabes_nonhuman_2017": "random_target",  # self-paced reaches to random grid targets
    "pei_pandarinath_nlb_2021": "center_out",  # MC_Maze: delayed reaches, scored on the reach window
}


def task_from_text(text: str | None) -> str | None:
    """'center_out' / 'random_target' when ``text`` (a declared task or a session id) names one."""
    if not text:
        return None
    d = text.lower()
    if "center" in d or "centre" in d or d in ("co",):
        return "center_out"
    if "random" in d or d in ("rt",):
        return "random_target"
    return None


def task_from_names(session_id: str, brainset: str) -> str | None:
    return task_from_text(session_id) or BRAINSET_TASKS.get(brainset)


def finite_samples(
    t: np.ndarray, vel: np.ndarray, pos: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The samples whose time, velocity and position are all finite (NaN marks a missing sample)."""
    keep = np.isfinite(t) & np.isfinite(vel.reshape(t.size, -1)).all(axis=1)
    if pos is not None:
        keep &= np.isfinite(pos.reshape(t.size, -1)).all(axis=1)
    if keep.all():
        return t, vel, pos
    return t[keep], vel[keep], None if pos is None else pos[keep]


def trial_targets(values, where: str) -> np.ndarray:
    """Integer target ids; NaN (no target) -> -1. Fractional ids are refused."""
    a = np.asarray(values)
    if a.dtype.kind in "iub":
        return a.astype(np.int64)
    if a.dtype.kind != "f":
        raise DataError(f"{where} has dtype {a.dtype}; expected integer target ids (NaN or -1 for none).")
    known = np.isfinite(a)
    if np.any(a[known] != np.round(a[known])):
        i = int(np.flatnonzero(known & (a != np.round(a)))[0])
        raise DataError(f"{where}[{i}] is {a[i]!r}; expected whole target ids (NaN or -1 for none).")
    return np.where(known, a, -1).astype(np.int64)


def success_flags(trials, keys: set[str]) -> np.ndarray | None:
    """NLB's ``success`` column as validity, when the trials have no ``is_valid`` / ``result``."""
    if "success" in keys and "is_valid" not in keys and "result" not in keys:
        return np.asarray(trials.success).astype(bool)
    return None


def eval_window_phases(data, keys: set[str], phases: dict[str, Intervals]) -> dict[str, Intervals]:
    """``phases`` with NLB's ``nlb_eval_intervals`` as ``reach_period`` when the file has no phases."""
    if phases or "nlb_eval_intervals" not in keys:
        return phases
    iv = data.nlb_eval_intervals
    return {"reach_period": Intervals(np.asarray(iv.start, np.float64), np.asarray(iv.end, np.float64))}
