"""The paper's speech table: phoneme error rate (%), lower is better, with 95 % intervals.

Reads results/speech. Per decoder: PER pooled over the sessions' test sentences (summed edit
distance over summed reference length, as the field reports it), one value per seed, then the
mean (± SD when there are several seeds); and per session its PER with the bootstrap 95 %
interval over sentences that the task stores (the widest of its seeds' intervals).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.paper.cells import folder_records, label_order, mark_notes, run_marks, short
from bench.paper.published import published
from bench.paper.sections import SectionOutput, md_table, section

FOLDER = "speech"


def _pooled(rec) -> float | None:
    dist = sum(s.metrics.get("edit_distance", 0) for s in rec.sessions)
    length = sum(s.metrics.get("reference_length", 0) for s in rec.sessions)
    return dist / length if length else None


@section("speech", "Human speech (phoneme error rate, %)", order=40)
def render(results: Path) -> SectionOutput:
    pub = published().speech
    records, missing = folder_records(results, FOLDER)
    if missing:
        rows = [[r.paper, f"`{r.label}`", f"{r.value:.2f}"] for r in pub.rows]
        return SectionOutput(f"_{missing}._\n\nPublished figures (to be set beside the harness's once its "
                             "records exist):\n\n" + md_table(["paper row", "harness model", "paper PER %"], rows))
    by_label: dict[str, list] = defaultdict(list)
    for rec in records:
        by_label[rec.label].append(rec)
    paper_of = {r.label: r for r in pub.rows}
    most_seeds = max(len({r.seed for r in recs}) for recs in by_label.values())
    rows, all_marks = [], []
    for label in label_order(results, FOLDER, list(by_label) + [r.label for r in pub.rows]):
        recs, p = by_label.get(label, []), paper_of.get(label)
        if not recs and p is None:
            continue
        marks = list(dict.fromkeys(m for r in recs for m in run_marks(r)))
        seeds = {r.seed for r in recs}
        if recs and len(seeds) < most_seeds:
            marks.append(f"fewer seeds: {len(seeds)} of {most_seeds} seeds (the most in this table)")
        ok = [r for r in recs if r.status == "ok" and r.trained]
        pooled = [v for v in (_pooled(r) for r in ok) if v is not None]
        if not recs:
            pooled_text, per_session = "not run", "—"
        elif not pooled or len(ok) < len(recs):
            pooled_text, per_session = "no score", "—"
        else:
            sd = f" ± {100 * np.std(pooled, ddof=1):.1f}" if len(pooled) > 1 else ""
            pooled_text = f"{100 * np.mean(pooled):.1f}{sd} ({len(pooled)} seed{'s' * (len(pooled) > 1)})"
            per_session = _per_session(ok)
        all_marks += [(f"`{label}`", m) for m in marks]
        pooled_text += "".join(f" [{label}]" for label in dict.fromkeys(short(m) for m in marks))  # one per kind
        rows.append([f"`{label}`", p.paper if p else "—", pooled_text, per_session, f"{p.value:.2f}" if p else "—"])
    header = ["harness model", "paper row", "PER % pooled over sessions (mean ± SD over seeds)",
              "per session: PER % [95 % CI]", "paper PER %"]
    note = ("PER: greedy CTC decoding, Levenshtein distance over phonemes summed over test sentences, divided by "
            "the summed reference length. The per-session interval is the task's bootstrap over sentences (the "
            "widest of the seeds' intervals when several seeds ran). The paper's figures are validation PER on "
            "participant T12's real data (GRU rows after Willett et al. 2023); the harness's are test PER on its "
            "simulator, so they are context, not targets.\n")
    return SectionOutput(md_table(header, rows) + "\n" + note + mark_notes(all_marks))


def _per_session(records) -> str:
    per: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        for s in rec.sessions:
            per[s.recording_id].append(s.metrics)
    parts = []
    for sid, ms in sorted(per.items()):
        value = 100 * float(np.mean([m["per"] for m in ms]))
        lows = [m["per_ci_low"] for m in ms if m.get("per_ci_low") is not None]
        highs = [m["per_ci_high"] for m in ms if m.get("per_ci_high") is not None]
        ci = f" [{100 * min(lows):.1f}–{100 * max(highs):.1f}]" if lows and highs else ""
        parts.append(f"{sid.split('/')[-1]} {value:.1f}{ci}")
    return "; ".join(parts)
