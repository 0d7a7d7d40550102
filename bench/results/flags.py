"""What a reader must know about a run before trusting its score: the one place that decides it.

``run_flags(record)`` lists the run's flags; every table, the console line of a run and the
leaderboard page show them (``cell_flags`` merges the seeds of one table cell). The rules:

* invalid stream: the streamed outputs differ from the offline ones (``streaming_max_abs_diff``)
  by more than ``STREAM_RTOL`` times the output scale (the largest |offline output| of the checked
  segment; 1 for records made before the scale was stored). Float32 kernels differ by ~1e-6 of
  the scale; a mismatch of 1e-3 of it cannot move R^2 by more than ~1e-6, while the one-query
  POSSM fault gave 0.19 to 6.3. The score is then not that of the decoder as it would run live.
* unconverged: a session's training ran to its epoch cap (or was cut by the time cap) with its
  best validation epoch within the last ``UNCONVERGED_LAST_FRACTION`` of the epochs run (at least
  the last epoch): the validation loss was still improving when training stopped.
* failed (diverged), untrained (needs GPU): from the record's status.
* fewer seeds: a table cell holds fewer seeds than the suite plans (``cell_flags``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from bench.results.records import Record, SessionResult

STREAM_RTOL = 1e-3
UNCONVERGED_LAST_FRACTION = 0.1


@dataclass(frozen=True)
class Flag:
    """One flag: ``code`` for programs, ``label`` for readers, ``mark`` beside a table cell, and the
    run's ``text`` (the figures behind it). ``str(flag)`` is 'label: text'."""

    code: str
    label: str
    mark: str
    text: str

    def __str__(self) -> str:
        return f"{self.label}: {self.text}"


# code -> (label, table mark, legend line); the order is the order marks are shown in
KINDS = {
    "invalid_stream": ("INVALID stream", "INVALID(stream)",
                       f"streamed outputs differ from offline by more than {STREAM_RTOL:g} of the output scale: the "
                       "score is not that of the decoder run live; the run is invalid"),
    "unconverged": ("unconverged", "†", "unconverged: training reached its epoch (or time) cap with the best "
                    f"validation epoch in the last {UNCONVERGED_LAST_FRACTION:.0%} of epochs, still improving"),
    "fewer_seeds": ("fewer seeds", "‡", "fewer seeds than the suite plans (costed: see the records)"),
    "failed": ("failed", "failed", "the training diverged; no score"),
    "untrained": ("untrained", "untrained", "not trained on this machine (needs GPU); no score"),
}


def _flag(code: str, text: str) -> Flag:
    label, mark, _ = KINDS[code]
    return Flag(code, label, mark, text)


def stream_tolerance(record: Record) -> float:
    """The largest streamed-vs-offline difference the record may hold."""
    scale = record.streaming_output_scale
    return STREAM_RTOL * (scale if scale is not None and math.isfinite(scale) and scale > 0 else 1.0)


def stream_invalid(record: Record) -> bool:
    diff = record.streaming_max_abs_diff
    return diff is not None and not diff <= stream_tolerance(record)  # NaN counts as invalid


def session_unconverged(session: SessionResult) -> bool:
    """The session's training stopped at its cap while its validation loss was still improving."""
    fit = session.fit or {}
    run, best, cap = fit.get("epochs_run"), fit.get("best_epoch"), fit.get("max_epochs")
    if not isinstance(run, int) or not isinstance(best, int) or run < 1:
        return False  # not trained by the shared loop (closed-form fits, kNN): nothing to converge
    at_cap = bool(fit.get("hit_time_cap")) or (not fit.get("stopped_early") and (cap is None or run >= cap))
    return at_cap and best >= run - max(1, math.ceil(UNCONVERGED_LAST_FRACTION * run))


def run_flags(record: Record) -> list[Flag]:
    """The flags of one run record (empty: nothing to warn about)."""
    if record.status == "failed":
        return [_flag("failed", record.failure_reason or "diverged")]
    flags = []
    if not record.trained:
        flags.append(_flag("untrained", record.untrained_reason or "not trained"))
    if stream_invalid(record):
        flags.append(_flag("invalid_stream", f"max |streamed - offline| {record.streaming_max_abs_diff:.3g} > "
                                             f"tolerance {stream_tolerance(record):.3g}"))
    late = [s for s in record.sessions if session_unconverged(s)]
    if late:
        s = late[0]
        flags.append(_flag("unconverged", f"{len(late)} of {len(record.sessions)} session(s) still improving at the "
                                          f"cap, e.g. {s.recording_id}: best epoch {s.fit['best_epoch'] + 1} of "
                                          f"{s.fit['epochs_run']}"))
    return flags


def cell_flags(records: Iterable[Record], planned_seeds: int | None = None) -> list[Flag]:
    """The flags of a table cell (the seeds of one model and dataset), one per code, in the order of
    ``KINDS``; 'fewer seeds' when it holds fewer seeds than ``planned_seeds``."""
    records = list(records)
    by_code: dict[str, Flag] = {}
    for rec in records:
        for flag in run_flags(rec):
            by_code.setdefault(flag.code, flag)
    n_seeds = len({r.seed for r in records})
    if planned_seeds is not None and n_seeds < planned_seeds:
        by_code["fewer_seeds"] = _flag("fewer_seeds", f"{n_seeds} of {planned_seeds} seeds")
    return [by_code[c] for c in KINDS if c in by_code]


def cell_marks(flags: Iterable[Flag]) -> str:
    """The marks shown after a score ('' when none); failed / untrained cells say so instead of a score."""
    return " ".join(f.mark for f in flags if f.code not in ("failed", "untrained"))


def legend(codes: Iterable[str]) -> list[str]:
    """One legend line per mark used in a table."""
    used = set(codes) - {"failed", "untrained"}
    return [f"{KINDS[c][1]}: {KINDS[c][2]}." for c in KINDS if c in used]
