"""The leaderboard page: one static, self-contained HTML file per task, built from records alone.

No suite file, no network: everything shown (scores with their intervals and paired tests,
parameters, per-chunk latency, the accuracy-latency scatter with its Pareto front, convergence
and streaming flags, provenance) is read from the run folder's records, and each row links to its
record files by relative path, so the folder can be copied or served as it is. Every string that
comes from a record is HTML-escaped. The table sorts on a click (plain inline JavaScript); a
``#sort=<column>`` or ``#sort=<column>:desc`` fragment clicks the header on load, which is how the
tests drive a sort in headless Chromium.
"""

from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from html import escape
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from bench.errors import BenchError
from bench.results.flags import KINDS as FLAG_KINDS
from bench.results.flags import run_flags as shared_run_flags
from bench.results.page_parts import SCRIPT, STYLE, pareto_front, scatter_svg
from bench.results.records import Record, atomic_write_text, read_record, record_files
from bench.results.tables import (DEFAULT_REFERENCE, FAILED_CELL, UNTRAINED_CELL, format_score, paired_legend,
                                  reference_table, statistics_legend, summary_frame)


def run_flags(record: Record) -> list[tuple[str, str, str]]:
    """(code, label, explanation) of each flag of a run (``bench.results.flags``: invalid stream,
    unconverged, failed, untrained)."""
    return [(f.code, f.label, f.text) for f in shared_run_flags(record)]


def _current(pairs: list[tuple[Path, Record]]) -> tuple[list[tuple[Path, Record]], int]:
    """One record per (protocol, label, dataset, seed): the newest; returns them and how many older ones
    (left by runs with other settings) were set aside."""
    newest: dict[tuple, tuple[Path, Record]] = {}
    for path, rec in pairs:
        k = (rec.protocol, rec.label, rec.dataset, rec.seed)
        if k not in newest or str(rec.provenance.get("created", "")) > str(newest[k][1].provenance.get("created", "")):
            newest[k] = (path, rec)
    return list(newest.values()), len(pairs) - len(newest)


def _e(value) -> str:
    return escape(str(value), quote=True)


def _num(value: float, fmt: str = ".3f") -> str:
    return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, fmt)


def _sort_key(value: float) -> str:
    return "" if value is None or not math.isfinite(float(value)) else repr(float(value))


def _cell(row) -> tuple[str, str]:
    """(HTML, sort value) of one score cell: 'mean ± SD marker' over '[95 % interval] ×seeds'."""
    if row["n_failed"]:
        return _e(FAILED_CELL if row["n_failed"] == row["n_seeds"] else
                  f"{FAILED_CELL}: {row['n_failed']} of {row['n_seeds']} seeds"), ""
    if not row["n_sessions"]:
        return _e(row["_empty"]), ""
    text = format_score(row)  # '0.871 ± 0.011 [0.843, 0.899] ×3 ▲' or '0.724 (1 run)'
    codes = str(row.get("flags") or "").split()
    marks = " ".join(FLAG_KINDS[c][1] for c in codes if c in FLAG_KINDS and c not in ("failed", "untrained"))
    text = f"{text} {marks}" if marks else text
    head, _, rest = text.partition(" [")
    if not rest:
        return _e(text), _sort_key(row["mean"])
    interval, _, tail = rest.partition("] ")
    seeds, _, marker = tail.partition(" ")
    return (f'{_e(head)}{(" <b>" + _e(marker) + "</b>") if marker else ""}<br><small>[{_e(interval)}] '
            f'{_e(seeds)}</small>'), _sort_key(row["mean"])


def _provenance(records: list[Record]) -> list[tuple[str, str]]:
    prov = [r.provenance for r in records]
    uniq = lambda xs: ", ".join(sorted({str(x) for x in xs if x not in (None, "")})) or "–"  # noqa: E731
    commits = {(str(p.get("git", {}).get("commit"))[:10], bool(p.get("git", {}).get("dirty"))) for p in prov}
    created = sorted(str(p.get("created")) for p in prov if p.get("created"))
    threads = {str(r.latency.get("cpu", {}).get("threads")) for r in records if "cpu" in r.latency}
    return [
        ("suites", uniq(r.suite for r in records)), ("protocols", uniq(r.protocol for r in records)),
        ("records", f"{len(records)} ({created[0]} to {created[-1]})" if created else str(len(records))),
        ("machines", uniq(f"{p.get('cpu')} ({p.get('cpu_count')} cores, {p.get('device')})" for p in prov)),
        ("commits", ", ".join(f"{c}{' (uncommitted changes)' if d else ''}" for c, d in sorted(commits))),
        ("python / torch", uniq(f"{p.get('python') or '?'} / {p.get('packages', {}).get('torch') or '?'}" for p in prov)),
        ("training threads / parallel jobs", uniq(f"{p.get('torch_threads') or '?'} / {p.get('parallel_jobs') or '?'}"
                                                  for p in prov)),
        ("latency", uniq(f"per {r.latency['cpu'].get('chunk_ms')} ms chunk, batch 1, {r.latency['cpu'].get('threads')} "
                         f"thread(s), {r.latency['cpu'].get('n_chunks')} timed steps" for r in records
                         if "cpu" in r.latency) + ("" if len(threads) <= 1 else " (thread counts differ!)")),
    ]


def task_page(task: str, pairs: list[tuple[Path, Record]], out_dir: Path, reference: str | None,
              set_aside: int = 0) -> str:
    """The HTML of one task's page (``pairs``: record files and records of that task)."""
    records = [r for _, r in pairs]
    labels = list(dict.fromkeys(r.label for r in records))
    if reference == DEFAULT_REFERENCE and reference not in labels:
        reference = None
    df = summary_frame(records, reference=reference)
    metric, higher = records[0].metric, records[0].higher_is_better
    datasets = list(df["dataset"].cat.categories)
    by_model: dict[str, dict] = defaultdict(lambda: {"flags": {}, "files": [], "untrained": False})
    for path, rec in pairs:
        info = by_model[rec.label]
        info["files"].append(os.path.relpath(path, out_dir))
        info["untrained"] |= not rec.trained
        for code, label, text in run_flags(rec):
            info["flags"].setdefault((code, label), []).append(f"{rec.dataset} seed {rec.seed}: {text}")
    rows, points = [], []
    sign = -1.0 if higher else 1.0  # rows best first; unscored last
    means = df[(df["n_sessions"] > 0) & (df["n_failed"] == 0)].groupby("model", observed=True)["mean"].mean()
    order = sorted(df["model"].cat.categories, key=lambda m: (m not in means.index, sign * means.get(m, 0.0)))
    for model in order:
        sub = df[df["model"] == model].set_index("dataset")
        info = by_model[str(model)]
        empty = UNTRAINED_CELL if info["untrained"] else "no metric (protocol without scores)"
        scored = sub[(sub["n_sessions"] > 0) & (sub["n_failed"] == 0)]
        mean_all = float(scored["mean"].mean()) if len(scored) else math.nan
        invalid = any(code == "invalid_stream" for code, _ in info["flags"])
        lat = float(sub["cpu_median_ms"].median()) if sub["cpu_median_ms"].notna().any() else math.nan
        params = int(sub["n_parameters"].median())
        cells = []
        for d in datasets:
            if d not in sub.index:
                cells.append(("not run", ""))
                continue
            row = sub.loc[d].copy()
            row["_empty"] = empty
            cells.append(_cell(row))
        stream = float(sub["stream_max_abs_diff"].max()) if sub["stream_max_abs_diff"].notna().any() else math.nan
        rows.append({"model": str(model), "cells": cells, "mean": mean_all, "n_scored": len(scored), "params": params,
                     "lat": lat, "p99": float(sub["cpu_p99_ms"].median()), "stream": stream, "invalid": invalid,
                     "flags": info["flags"], "files": sorted(info["files"]),
                     "gpu": float(sub["cuda_median_ms"].median()) if sub["cuda_median_ms"].notna().any() else math.nan})
        points.append({"model": str(model), "lat": lat, "score": mean_all, "params": params, "invalid": invalid,
                       "partial": 0 < len(scored) < len(datasets)})
    front = pareto_front([p for p in points if math.isfinite(p["lat"]) and math.isfinite(p["score"])
                          and not p["invalid"]], higher)
    return _html(task, metric, higher, datasets, rows, points, front, df, records, reference, set_aside)


def _table(task: str, metric: str, datasets: list[str], rows: list[dict], scored: bool) -> str:
    """The sortable table; without any score (e.g. the latency protocol) no score columns."""
    gpu = any(math.isfinite(r["gpu"]) for r in rows)
    heads = [("model", "model", "text")] + ([(f"d-{d}", f"{d} ({metric})", "num") for d in datasets] + [
        ("mean", f"mean over datasets ({metric})", "num")] if scored else []) + [("params", "parameters", "num"),
        ("cpu", "CPU ms/chunk (median)", "num"), ("cpu99", "CPU ms/chunk (p99)", "num")] + (
        [("gpu", "GPU ms/chunk (median)", "num")] if gpu else []) + [
        ("stream", "stream |Δ| max", "num"), ("flags", "flags", "text"), ("records", "records", "text")]
    th = "".join(f'<th data-key="{_e(k)}" data-type="{t}" scope="col">{_e(label)}</th>' for k, label, t in heads)
    body = []
    for r in rows:
        tds = [f'<td data-sort="{_e(r["model"])}" class="model">{_e(r["model"])}</td>']
        if scored:
            tds += [f'<td data-sort="{_e(s)}" class="score">{html}</td>' for html, s in r["cells"]]
            partial = f" ({r['n_scored']} of {len(datasets)})" if 0 < r["n_scored"] < len(datasets) else ""
            tds.append(f'<td data-sort="{_sort_key(r["mean"])}">{_num(r["mean"])}{_e(partial)}</td>')
        tds.append(f'<td data-sort="{r["params"]}">{r["params"]:,}</td>')
        tds.append(f'<td data-sort="{_sort_key(r["lat"])}">{_num(r["lat"])}</td>')
        tds.append(f'<td data-sort="{_sort_key(r["p99"])}">{_num(r["p99"])}</td>')
        if gpu:
            tds.append(f'<td data-sort="{_sort_key(r["gpu"])}">{_num(r["gpu"])}</td>')
        tds.append(f'<td data-sort="{_sort_key(r["stream"])}">{_num(r["stream"], ".2g")}</td>')
        flags = "".join(f'<span class="flag flag-{_e(re.sub("[^a-z0-9_]", "", code.lower()))}" '
                        f'title="{_e(chr(10).join(why))}">{_e(label)}</span> '
                        for (code, label), why in sorted(r["flags"].items()))
        tds.append(f'<td data-sort="{_e(" ".join(code for code, _ in sorted(r["flags"])))}">{flags or "–"}</td>')
        links = "".join(f'<li><a href="{_e(quote(f))}">{_e(Path(f).name)}</a></li>' for f in r["files"])
        tds.append(f'<td data-sort="{len(r["files"])}"><details><summary>{len(r["files"])}</summary><ul>{links}'
                   "</ul></details></td>")
        cls = ' class="invalid"' if r["invalid"] else ""
        body.append(f'<tr data-model="{_e(r["model"])}"{cls}>{"".join(tds)}</tr>')
    return (f'<table id="leaderboard" data-task="{_e(task)}"><thead><tr>{th}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _frame_html(frame: pd.DataFrame, table_id: str) -> str:
    head = "".join(f"<th scope=\"col\">{_e(c)}</th>" for c in [frame.index.name or "", *frame.columns])
    body = "".join("<tr>" + f"<th scope=\"row\">{_e(i)}</th>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
                   for i, row in zip(frame.index, frame.itertuples(index=False)))
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _html(task, metric, higher, datasets, rows, points, front, df, records, reference, set_aside) -> str:
    direction = "higher is better" if higher else "lower is better"
    scored = bool((df["n_sessions"] > 0).any() or (df["n_failed"] > 0).any())
    suites = ", ".join(sorted({r.suite for r in records}))
    intro = (f"Primary metric <b>{_e(metric)}</b> ({direction}). {_e(statistics_legend(df))}" if scored else
             f"These records ({_e(', '.join(sorted({r.protocol for r in records})))}) hold no scores: parameters "
             "and per-chunk latency only.")
    prov = "".join(f"<tr><th scope=\"row\">{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in _provenance(records))
    compared = reference_table(df) if reference and scored else None
    if compared is not None:  # rows in the leaderboard's order
        compared = compared.reindex([r["model"] for r in rows if r["model"] in compared.index])
    paired = ("" if compared is None else f"<h2>Paired comparison with {_e(reference)}</h2><p>{_e(paired_legend(df))}"
              f"</p>{_frame_html(compared, 'paired')}")
    note = f"<p>{set_aside} older record(s) of the same runs (other settings) were set aside.</p>" if set_aside else ""
    flag_legend = " ".join(f'<span class="flag flag-{code}">{_e(label)}</span> {_e(why)};'
                           for code, (label, _, why) in FLAG_KINDS.items() if code != "fewer_seeds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{_e(suites)}: {_e(task)} leaderboard</title><style>{STYLE}</style></head>
<body>
<h1>{_e(suites)}: {_e(task)} leaderboard</h1>
<p>{intro}
Click a column header to sort. Flags (hover one for its runs): {flag_legend} A row with an invalid stream is
struck out and left off the Pareto front.</p>
{_table(task, metric, datasets, rows, scored)}
{note}
{f"<h2>Accuracy against per-chunk latency</h2>{scatter_svg(points, front, metric, higher)}" if scored else ""}
{paired}
<h2>Provenance</h2>
<table id="provenance"><tbody>{prov}</tbody></table>
<p class="built">Built from these records alone by <code>python -m bench page</code> (the same records give the
same page, byte for byte).</p>
<script>{SCRIPT}</script>
</body></html>
"""


def _task_file(task: str, single: bool) -> str:
    return "index.html" if single else f"page_{re.sub(r'[^A-Za-z0-9_.-]', '_', task)}.html"


def build_pages(run_dir: Path, out_dir: Path | None = None, reference: str | None = DEFAULT_REFERENCE) -> list[Path]:
    """Write the page(s) of the records under ``run_dir``/records into ``out_dir`` (default ``run_dir``):
    index.html for one task; with several, page_<task>.html each and an index.html linking them."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir
    files = record_files(run_dir)
    if not files:
        raise BenchError(f"No records in {run_dir / 'records'}: the page is built from a run folder's records "
                         "(`python -m bench run SUITE --out FOLDER` writes them).")
    if reference is not None and (not isinstance(reference, str) or not reference.strip()):
        raise BenchError(f"--reference {reference!r}: expected a model label, or 'none'.")
    ref = None if reference is None or reference.lower() == "none" else reference
    pairs, set_aside = _current([(p, read_record(p)) for p in files])
    by_task: dict[str, list] = defaultdict(list)
    for path, rec in pairs:
        by_task[rec.task].append((path, rec))
    labels = {r.label for _, r in pairs}
    if ref is not None and ref != DEFAULT_REFERENCE and ref not in labels:
        raise BenchError(f"--reference '{ref[:80]}' is no model label of the records in {run_dir}; expected one "
                         f"of: {', '.join(sorted(labels))}, or 'none'.")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    single = len(by_task) == 1
    for task, task_pairs in sorted(by_task.items()):
        target = out_dir / _task_file(task, single)
        atomic_write_text(target, task_page(task, task_pairs, out_dir, ref, set_aside if single else 0))
        written.append(target)
    if not single:
        items = "".join(f'<li><a href="{_e(quote(p.name))}">{_e(t)}</a></li>' for t, p in zip(sorted(by_task), written))
        index = out_dir / "index.html"
        atomic_write_text(index, f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Leaderboards'
                                 f'</title><style>{STYLE}</style></head><body><h1>Leaderboards</h1><ul>{items}</ul>'
                                 "</body></html>\n")
        written.append(index)
    return written


