"""The paper's handwriting table: character accuracy (%), mean ± SD over sessions, per decoder.

Reads results/handwriting (single-session decoders) and, for the fine-tuned o-POSSM rows,
handwriting records in results/transfer*/ (one row per adaptation mode on all trials,
``bench.paper.finetune_rows``: e.g. ``o-possm-gru-ft``). One column per dataset found (the simulator, or a
user's imported Willett et al. sessions), beside the paper's figure for the mapped row.
"""

from __future__ import annotations

from pathlib import Path

from bench.paper.cells import (build_cells, cell_marks, folder_records, label_order, mark_notes, shown_rows,
                               transfer_records)
from bench.paper.finetune_rows import adaptation_records, seen_marks
from bench.paper.published import published
from bench.paper.sections import SectionOutput, md_table, section

FOLDER = "handwriting"
TASK = "handwriting_character"


@section("handwriting", "Human handwriting (character accuracy, %)", order=30)
def render(results: Path) -> SectionOutput:
    pub = published().handwriting
    records, missing = folder_records(results, FOLDER)
    transfer, _ = transfer_records(results)
    records = records + [r for r in adaptation_records(transfer) if r.task == TASK]
    if not records:
        return SectionOutput(f"_{missing}._\n\n" + _published_only(pub))
    cells = build_cells(records)
    seen_marks(cells.values())
    datasets = list(dict.fromkeys(d for _, d in cells))
    paper_of = {r.label: r for r in pub.rows}
    labels = label_order(results, FOLDER, [lab for lab, _ in cells] + [r.label for r in pub.rows])
    header = ["harness model", "paper row"] + [f"`{d}` (sessions)" for d in datasets] + ["paper (mean ± SD over sessions)"]
    rows = []
    for label, p, have in shown_rows(labels, cells, datasets, paper_of):
        row = [f"`{label}`", p.paper if p else "—"]
        row += [f"{c.text(scale=100, digits=1)} ({c.n_sessions})" if c else "not run" for c in have]
        row.append(f"{p.mean:.2f} ± {p.sd:.2f}" if p else "—")
        rows.append(row)
    note = ("Cells: accuracy in % over each session's test trials, mean ± SD over sessions (each session "
            "averaged over its seeds); marks in brackets as in the NHP table. The paper's figures are on "
            "participant T5's real sessions; `handwriting_sim` is the harness's simulator (calibrated so "
            "that PCA-KNN lands in the published range; the order of the others is a result).\n")
    return SectionOutput(md_table(header, rows) + "\n" + note + mark_notes(cell_marks(cells.values())))


def _published_only(pub) -> str:
    rows = [[r.paper, f"`{r.label}`", f"{r.mean:.2f} ± {r.sd:.2f}"] for r in pub.rows]
    return "Published figures (to be set beside the harness's once its records exist):\n\n" + \
        md_table(["paper row", "harness model", "paper accuracy %"], rows)
