"""Records of a results folder turned into table cells: mean +- SD over sessions, with marks.

A cell is one label on one dataset. Each session's value is first averaged over the seeds that
ran it, then mean and SD are taken over sessions (the paper's "mean +- SD over sessions").
A cell carries the marks a reader must see next to its number: failed, untrained, invalid
stream, unconverged, and fewer seeds than the rest of its table. The per-run marks come from
``bench.results.flags.run_flags`` when that module exists, otherwise from the record fields
(``fallback_marks``), so the paper and the leaderboard tables agree once it lands.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from bench.metrics.regression import aggregate_sessions
from bench.results.records import Record, load_records

# A streamed output further than this from the offline one marks the run invalid (the harness's
# models stream to ~1e-5; anything near 1e-3 is a different computation, not rounding).
STREAM_TOLERANCE = 1e-3
# Within this many epochs of the last one, a run that stopped at its cap counts as still improving.
IMPROVING_WITHIN = 2


def folder_records(results: Path, name: str) -> tuple[list[Record], str | None]:
    """The records of results/<name>, or none and why (a missing or empty folder is no error)."""
    folder = Path(results) / name
    if not folder.is_dir():
        return [], f"no results yet: {folder} does not exist"
    records = load_records(folder)
    if not records:
        return [], f"no results yet: {folder}/records holds no record"
    return records, None


def _session_unconverged(rec: Record, fit: dict) -> bool:
    if not fit or fit.get("stopped_early"):
        return False
    epochs_run, best = fit.get("epochs_run"), fit.get("best_epoch")
    cap = rec.config.get("train", {}).get("epochs")
    at_cap = bool(fit.get("hit_time_cap")) or (cap is not None and epochs_run is not None and epochs_run >= cap)
    return at_cap and best is not None and epochs_run is not None and best >= epochs_run - 1 - IMPROVING_WITHIN


def fallback_marks(rec: Record) -> list[str]:
    """Marks read from the record's own fields (until bench.results.flags is there); each a short
    phrase, with its detail after a colon (tables show the phrase, the notes the detail)."""
    if rec.status == "failed":
        return [f"failed: {rec.failure_reason or 'diverged'}"]
    marks = []
    if not rec.trained:
        marks.append(f"untrained: {rec.untrained_reason or 'no reason recorded'}")
    diff = rec.streaming_max_abs_diff
    if diff is not None and diff > STREAM_TOLERANCE:
        marks.append(f"invalid stream: streamed outputs differ from offline by up to {diff:.2g} "
                     f"(tolerance {STREAM_TOLERANCE:g})")
    if any(_session_unconverged(rec, s.fit) for s in rec.sessions):
        marks.append(f"unconverged: stopped at its epoch or time cap with its best epoch within "
                     f"{IMPROVING_WITHIN} of the last")
    return marks


def _flags_function() -> Callable[[Record], object] | None:
    try:
        from bench.results.flags import run_flags  # helper B's module; absent until it lands
    except ImportError:
        return None
    return run_flags


def run_marks(rec: Record) -> list[str]:
    """The marks of one run, as 'phrase: detail' strings."""
    flags = _flags_function()
    if flags is None:
        return fallback_marks(rec)
    got = flags(rec)
    if isinstance(got, dict):
        return [str(k) if v is True else f"{k}: {v}" for k, v in got.items() if v]
    if isinstance(got, str):
        return [got] if got else []
    return [str(f) for f in (got or [])]


def short(mark: str) -> str:
    """The phrase of a mark, without its detail."""
    return mark.split(":", 1)[0].strip()


def mark_notes(marks) -> str:
    """One line per distinct mark detail, for under a table."""
    detailed = sorted({m for m in marks if ":" in m})
    return "".join(f"- *{short(m)}*: {m.split(':', 1)[1].strip()}\n" for m in detailed)


@dataclass
class Cell:
    """One label on one dataset, over its seeds and sessions (metric in the record's units)."""

    label: str
    dataset: str
    metric: str
    mean: float | None = None
    sd: float | None = None
    n_sessions: int = 0
    seeds: set[int] = field(default_factory=set)
    marks: list[str] = field(default_factory=list)
    session_values: dict[str, float] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)

    def text(self, scale: float = 1.0, digits: int = 3) -> str:
        """'0.871 ± 0.011' (or why there is no number), then the marks in brackets."""
        if self.mean is None:
            number = "no score"
        else:
            number = f"{self.mean * scale:.{digits}f} ± {self.sd * scale:.{digits}f}"
        return number + "".join(f" [{short(m)}]" for m in self.marks)


def build_cells(records: Iterable[Record]) -> dict[tuple[str, str], Cell]:
    """Cells keyed by (label, dataset); a cell with a failed seed has no number (as the tables do)."""
    per_session: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    cells: dict[tuple[str, str], Cell] = {}
    for rec in records:
        key = (rec.label, rec.dataset)
        cell = cells.setdefault(key, Cell(rec.label, rec.dataset, rec.metric))
        cell.seeds.add(rec.seed)
        cell.records.append(rec)
        for mark in run_marks(rec):
            if mark not in cell.marks:
                cell.marks.append(mark)
        if rec.status == "ok" and rec.trained:
            for s in rec.sessions:
                value = s.metrics.get(rec.metric)
                if value is not None and np.isfinite(value):
                    per_session[key][s.recording_id].append(float(value))
    for key, cell in cells.items():
        failed = any(r.status == "failed" for r in cell.records)
        sessions = per_session.get(key, {})
        if sessions and not failed:
            cell.session_values = {sid: float(np.mean(v)) for sid, v in sorted(sessions.items())}
            agg = aggregate_sessions(list(cell.session_values.values()))
            cell.mean, cell.sd, cell.n_sessions = agg["mean"], agg["sd"], agg["n"]
    most = max((len(c.seeds) for c in cells.values()), default=0)
    for cell in cells.values():
        if len(cell.seeds) < most:
            cell.marks.append(f"{len(cell.seeds)} of {most} seeds")
    return cells


def label_order(results: Path, folder: str, labels: list[str]) -> list[str]:
    """Labels in the order of the suite file's models when suites/<folder>.yaml sits beside the
    results folder (the leaderboard's order), then any others in the order given; no duplicates."""
    import yaml

    suite_file = Path(results).resolve().parent / "suites" / f"{folder}.yaml"
    preferred: list[str] = []
    try:
        spec = yaml.safe_load(suite_file.read_text(encoding="utf-8"))
        preferred = [m.get("label") or m.get("name") for m in spec.get("models", []) if isinstance(m, dict)]
    except (OSError, yaml.YAMLError, AttributeError):
        pass
    seen = list(dict.fromkeys(labels))
    return [p for p in preferred if p in seen] + [lab for lab in seen if lab not in preferred]
