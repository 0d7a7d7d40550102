"""Pretraining and transfer (issue 17): data- and compute-efficiency curves and fine-tuned rows.

Reads the records of every results/transfer*/ folder (e.g. transfer_pretrain). The record fields it uses (the contract with the transfer
protocols):

- ``protocol == "efficiency"``: one curve per record label (e.g. ``gru`` from scratch,
  ``o-possm-ui``, ``o-possm-ft``) on its ``dataset``; ``sessions[i].points[j].setting`` holds ONE
  numeric entry, the x axis (``train_trials``, ``steps`` or ``seconds``: one panel per name), and
  ``points[j].metrics[record.metric]`` the test metric. At each x, the value is averaged over a
  session's seeds, then the mean and a 95 % t-interval are taken over sessions.
- any other protocol whose records have a ``summary``: one row per label and dataset, mean ± SD
  over sessions (``sessions[i].metrics[record.metric]``), with the usual marks; a ``finetune``
  record gives one row per adaptation mode on all trials (``bench.paper.finetune_rows``). Those on the NHP
  datasets also appear as rows of the NHP table, those of the handwriting task in its table.

Until such records exist the section says so.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats as sps

from bench.paper.cells import build_cells, cell_marks, mark_notes, transfer_records
from bench.paper.finetune_rows import adaptation_records, seen_marks
from bench.paper.sections import SectionOutput, md_table, section

FIGURE = "transfer_efficiency.png"


def efficiency_curves(records) -> dict[tuple[str, str], dict[str, dict[float, dict[str, list[float]]]]]:
    """(dataset, x name) -> label -> x -> session -> values over seeds."""
    curves: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))
    for rec in records:
        if rec.protocol != "efficiency" or rec.status != "ok":
            continue
        for s in rec.sessions:
            for point in s.points:
                numeric = {k: v for k, v in point.setting.items() if isinstance(v, (int, float))}
                value = point.metrics.get(rec.metric)
                if len(numeric) != 1 or value is None or not np.isfinite(value):
                    continue
                (x_name, x), = numeric.items()
                curves[(rec.dataset, x_name)][rec.label][float(x)][s.recording_id].append(float(value))
    return curves


def _mean_ci(per_session: dict[str, list[float]]) -> tuple[float, float, float, int]:
    v = np.array([np.mean(vals) for vals in per_session.values()])
    if v.size < 2:
        return float(v.mean()), float("nan"), float("nan"), int(v.size)
    half = sps.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half), int(v.size)


@section("transfer", "Pretraining and transfer: efficiency curves and fine-tuned rows", order=50)
def render(results: Path) -> SectionOutput:
    records, missing = transfer_records(results)
    if missing:
        return SectionOutput(f"_{missing}: the transfer protocols (issue 17) write them; the fields this "
                             "section reads are listed in bench/paper/transfer.py._\n")
    out, figures = [], {}
    curves = efficiency_curves(records)
    metric = records[0].metric
    if curves:
        fig, axes = plt.subplots(1, len(curves), figsize=(4.6 * len(curves), 3.6), squeeze=False)
        rows = []
        for ax, ((dataset, x_name), by_label) in zip(axes[0], sorted(curves.items())):
            for label, by_x in sorted(by_label.items()):
                xs = sorted(by_x)
                stats = [_mean_ci(by_x[x]) for x in xs]
                ax.plot(xs, [s[0] for s in stats], marker="o", ms=3, label=label)
                ax.fill_between(xs, [s[1] for s in stats], [s[2] for s in stats], alpha=0.2)
                for x, (m, lo, hi, n) in zip(xs, stats):
                    ci = f"[{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else "— (one session)"
                    rows.append([dataset, x_name, f"{x:g}", f"`{label}`", f"{m:.3f}", ci, str(n)])
            ax.set_xscale("log", base=2)
            ax.set_xlabel(x_name.replace("_", " "))
            ax.set_ylabel(f"test {metric}")
            ax.set_title(dataset, fontsize=9)
            ax.legend(fontsize=7, frameon=False)
        fig.tight_layout()
        figures[FIGURE] = fig
        out.append(f"![efficiency curves]({FIGURE})\n")
        out.append(md_table(["dataset", "x", "value", "model", f"mean {metric}", "95 % CI over sessions", "sessions"],
                            rows))
    else:
        out.append("_No efficiency records (protocol `efficiency`) yet._\n")
    others = [r for r in adaptation_records(records) if r.protocol != "efficiency" and r.summary is not None]
    if others:
        cells = build_cells(others)
        seen_marks(cells.values())
        out.append(md_table(["model", "protocol", "dataset", "metric", "mean ± SD over sessions"],
                            [[f"`{c.label}`", ", ".join(sorted({r.protocol for r in c.records})), c.dataset, c.metric,
                              c.text()] for c in cells.values()]))
        out.append(mark_notes(cell_marks(cells.values())))
    out.append("The poster's efficiency figure gives no numbers in its text, so no published points are drawn.\n")
    return SectionOutput("\n".join(out), figures)
