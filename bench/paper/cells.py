"""Records of a results folder turned into table cells: mean +- SD over sessions, with marks.

A cell is one label on one dataset. Each session's value is first averaged over the seeds that
ran it, then mean and SD are taken over sessions (the paper's "mean +- SD over sessions").
A cell carries the marks a reader must see next to its number: failed, untrained, invalid
stream, unconverged, and fewer seeds than the rest of its table. The per-run marks come from
``bench.results.flags.run_flags``, so the paper and the leaderboard tables agree; "fewer seeds"
compares a cell with the most seeds of its table (a results folder does not name its plan).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

import numpy as np

from bench.metrics.regression import aggregate_sessions
from bench.results.flags import run_flags
from bench.results.records import Record, load_records


def folder_records(results: Path, name: str) -> tuple[list[Record], str | None]:
    """The records of results/<name>, or none and why (a missing or empty folder is no error)."""
    folder = Path(results) / name
    shown = f"{Path(results).name}/{name}"  # as the reader's tree names it, wherever it was read from
    if not folder.is_dir():
        return [], f"no results yet: {shown} does not exist"
    records = load_records(folder)
    if not records:
        return [], f"no results yet: {shown}/records holds no record"
    return records, None


TRANSFER_PREFIX = "transfer"


def transfer_records(results: Path) -> tuple[list[Record], str | None]:
    """The records of every results/transfer* folder (the transfer protocols' run folders, e.g.
    transfer_pretrain, transfer_finetune), or none and why."""
    folders = sorted(p.name for p in Path(results).glob(f"{TRANSFER_PREFIX}*") if p.is_dir())
    records = [r for name in folders for r in folder_records(results, name)[0]]
    if not records:
        return [], f"no results yet: no records in {Path(results).name}/{TRANSFER_PREFIX}*/"
    return records, None


def run_marks(rec: Record) -> list[str]:
    """The run's flags (``bench.results.flags``, the rules every table and the page share) as
    'label: detail' strings: tables show the label, the notes under them the detail."""
    return [f"{f.label}: {f.text}" for f in run_flags(rec)]


def short(mark: str) -> str:
    """The label of a mark, without its detail."""
    return mark.split(":", 1)[0].strip()


def mark_notes(marks: Iterable[tuple[str, str]]) -> str:
    """Under a table: one line per (where, mark) with a detail, grouped by the mark's label, e.g.
    "- *unconverged* `possm-gru` on c_co_2016: 2 of 2 session(s) still improving ..."."""
    lines = sorted({(short(m), where, m.split(":", 1)[1].strip()) for where, m in marks if ":" in m})
    return "\n" + "".join(f"- *{label}* {where}: {detail}\n" for label, where, detail in lines) if lines else ""


def cell_marks(cells: Iterable["Cell"]) -> list[tuple[str, str]]:
    """The (where, mark) pairs of ``cells`` for ``mark_notes``."""
    return [(f"`{c.label}` on {c.dataset}", m) for c in cells for m in c.marks]


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

    def seed_results(self) -> dict[str, dict[int, float]]:
        """session -> seed -> metric, from the cell's usable runs (for bench.results.stats)."""
        out: dict[str, dict[int, float]] = defaultdict(dict)
        for rec in self.records:
            if rec.status == "ok" and rec.trained:
                for s in rec.sessions:
                    value = s.metrics.get(rec.metric)
                    if value is not None and np.isfinite(value):
                        out[s.recording_id][rec.seed] = float(value)
        return dict(out)

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
            cell.marks.append(f"fewer seeds: {len(cell.seeds)} of {most} seeds (the most in this table)")
    return cells


def label_order(results: Path, folder: str, labels: list[str]) -> list[str]:
    """Labels in the order of the suite file's models (the leaderboard's order: suites/<folder>.yaml
    beside the results folder, else in the working folder), then any others in the order given."""
    import yaml

    preferred: list[str] = []
    for suite_file in (Path(results).resolve().parent / "suites" / f"{folder}.yaml", Path("suites") / f"{folder}.yaml"):
        try:
            spec = yaml.safe_load(suite_file.read_text(encoding="utf-8"))
            preferred = [m.get("label") or m.get("name") for m in spec.get("models", []) if isinstance(m, dict)]
            break
        except (OSError, yaml.YAMLError, AttributeError):
            continue
    seen = list(dict.fromkeys(labels))
    return [p for p in preferred if p in seen] + [lab for lab in seen if lab not in preferred]


Row = TypeVar("Row")


def shown_rows(labels: list[str], cells: dict[tuple[str, str], Cell], datasets: list[str],
               published_of: dict[str, Row]) -> Iterator[tuple[str, Row | None, list[Cell | None]]]:
    """(label, its published row or None, its cell per dataset) for every label with a record or a
    published figure, in the order of ``labels``."""
    for label in labels:
        have = [cells.get((label, d)) for d in datasets]
        if any(have) or label in published_of:
            yield label, published_of.get(label), have
