"""The POSSM paper's NHP reaching table: models x (C-CO 2016, C-CO 2010, T-CO, T-RT, H-CO), R^2.

Each harness cell (results/nhp, plus fine-tuned rows from results/transfer*/ on the same datasets:
one row per adaptation mode on all trials, ``bench.paper.finetune_rows``, e.g. ``o-possm-gru-ft``
from suites/transfer_nhp.yaml) stands beside the paper's figure for the row it maps to
(published.yaml: harness label -> paper row, harness dataset -> paper column).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.paper.cells import (build_cells, cell_marks, folder_records, label_order, mark_notes, shown_rows,
                               transfer_records)
from bench.paper.finetune_rows import adaptation_records, seen_marks
from bench.paper.published import published
from bench.paper.sections import SectionOutput, md_table, section
from bench.results.stats import CI_METHOD, TEST_METHOD, paired_test

NHP_FOLDER = "nhp"
REFERENCE = "gru"  # the decoder every other is compared with, as in the leaderboard


@section("nhp", "NHP reaching (R^2), the paper's main table", order=10)
def render(results: Path) -> SectionOutput:
    pub = published().nhp
    datasets = [c.dataset for c in pub.columns]
    records, missing = folder_records(results, NHP_FOLDER)
    transfer, _ = transfer_records(results)
    transfer = [r for r in adaptation_records(transfer)
                if r.dataset in datasets and r.metric == pub.metric and r.summary is not None]
    lines = [f"Harness datasets are the simulator presets named after the paper's columns: "
             + ", ".join(f"{c.paper} = `{c.dataset}`" for c in pub.columns) + ". " + pub.note + "\n"]
    if missing and not transfer:
        return SectionOutput("\n".join(lines) + f"\n_{missing}._\n")
    if missing:
        lines.append(f"_{missing}; only fine-tuned rows from results/transfer*/ are shown._\n")
    cells = build_cells(records + transfer)
    seen_marks(cells.values())
    paper_of = {r.label: r for r in pub.rows}
    labels = label_order(results, NHP_FOLDER, [lab for lab, _ in cells] + [r.label for r in pub.rows])
    header = ["harness model", "paper row"] + [
        f"{c.paper} (`{c.dataset}`, {_n_sessions(cells, c.dataset)} / paper {c.sessions} sessions)" for c in pub.columns]
    rows = []
    for label, paper_row, have in shown_rows(labels, cells, datasets, paper_of):
        row = [f"`{label}`", paper_row.paper if paper_row else "—"]
        for i, cell in enumerate(have):
            ours = cell.text() if cell else "not run"
            theirs = paper_row.values[i] if paper_row else None
            row.append(f"{ours} · paper {theirs:.3f}" if theirs is not None else f"{ours} · paper —")
        rows.append(row)
    lines.append(md_table(header, rows))
    lines.append("Cells: R^2 mean ± SD over sessions (each session averaged over its seeds) · the published "
                 "figure (paper: mean over the real sessions; source: "
                 f"{', '.join(sorted({r.source for r in pub.rows}))}, see Sources). Marks in brackets "
                 "(bench/results/flags.py): failed, untrained, INVALID stream, unconverged; and fewer seeds than the "
                 "table's most; *seen in pretraining*: a fine-tuned row on sessions its pretraining data held. "
                 "'not run': no record of that model on that dataset.\n")
    lines.extend(f"- **{r.paper}**: {r.note}\n" for r in pub.rows if r.note and r.label in labels)
    lines.append(mark_notes(cell_marks(cells.values())))
    lines.append(_against_reference(cells, labels, datasets, pub.columns))
    return SectionOutput("\n".join(lines))


def _against_reference(cells, labels, datasets, columns) -> str:
    """Each model minus the reference decoder, paired over (session, seed) (bench.results.stats)."""
    ref = {d: cells.get((REFERENCE, d)) for d in datasets}
    if not any(c and c.seed_results() for c in ref.values()):
        return f"_No `{REFERENCE}` results: no paired comparison._\n"
    rows = []
    for label in labels:
        if label == REFERENCE or not any(cells.get((label, d)) for d in datasets):
            continue
        row = [f"`{label}`"]
        for d in datasets:
            mine, theirs = cells.get((label, d)), ref[d]
            a, b = (mine.seed_results() if mine else {}), (theirs.seed_results() if theirs else {})
            if not a or not b:
                row.append("—")
                continue
            t = paired_test(a, b, higher_is_better=True)
            if t.n_pairs == 0:
                row.append("—")
                continue
            ci = f" [{t.diff_ci_low:+.3f}, {t.diff_ci_high:+.3f}]" if np.isfinite(t.diff_ci_low) else ""
            p = f", p = {t.p_value:.3g}" if t.p_value is not None else ""
            row.append(f"{t.mean_diff:+.3f}{ci}{p} (n = {t.n_pairs}) {t.marker(True)}".rstrip())
        rows.append(row)
    return (f"**Against the `{REFERENCE}`** (the paper's recurrent baseline): mean paired difference in R^2 (model "
            f"minus {REFERENCE}) over common (session, seed) results, its {CI_METHOD}, and "
            f"the {TEST_METHOD.split(';')[0]} where there are enough pairs (▲ / ▼: p < 0.05 better / worse).\n\n"
            + md_table(["model"] + [f"{c.paper} (`{c.dataset}`)" for c in columns], rows))


def _n_sessions(cells, dataset: str) -> str:
    counts = {c.n_sessions for (lab, d), c in cells.items() if d == dataset and c.n_sessions}
    return "/".join(str(n) for n in sorted(counts)) or "0"
