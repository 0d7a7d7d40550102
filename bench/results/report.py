"""The one report path: a run folder's tables and figures, rebuilt from its records.

The leaderboard tables (``bench.results.tables``) for the default protocol; otherwise the tables
the suite's protocol makes of its records, each written as ``<name>.md`` (and ``<name>.csv``).
"""

from __future__ import annotations

from pathlib import Path

from bench.results.records import Record


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
    for table in protocol.tables(records, suite):
        md = out / f"{table.name}.md"
        md.write_text(table.markdown)
        written.append(md)
        if table.frame is not None:
            csv = out / f"{table.name}.csv"
            table.frame.to_csv(csv, index=False)
            written.append(csv)
    if protocol.figures is not None:
        written.extend(protocol.figures(records, suite, out))
    return written

