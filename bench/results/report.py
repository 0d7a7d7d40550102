"""The one report path: a run folder's tables and figures, rebuilt from its records.

The leaderboard tables (``bench.results.tables``) for the default protocol; otherwise the tables
the suite's protocol makes of its records, each written as ``<name>.md`` (and ``<name>.csv``).
A protocol's tables are made of its complete records; failed ones (a diverged training) are added
to each table as "failed (reason)" rows, so a run that failed is shown, never dropped or scored.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.results.records import Record, atomic_write_text


def failure_label(record: Record) -> str:
    """'failed (diverged)', or the first words of another failure's reason."""
    reason = record.failure_reason or "no reason recorded"
    return "failed (diverged)" if "diverged" in reason else f"failed ({reason[:80]})"


def with_failed_rows(table, failed: list[Record]):
    """``table`` with one "failed (reason)" row per failed record: appended to its frame (a ``status``
    column) and listed under its markdown."""
    from bench.protocols import Table

    if not failed:
        return table
    rows = pd.DataFrame([{"model": r.label, "dataset": r.dataset, "seed": r.seed, "status": failure_label(r)}
                         for r in failed])
    frame = rows if table.frame is None or table.frame.empty else pd.concat(
        [table.frame.assign(status="ok"), rows], ignore_index=True)
    markdown = (table.markdown.rstrip("\n") + "\n\nFailed runs (recorded without a score; delete a record to "
                "retry it):\n\n" + rows.to_markdown(index=False) + "\n")
    return Table(table.name, markdown, frame)


def write_report(out: Path, records: list[Record], suite) -> list[Path]:
    """Write the report of ``records`` (the suite's current ones) under ``out``; returns the files."""
    from bench.protocols import get_protocol
    from bench.results.tables import build_report

    protocol = get_protocol(suite.spec.protocol.name)
    if protocol.tables is None:
        return build_report(Path(out), records, suite)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    failed = [r for r in records if r.status == "failed"]
    for table in protocol.tables([r for r in records if r.status != "failed"], suite):
        table = with_failed_rows(table, failed)
        md = out / f"{table.name}.md"
        atomic_write_text(md, table.markdown)
        written.append(md)
        if table.frame is not None:
            csv = out / f"{table.name}.csv"
            atomic_write_text(csv, table.frame.to_csv(index=False))
            written.append(csv)
    if protocol.figures is not None:
        written.extend(protocol.figures([r for r in records if r.status != "failed"], suite, out))
    return written

