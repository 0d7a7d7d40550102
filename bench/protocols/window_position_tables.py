"""The window-position report: per analysed model (one with lookahead or variant scores) and
training setting, one row per session beside reference models, means per dataset and seed; then
fresh / warm streams beside the other models of the same run."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from bench.errors import DataError
from bench.protocols import Table
from bench.protocols.window_position import CONTEXT_KEYS
from bench.results.records import Record, load_records

SHORT = dict(zip(CONTEXT_KEYS, ("fresh", "clipped", "full", "warm")))
OWN_KEYS = ("causal", "train")


def reference_scores(folder: Path, models: list[str]) -> dict[tuple[str, int, str], float]:
    """(model label, seed, recording id) -> primary test metric in another run folder; refuses two
    configurations of one model there (a stale record) rather than picking one silently."""
    out, keys = {}, {}
    for rec in load_records(folder) if folder.is_dir() else []:
        if rec.label not in models or not rec.trained:
            continue
        for s in rec.sessions:
            slot = (rec.label, rec.seed, s.recording_id)
            if slot in keys and keys[slot] != rec.key:
                raise DataError(f"{folder}: two {rec.label} records (keys {keys[slot]} and {rec.key}) score "
                                f"{s.recording_id}, seed {rec.seed}; remove the stale one.")
            keys[slot], out[slot] = rec.key, s.metrics[rec.metric]
    return out


def _rows(records: list[Record], dataset_order: list[str]) -> list[dict]:
    rows = [{"dataset": r.dataset, "recording_id": s.recording_id, "session": s.recording_id.split("/")[-1],
             "position": i, "seed": r.seed, "causal": s.metrics[r.metric], "scores": s.scores,
             "best_epoch": s.fit.get("best_epoch"), "train_s": s.train_seconds}
            for r in records for i, s in enumerate(r.sessions)]
    rank = {d: i for i, d in enumerate(dataset_order)}
    return sorted(rows, key=lambda x: (rank.get(x["dataset"], len(rank)), x["dataset"], x["position"], x["seed"]))


def _groups(rows: list[dict]) -> list[tuple[str, int, list[dict]]]:
    """(dataset, seed, its rows) per seed and dataset in row order, then ("all", seed, every row of the seed)."""
    out = []
    for seed in sorted({r["seed"] for r in rows}):
        of_seed = [r for r in rows if r["seed"] == seed]
        datasets = list(dict.fromkeys(r["dataset"] for r in of_seed))
        out += [(d, seed, [r for r in of_seed if r["dataset"] == d]) for d in datasets] + [("all", seed, of_seed)]
    return out


def _mean(vals) -> float | None:
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else None


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def _diff(a, b) -> str:
    return "-" if a is None or b is None else f"{a - b:+.3f}"


def _line(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _head(cells) -> list[str]:
    return [_line(cells), "|" + "---|" * len(cells)]


def _value(row: dict, key: str):
    return row["causal"] if key == "causal" else row["scores"].get(key)


def setting_tables(label: str, rows: list[dict], refs: dict, ref_models: list[str], variants: list[str]) -> list[str]:
    extra = list(dict.fromkeys(k for r in rows for k in r["scores"] if k not in CONTEXT_KEYS and k not in OWN_KEYS))
    keys = ["causal", *extra, "train"]
    lines = _head(["dataset", "session", "seed", *ref_models, *[f"{label} {k}" for k in keys], "best epoch", "train s"])
    for row in rows:
        row["ref"] = [refs.get((m, row["seed"], row["recording_id"])) for m in ref_models]
        lines.append(_line([row["dataset"], row["session"], row["seed"], *map(_fmt, row["ref"]),
                            *(_fmt(_value(row, k)) for k in keys), row["best_epoch"], f"{row['train_s']:.0f}"]))
    compared = [k for k in ["causal", *variants] if k in keys] if ref_models else []
    gaps = [f"{label} {k} - {ref_models[0]}" for k in compared]
    lines += ["", "Means over the runs above (reference models over the same sessions):", "",
              *_head(["dataset", "seed", "runs", *ref_models, *[f"{label} {k}" for k in keys], *gaps])]
    for dataset, seed, rs in _groups(rows):
        refs_mean = [_mean(r["ref"][i] for r in rs) for i in range(len(ref_models))]
        own = {k: _mean(_value(r, k) for r in rs) for k in keys}
        diffs = [_diff(own[k], refs_mean[0]) for k in compared]
        lines.append(_line([dataset, seed, len(rs), *map(_fmt, refs_mean), *(_fmt(own[k]) for k in keys), *diffs]))
    return lines + [""]


CONTEXT_NOTE = """Fresh or warm streams: causal test scores of the other models of this run (trained on the same
session and seed) and of the model above. `fresh` = every test trial decoded from a freshly reset
decoder (the harness's rule), split into the queries whose window is clipped by the trial start
(`clipped`: less than the protocol's context_s into the trial) and the rest (`full`); `warm` = the
same queries from streams started context_s before each trial.
"""


def context_tables(label: str, rows: list[dict], others: dict[str, dict]) -> list[str]:
    rows = [r for r in rows if all(k in r["scores"] for k in CONTEXT_KEYS)]
    if not rows:
        return []
    models = [*others, label]

    def value(model, row, key):
        if model == label:
            return row["scores"][key]
        return others[model].get((row["seed"], row["recording_id"]), {}).get(key)

    cols = [(m, k) for k in CONTEXT_KEYS for m in models]
    lines = [CONTEXT_NOTE, *_head(["dataset", "session", "seed", *[f"{m} {SHORT[k]}" for m, k in cols]])]
    for row in rows:
        lines.append(_line([row["dataset"], row["session"], row["seed"], *(_fmt(value(m, row, k)) for m, k in cols)]))
    first = next(iter(others), None)
    gaps = [f"{label} - {first} {SHORT[k]}" for k in CONTEXT_KEYS] if first else []
    lines += ["", "Means:", "", *_head(["dataset", "seed", "runs", *[f"{m} {SHORT[k]}" for m, k in cols], *gaps])]
    for dataset, seed, rs in _groups(rows):
        means = {(m, k): _mean(value(m, r, k) for r in rs) for m, k in cols}
        diffs = [_diff(means[(label, k)], means[(first, k)]) for k in CONTEXT_KEYS] if first else []
        lines.append(_line([dataset, seed, len(rs), *(_fmt(means[c]) for c in cols), *diffs]))
    return lines + [""]


def _provenance_line(records: list[Record]) -> str:
    """Machines, torch, threads and commits of the runs (a record made of several separate runs keeps
    theirs under ``session_runs``)."""
    prov = [p for r in records if r.provenance for p in [r.provenance, *r.provenance.get("session_runs", [])]]
    if not prov:
        return "Machine: not recorded."
    cpus = sorted({str(p.get("cpu", "?")) for p in prov})
    torch_versions = sorted({str((p.get("packages") or {}).get("torch", "?")) for p in prov})
    threads = sorted({str(p.get("torch_threads", "?")) for p in prov})
    commits = sorted({str((p.get("git") or {}).get("commit") or "?")[:10] for p in prov})
    return (f"Machine: {', '.join(cpus)}; torch {', '.join(torch_versions)}; torch threads per run "
            f"{', '.join(threads)}; commit(s) {', '.join(commits)}.")


def _setting(rec: Record) -> str:
    params = rec.identity["model"].get("params", {})
    return (f"model {rec.model}, train {json.dumps(rec.identity.get('train', {}), sort_keys=True)}, "
            f"parameters {json.dumps(params, sort_keys=True)}")


def _header(suite, ref_folder, ref_models: list[str], variants: dict, metric: str) -> str:
    text = (f"# Window position: {suite.spec.name}\n\n"
            "Made by `python -m bench run SUITE` (protocol window_position: each model trained once per session "
            "with the suite's settings) and tabled from its records by `python -m bench report SUITE --out "
            "RUN_FOLDER`. Columns: `causal` = the harness's streaming evaluation; `lookahead D` = each output from "
            "the window ending D s after its chunk (not causal; analysis only; models with `predict_lookahead`); ")
    text += "".join(f"`{name}` = the trained model scored with {json.dumps(values)}; " for name, values in variants.items())
    text += "`train` = causal on the training split. "
    if ref_models:
        text += (f"{', '.join(f'`{m}`' for m in ref_models)}: the same session and seed in {ref_folder} (relative "
                 "to the suite file), streamed causally. ")
    return text + f"All scores: {metric} on the test split unless said.\n"


def tables(records: list[Record], suite) -> list[Table]:
    if not records:
        return [Table("window_position", "No window-position records yet.\n")]
    report, params = suite.spec.protocol.report, suite.spec.protocol.params
    ref_models = list(report.get("reference_models", []))
    ref_folder = report.get("reference")
    refs = reference_scores((suite.base_dir / ref_folder).resolve(), ref_models) if ref_folder else {}
    variants = params.get("variants", {})
    datasets = [d.name for d in suite.spec.datasets]
    by_label: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_label[r.label].append(r)
    labels = [m.display for m in suite.spec.models if m.display in by_label]
    analysed = [lb for lb in labels if any(k not in CONTEXT_KEYS and k not in OWN_KEYS
                                           for r in by_label[lb] for s in r.sessions for k in s.scores)]
    others = {lb: {(r.seed, s.recording_id): s.scores for r in by_label[lb] for s in r.sessions}
              for lb in labels if lb not in analysed}
    out = [_header(suite, ref_folder, ref_models, variants, records[0].metric), _provenance_line(records), ""]
    for label in analysed:
        rows = _rows(by_label[label], datasets)
        out += [f"## {label}: {_setting(by_label[label][0])}", ""]
        out += setting_tables(label, rows, refs, ref_models, list(variants))
        out += context_tables(label, rows, others)
    return [Table("window_position", "\n".join(out))]
