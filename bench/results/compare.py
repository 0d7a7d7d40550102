"""A user's run of a suite beside the suite's committed leaderboard, cell by cell.

The leaderboard is the folder the suite names in ``leaderboard`` (results/<suite>/ for the
built-in suites). Cells are compared per model and dataset (mean over sessions and seeds, as in
the tables); runs whose key differs from the leaderboard's run of the same model, dataset and
seed are listed with the settings that differ, since their cells are not like for like.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from bench.results.flags import KINDS as FLAG_KINDS
from bench.results.identity import differences
from bench.results.records import Record, load_records
from bench.results.tables import FAILED_CELL, summary_frame


def leaderboard_dir(suite) -> Path | None:
    if not suite.spec.leaderboard:
        return None
    path = Path(suite.spec.leaderboard)
    return path if path.is_absolute() else (suite.base_dir / path).resolve()


def comparison_frame(mine: list[Record], theirs: list[Record], model_order=None, dataset_order=None) -> pd.DataFrame:
    """One row per (model, dataset) of ``mine`` in the suite's order: metric and CPU latency, yours vs
    leaderboard (no metric for untrained runs)."""
    a, b = summary_frame(mine, model_order, dataset_order), summary_frame(theirs)
    if a.empty:
        return a
    cols = ["model", "dataset", "mean", "cpu_median_ms", "flags"]
    merged = a[["model", "dataset", "metric", "mean", "cpu_median_ms", "n_failed", "flags"]].astype({"model": str, "dataset": str}).merge(
        b[cols].astype({"model": str, "dataset": str}) if not b.empty else pd.DataFrame(columns=cols),
        on=["model", "dataset"], how="left", suffixes=("", "_leaderboard"))
    return pd.DataFrame({
        "model": merged["model"], "dataset": merged["dataset"], "metric": merged["metric"],
        "yours": merged["mean"], "leaderboard": merged["mean_leaderboard"],
        "difference": merged["mean"] - merged["mean_leaderboard"],
        "CPU ms yours": merged["cpu_median_ms"], "CPU ms leaderboard": merged["cpu_median_ms_leaderboard"],
        "CPU ratio": merged["cpu_median_ms"] / merged["cpu_median_ms_leaderboard"],
        "flags yours": merged["flags"].map(_flag_labels),
        "flags leaderboard": merged["flags_leaderboard"].map(_flag_labels),
        "failed": merged["n_failed"] > 0,
    })


def _flag_labels(codes) -> str | None:
    """'INVALID stream, unconverged' from a summary row's flag codes (``bench.results.flags``)."""
    labels = [FLAG_KINDS[c][0] for c in str(codes).split() if c in FLAG_KINDS] if isinstance(codes, str) else []
    return ", ".join(labels) or None


def _shown(df: pd.DataFrame) -> pd.DataFrame:
    """The comparison as printed: 3 decimals, '-' where there is no value, failed runs named, never scored."""
    shown = df.drop(columns="failed").astype(object).where(df.drop(columns="failed").notna(), None)
    for col in ("yours", "leaderboard", "difference"):
        shown[col] = [None if v is None else f"{v:.3f}" for v in shown[col]]
    shown.loc[df["failed"].to_numpy(bool), ["yours", "difference"]] = FAILED_CELL
    return shown


def configuration_differences(mine: list[Record], theirs: list[Record]) -> list[str]:
    slots = {(r.label, r.dataset, r.seed): r for r in theirs}
    lines = []
    for r in mine:
        other = slots.get((r.label, r.dataset, r.seed))
        if other is None:
            lines.append(f"{r.label} / {r.dataset} / seed {r.seed}: not on the leaderboard")
        elif other.key != r.key:
            lines.append(f"{r.label} / {r.dataset} / seed {r.seed}: " + "; ".join(differences(other.identity, r.identity)))
    return lines


def compare_with_leaderboard(suite, out: Path, mine: list[Record], log: Callable[[str], None]) -> Path | None:
    """Print and write ``out/comparison.md``; nothing when the suite names no leaderboard or the
    run folder is the leaderboard itself."""
    board = leaderboard_dir(suite)
    if board is None or not mine:
        return None
    if Path(out).resolve() == board:
        log(f"the run folder is the leaderboard ({board}): no comparison")
        return None
    theirs = load_records(board)
    if not theirs:
        log(f"no leaderboard records in {board}: no comparison")
        return None
    df = comparison_frame(mine, theirs, [m.display for m in suite.spec.models], [d.name for d in suite.spec.datasets])
    table = _shown(df).to_markdown(index=False, floatfmt=".3f", missingval="-")
    notes = configuration_differences(mine, theirs)
    text = (f"# {suite.spec.name}: this run ({out}) beside the leaderboard ({board})\n\n"
            "Metric: mean over sessions (each averaged over seeds); untrained runs have no metric ('-'). "
            "CPU: median ms per chunk at batch 1. Flags: see bench.results.flags (an INVALID stream's score is "
            "not that of the decoder run live; unconverged: still improving at its epoch cap).\n\n" + table + "\n\n")
    text += ("Runs that differ in configuration from the leaderboard's (not like for like):\n\n"
             + "\n".join(f"- {line}" for line in notes) + "\n") if notes else \
        "Every run has the leaderboard's configuration (same key).\n"
    path = Path(out) / "comparison.md"
    path.write_text(text)
    log(text)
    log(f"wrote {path}")
    return path
