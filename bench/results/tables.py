"""Comparison tables and figures rebuilt from result records (never from in-memory state).

Cells are mean +- SD over sessions of the primary metric, each session's value first averaged
over seeds, with a 95 % interval and the seeds per session; each model is compared with a reference
decoder (default the GRU) over paired (session, seed) results (``bench.results.stats``). Parameter count and per-chunk CPU latency (median and p99 at
batch 1, the suite's thread count) complete each row. Runs recorded untrained (``needs_gpu``
models on a machine without CUDA) keep their row, for parameters and latency, with the cell
"needs GPU" instead of a metric.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import SuiteError
from bench.results.flags import KINDS as FLAG_KINDS, Flag, cell_flags, cell_marks, legend
from bench.results.records import Record, atomic_write_text
from bench.results.stats import ALPHA, CI_METHOD, MIN_PAIRS, TEST_METHOD, cell_stats, paired_test

DEFAULT_REFERENCE = "gru"


def _order(values: list[str], preferred: list[str] | None) -> list[str]:
    seen = list(dict.fromkeys(values))
    if not preferred:
        return seen
    return [v for v in preferred if v in seen] + [v for v in seen if v not in preferred]


def summary_frame(records: list[Record], model_order=None, dataset_order=None,
                  reference: str | None = None, planned_seeds: int | None = None) -> pd.DataFrame:
    """One row per (model, dataset): metric mean / SD / 95 % interval over sessions, seeds per session,
    params, latency, and (with ``reference``, a model label) the paired comparison with that model."""
    per_session: dict[tuple, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    meta: dict[tuple, dict] = {}
    cells: dict[tuple, list[Record]] = defaultdict(list)  # the records of a cell, for its flags
    for r in records:
        key = (r.label, r.dataset)
        cells[key].append(r)
        for s in r.sessions:
            per_session[key][s.recording_id][r.seed] = s.metrics[r.metric]
        m = meta.setdefault(key, {"metric": r.metric, "higher_is_better": r.higher_is_better, "params": [], "cpu": [], "cpu_p99": [], "cuda": [], "seeds": 0,
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
        cell = cell_stats(sessions) if sessions and not m["failed"] else None
        rows.append({
            "model": label, "dataset": dataset, "metric": m["metric"],
            "mean": cell.mean if cell else np.nan, "sd": cell.sd if cell else np.nan,
            "higher_is_better": m["higher_is_better"],
            "ci_low": cell.ci_low if cell else np.nan, "ci_high": cell.ci_high if cell else np.nan,
            "spread_over": cell.spread_over if cell else "", "seeds_min": cell.seeds_min if cell else 0,
            "seeds_max": cell.seeds_max if cell else 0,
            "n_sessions": cell.n_sessions if cell else 0, "n_seeds": m["seeds"], "n_failed": m["failed"],
            "n_parameters": int(np.median(m["params"])) if m["params"] else 0,
            "cpu_median_ms": float(np.median(m["cpu"])) if m["cpu"] else np.nan,
            "cpu_p99_ms": float(np.median(m["cpu_p99"])) if m["cpu_p99"] else np.nan,
            "cuda_median_ms": float(np.median(m["cuda"])) if m["cuda"] else np.nan,
            "stream_max_abs_diff": float(np.max(m["stream"])) if m["stream"] else np.nan,
            "train_seconds": float(np.sum(m["train_s"])),
            **_reference_columns(label, dataset, per_session, meta, reference),
            "flags": " ".join(f.code for f in cell_flags(cells[(label, dataset)], planned_seeds)),
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    models = _order(df["model"].tolist(), model_order)
    datasets = _order(df["dataset"].tolist(), dataset_order)
    df["model"] = pd.Categorical(df["model"], models, ordered=True)
    df["dataset"] = pd.Categorical(df["dataset"], datasets, ordered=True)
    return df.sort_values(["model", "dataset"]).reset_index(drop=True)


def _reference_columns(label: str, dataset: str, results: dict, meta: dict, reference: str | None) -> dict:
    """The paired comparison of one cell with the reference model's cell on the same dataset."""
    if not reference:
        return {}
    ref_key, key = (reference, dataset), (label, dataset)
    empty = {"reference": reference, "ref_n_pairs": 0, "ref_median_diff": np.nan, "ref_mean_diff": np.nan,
             "ref_diff_ci_low": np.nan, "ref_diff_ci_high": np.nan, "ref_rank_biserial": np.nan, "ref_p": np.nan,
             "ref_marker": "", "ref_note": ""}
    if label == reference:
        return {**empty, "ref_note": "reference"}
    usable = lambda k: k in meta and not meta[k]["failed"] and results.get(k)  # noqa: E731
    if not usable(key):
        return empty
    if not usable(ref_key):
        return {**empty, "ref_note": f"no trained result of the reference '{reference}' on this dataset"}
    t = paired_test(results[key], results[ref_key], meta[key]["higher_is_better"])
    return {**empty, "ref_n_pairs": t.n_pairs, "ref_median_diff": t.median_diff, "ref_mean_diff": t.mean_diff,
            "ref_diff_ci_low": t.diff_ci_low, "ref_diff_ci_high": t.diff_ci_high, "ref_rank_biserial": t.rank_biserial,
            "ref_p": np.nan if t.p_value is None else t.p_value, "ref_marker": t.marker(meta[key]["higher_is_better"]),
            "ref_note": t.note}


def suite_reference(suite, override: str | None = None) -> str | None:
    """The reference decoder of a suite's tables: ``override`` (a CLI option), else the suite's
    ``protocol.report.reference``, else the GRU when the suite has it; 'none' turns comparisons off."""
    labels = [m.display for m in suite.spec.models] if suite is not None else None
    given = override if override is not None else (suite.spec.protocol.report.get("reference") if suite else None)
    if given is None:
        return DEFAULT_REFERENCE if labels is None or DEFAULT_REFERENCE in labels else None
    if not isinstance(given, str) or not given:
        raise SuiteError(f"Suite file {getattr(suite, 'path', '?')}: field 'protocol.report.reference' is "
                         f"{given!r}; expected one model label of the suite (or 'none').")
    if given.lower() == "none":
        return None
    if labels is not None and given not in labels:
        raise SuiteError(f"The reference decoder '{given[:80]}' (protocol.report.reference of {suite.path}, or "
                         f"--reference) is no model label of the suite; expected one of: {', '.join(labels)}, or 'none'.")
    return given


FLAGS = {code: Flag(code, label, mark, "") for code, (label, mark, _) in FLAG_KINDS.items()}
UNTRAINED_CELL = "needs GPU"
FAILED_CELL = "failed (diverged)"


def _cell(row) -> str:
    """A table cell: the score, or why there is none (a diverged seed fails the whole cell)."""
    if row["n_failed"]:
        return FAILED_CELL if row["n_failed"] == row["n_seeds"] else \
            f"{FAILED_CELL}: {row['n_failed']} of {row['n_seeds']} seeds"
    if not row["n_sessions"]:
        return UNTRAINED_CELL
    marks = cell_marks(flag for code in str(row.get("flags") or "").split() for flag in [FLAGS[code]])
    return f"{format_score(row)} {marks}" if marks else format_score(row)


def format_score(row) -> str:
    """'0.871 ± 0.011 [0.843, 0.899] ×3 ▲': mean ± SD [95 % interval] ×seeds per session, marker;
    'ˢ' after the SD: over seeds (one session); a single result has neither SD nor interval."""
    seeds = f"×{row['seeds_min']}" if row["seeds_min"] == row["seeds_max"] else f"×{row['seeds_min']}-{row['seeds_max']}"
    if row["spread_over"] == "none":
        text = f"{row['mean']:.3f} (1 run)"
    else:
        over = "ˢ" if row["spread_over"] == "seeds" else ""
        text = f"{row['mean']:.3f} ± {row['sd']:.3f}{over} [{row['ci_low']:.3f}, {row['ci_high']:.3f}] {seeds}"
    marker = row.get("ref_marker", "") if hasattr(row, "get") else ""
    return f"{text} {marker}" if marker else text


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


def reference_table(df: pd.DataFrame) -> pd.DataFrame | None:
    """Rows models, columns datasets: each cell's paired comparison with the reference model."""
    if "reference" not in df.columns or df.empty:
        return None
    wide: dict[str, dict[str, str]] = {}
    for (model, dataset), row in df.set_index(["model", "dataset"]).iterrows():
        if row["ref_note"] == "reference":
            text = "reference"
        elif not row["ref_n_pairs"]:
            text = row["ref_note"] or "-"
        else:
            interval = (f" [{row['ref_diff_ci_low']:+.3f}, {row['ref_diff_ci_high']:+.3f}]"
                        if np.isfinite(row["ref_diff_ci_low"]) else "")
            test = f"p {row['ref_p']:.3g}{(' ' + row['ref_marker']) if row['ref_marker'] else ''}" \
                if np.isfinite(row["ref_p"]) else "no test"
            text = (f"{row['ref_median_diff']:+.3f} (mean {row['ref_mean_diff']:+.3f}{interval}) "
                    f"r {row['ref_rank_biserial']:+.2f} {test} n {row['ref_n_pairs']}")
        wide.setdefault(str(model), {})[str(dataset)] = text
    table = pd.DataFrame.from_dict(wide, orient="index")
    table = table[[d for d in df["dataset"].cat.categories if d in table.columns]]
    table.index.name = "model"
    return table


def paired_legend(df: pd.DataFrame) -> str:
    """What a cell of the paired comparison table says."""
    ref, metric = df["reference"].iloc[0], df["metric"].iloc[0]
    lower = "" if df["higher_is_better"].all() else "; lower is better"
    return (f"Each cell: median of the paired differences model minus '{ref}' ({metric}{lower}) over (session, seed) "
            "results, (their mean and its 95 % t-interval over sessions, over seeds for a one-session dataset), r: "
            "matched-pairs rank-biserial (positive: "
            f"the model is better), p: Wilcoxon signed-rank, two-sided, ▲ / ▼ p < {ALPHA} ('no test': fewer than "
            f"{MIN_PAIRS} non-zero differences), n: pairs.")


def statistics_legend(df: pd.DataFrame) -> str:
    """What the cells' intervals and the comparison markers mean, for the head of a table."""
    text = (f"Interval: {CI_METHOD}; ×k: seeds per session; 'ˢ' after an SD: over the seeds of a one-session "
            "dataset; '(1 run)': one session and one seed, no spread. ")
    if "reference" in df.columns and not df.empty:
        ref = df["reference"].iloc[0]
        n_tests = int(np.isfinite(df["ref_p"]).sum())
        text += (f"Reference '{ref}': {TEST_METHOD}. ▲ / ▼: p < {ALPHA} and the model better / worse than "
                 f"'{ref}'; no marker: not significant, or fewer than {MIN_PAIRS} non-zero pairs (no test). "
                 f"{n_tests} tests in this table, not corrected for multiple comparisons. ")
    return text


def build_report(suite_dir: Path, records: list[Record], suite=None, reference: str | None = None) -> list[Path]:
    """Write table.md, table.csv, summary.csv and figures under ``suite_dir``; ``reference`` (a model
    label, or 'none') overrides the suite's reference decoder."""
    from bench.results.figures import plot_summary

    model_order = [m.display for m in suite.spec.models] if suite else None
    dataset_order = [d.name for d in suite.spec.datasets] if suite else None
    labels = {r.label for r in records}
    ref = suite_reference(suite, reference) if suite is not None else (
        None if reference == "none" else reference or (DEFAULT_REFERENCE if DEFAULT_REFERENCE in labels else None))
    df = summary_frame(records, model_order, dataset_order, reference=ref,
                       planned_seeds=len(suite.spec.seeds) if suite else None)
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
        + statistics_legend(df) +
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
    marks_legend = legend(code for codes in df["flags"] for code in codes.split())
    if marks_legend:
        header += "Marks: " + " ".join(marks_legend) + " (bench.results.flags)\n\n"
    md = suite_dir / "table.md"
    compared = reference_table(df)
    paired = []
    if compared is not None:
        ref = df["reference"].iloc[0]
        pmd = suite_dir / "paired.md"
        atomic_write_text(pmd, f"# {any_rec.suite}: paired comparison with {ref}\n\n" + paired_legend(df) + "\n\n"
                          + compared.to_markdown() + "\n")
        pcsv = suite_dir / "paired.csv"
        atomic_write_text(pcsv, compared.to_csv())
        paired = [pmd, pcsv]
        header += f"Paired comparisons with '{ref}' (differences, intervals, effect sizes, p-values): paired.md.\n\n"
    from bench.results.sequences import sequence_report  # sequence tasks: pooled PER, decoded sentences

    pooled_md, pooled_files = sequence_report(records, suite_dir, model_order)
    atomic_write_text(md, header + table.to_markdown() + "\n" + ("\n" + pooled_md if pooled_md else ""))
    csv = suite_dir / "table.csv"
    atomic_write_text(csv, table.to_csv())
    summary = suite_dir / "summary.csv"
    atomic_write_text(summary, df.to_csv(index=False))
    figs = plot_summary(df, suite_dir)
    from bench.results.confusion import plot_confusions  # classification tasks storing a confusion matrix

    figs += plot_confusions(records, suite_dir)
    return [md, csv, summary, *paired, *figs, *pooled_files]
