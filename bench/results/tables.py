"""Comparison tables and figures rebuilt from result records (never from in-memory state).

Cells are mean +- SD over sessions of the primary metric; with several seeds, each session's
value is first averaged over seeds. Parameter count and per-chunk CPU latency (median and p99 at
batch 1, the suite's thread count) complete each row. Runs recorded untrained (``needs_gpu``
models on a machine without CUDA) keep their row, for parameters and latency, with the cell
"needs GPU" instead of a metric.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from bench.metrics.regression import aggregate_sessions
from bench.results.records import Record, atomic_write_text


def _order(values: list[str], preferred: list[str] | None) -> list[str]:
    seen = list(dict.fromkeys(values))
    if not preferred:
        return seen
    return [v for v in preferred if v in seen] + [v for v in seen if v not in preferred]


def summary_frame(records: list[Record], model_order=None, dataset_order=None) -> pd.DataFrame:
    """One row per (model, dataset): metric mean / SD over sessions, params, latency."""
    per_session: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    meta: dict[tuple, dict] = {}
    for r in records:
        key = (r.label, r.dataset)
        for s in r.sessions:
            per_session[key][s.recording_id].append(s.metrics[r.metric])
        m = meta.setdefault(key, {"metric": r.metric, "params": [], "cpu": [], "cpu_p99": [], "cuda": [], "seeds": 0,
                                  "stream": [], "train_s": [], "failed": 0})
        if r.status == "failed":  # no metric, parameters or latency: counted, never averaged
            m["failed"] += 1
            m["seeds"] += 1
            continue
        m["params"].append(r.n_parameters)
        m["seeds"] += 1
        m["train_s"].append(r.train_seconds)
        if r.streaming_max_abs_diff is not None:
            m["stream"].append(r.streaming_max_abs_diff)
        lat = r.latency
        if "cpu" in lat:
            m["cpu"].append(lat["cpu"]["median_ms"])
            m["cpu_p99"].append(lat["cpu"]["p99_ms"])
        if "cuda" in lat:
            m["cuda"].append(lat["cuda"]["median_ms"])
    rows = []
    for (label, dataset), m in meta.items():
        sessions = per_session.get((label, dataset), {})
        agg = aggregate_sessions([float(np.mean(v)) for v in sessions.values()]) if sessions and not m["failed"] \
            else {"mean": np.nan, "sd": np.nan, "n": 0}
        rows.append({
            "model": label, "dataset": dataset, "metric": m["metric"], "mean": agg["mean"], "sd": agg["sd"],
            "n_sessions": agg["n"], "n_seeds": m["seeds"], "n_failed": m["failed"],
            "n_parameters": int(np.median(m["params"])) if m["params"] else 0,
            "cpu_median_ms": float(np.median(m["cpu"])) if m["cpu"] else np.nan,
            "cpu_p99_ms": float(np.median(m["cpu_p99"])) if m["cpu_p99"] else np.nan,
            "cuda_median_ms": float(np.median(m["cuda"])) if m["cuda"] else np.nan,
            "stream_max_abs_diff": float(np.max(m["stream"])) if m["stream"] else np.nan,
            "train_seconds": float(np.sum(m["train_s"])),
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    models = _order(df["model"].tolist(), model_order)
    datasets = _order(df["dataset"].tolist(), dataset_order)
    df["model"] = pd.Categorical(df["model"], models, ordered=True)
    df["dataset"] = pd.Categorical(df["dataset"], datasets, ordered=True)
    return df.sort_values(["model", "dataset"]).reset_index(drop=True)


UNTRAINED_CELL = "needs GPU"
FAILED_CELL = "failed (diverged)"


def _cell(row) -> str:
    """A table cell: the score, or why there is none (a diverged seed fails the whole cell)."""
    if row["n_failed"]:
        return FAILED_CELL if row["n_failed"] == row["n_seeds"] else \
            f"{FAILED_CELL}: {row['n_failed']} of {row['n_seeds']} seeds"
    return f"{row['mean']:.3f} ± {row['sd']:.3f}" if row["n_sessions"] else UNTRAINED_CELL


def _fmt_params(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}k"
    return str(int(n))


def comparison_table(df: pd.DataFrame) -> pd.DataFrame:
    """Wide table: rows models, columns datasets (cells 'mean ± SD'), then params and latency."""
    metric_of = df.groupby("dataset", observed=True)["metric"].first()
    wide = {}
    for (model, dataset), row in df.set_index(["model", "dataset"]).iterrows():
        col = f"{dataset} ({metric_of[dataset]})"
        wide.setdefault(model, {})[col] = _cell(row)
    table = pd.DataFrame.from_dict(wide, orient="index")
    table = table[[f"{d} ({metric_of[d]})" for d in df["dataset"].cat.categories if d in metric_of.index]]
    per_model = df.groupby("model", observed=True)
    table["params"] = per_model["n_parameters"].median().map(_fmt_params)
    table["CPU ms/chunk (median)"] = per_model["cpu_median_ms"].median().map(lambda v: f"{v:.3f}")
    table["CPU ms/chunk (p99)"] = per_model["cpu_p99_ms"].median().map(lambda v: f"{v:.3f}")
    if df["cuda_median_ms"].notna().any():
        table["GPU ms/chunk (median)"] = per_model["cuda_median_ms"].median().map(lambda v: f"{v:.3f}")
    table.index.name = "model"
    return table


def build_report(suite_dir: Path, records: list[Record], suite=None) -> list[Path]:
    """Write table.md, table.csv, summary.csv and figures under ``suite_dir``."""
    from bench.results.figures import plot_summary

    model_order = [m.display for m in suite.spec.models] if suite else None
    dataset_order = [d.name for d in suite.spec.datasets] if suite else None
    df = summary_frame(records, model_order, dataset_order)
    suite_dir.mkdir(parents=True, exist_ok=True)
    if df.empty:
        return []
    table = comparison_table(df)
    any_rec = records[0]
    lat = any_rec.latency.get("cpu", {})
    prov = any_rec.provenance
    header = (
        f"# {any_rec.suite}\n\n"
        f"Cells: primary metric, mean ± SD over sessions (each session averaged over seeds). "
        f"Latency: per {lat.get('chunk_ms', '?')} ms chunk at batch 1, {lat.get('threads', '?')} CPU thread(s), "
        f"{lat.get('n_chunks', '?')} timed steps after {lat.get('warmup', '?')} warm-up; "
        f"params exclude per-unit/per-session embedding tables (median over datasets).\n\n"
        + (f"'{UNTRAINED_CELL}': the suite marks the model needs_gpu and these records were made without a CUDA "
           "device, so the model was not trained; its parameters and latency are those of the untrained model, "
           "which do not depend on the weights.\n\n" if ((df["n_sessions"] == 0) & (df["n_failed"] == 0)).any() else "")
        + (f"'{FAILED_CELL}': the training diverged (non-finite or exploding loss) and the run was stopped; "
           "no score is shown for the model and dataset (see the records' failure_reason).\n\n"
           if (df["n_failed"] > 0).any() else "")
        + f"Machine: {prov.get('cpu')} ({prov.get('cpu_count')} cores), torch {prov['packages'].get('torch')}, "
        f"commit {str(prov['git'].get('commit'))[:10]}.\n\n"
    )
    md = suite_dir / "table.md"
    atomic_write_text(md, header + table.to_markdown() + "\n")
    csv = suite_dir / "table.csv"
    atomic_write_text(csv, table.to_csv())
    summary = suite_dir / "summary.csv"
    atomic_write_text(summary, df.to_csv(index=False))
    figs = plot_summary(df, suite_dir)
    from bench.results.confusion import plot_confusions  # classification tasks storing a confusion matrix

    figs += plot_confusions(records, suite_dir)
    return [md, csv, summary, *figs]
