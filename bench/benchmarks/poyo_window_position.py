"""How much POYO loses to causal streaming: test R^2 against the readout's place in the window.

    python -m bench.benchmarks.poyo_window_position --preset h_co --epochs 60 --lr 5e-4
    python -m bench.benchmarks.poyo_window_position --preset t_co --session all \
        --out results/nhp/poyo_window_position.jsonl          # one line per session; resumes
    python -m bench.benchmarks.poyo_window_position --report results/nhp/poyo_window_position.jsonl \
        --write results/nhp/poyo_window_position.md           # table against the suite's MLP / GRU

Trains one POYO-SS on one simulated session (one thread, batch 16, flat-cosine schedule, every
epoch run and the best validation epoch kept), then
scores its test split four ways:

* ``causal``: the harness's streaming evaluation (``predict`` == ``step``): each output from the
  1 s window ending at its chunk, so the readout sits at the window's trailing edge;
* ``lookahead D``: the same windows shifted D seconds later, so D seconds of spikes follow each
  query (not causal; analysis only, :meth:`POYODecoder.predict_lookahead`);
* ``paper``: the POYO paper's evaluation, 1 s windows every 0.5 s with overlapping predictions
  averaged (most queries sit inside a window, with future spikes after them);
* ``train``: causal R^2 on the training split (is it under- or over-fitting?).

R^2 rising with the lookahead says the causal shortfall is the trailing-edge position, not the
model's capacity. ``--report`` puts each session beside the MLP and GRU of the same session and
seed in results/nhp/records (causal, the suite's records) and averages over sessions per preset.

A second question separates the trailing edge from a short window: every test trial is decoded
from a fresh stream, so a query less than ``context_s`` (1 s) after the trial start has a clipped
window, and on centre-out most scored queries (the reach) are. ``context`` (on by default;
``--no-context`` skips it) trains the MLP and GRU of suites/nhp.yaml on the same session and scores
all three models causally on the queries in the first second of a trial and on those after it,
and again from streams started ``context_s`` before each trial (``warm``: the same queries, with
the spikes before the trial as a running decoder would have them).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from bench import registry
from bench.results.provenance import finish_provenance, provenance
from bench.tasks.base import Segment
from bench.tasks.reaching import ReachingVelocity
from bench.training.config import TrainConfig

LOOKAHEADS = (0.05, 0.1, 0.25, 0.5)
COMPARED_MODELS = ("mlp", "gru")
BASELINE_SUITE = Path(__file__).resolve().parents[2] / "suites" / "nhp.yaml"
CONTEXT_KEYS = ("fresh", "fresh, clipped window", "fresh, full window", "warm")


def warm_segments(segments: Sequence[Segment], warm_s: float, chunk_s: float) -> list[Segment]:
    """The same queries, targets and mask, with the stream started ``warm_s`` earlier (whole chunks,
    so every query keeps its chunk; never before the recording's first sample)."""
    out = []
    for seg in segments:
        first = float(seg.recording.domain.start.min())
        n = min(round(warm_s / chunk_s), int(np.floor((seg.start - first) / chunk_s + 1e-9)))
        out.append(replace(seg, start=seg.start - max(n, 0) * chunk_s))
    return out


def queries_by_time_in_trial(segments: Sequence[Segment], before_s: float) -> tuple[list[Segment], list[Segment]]:
    """The segments with their scored queries split at ``before_s`` after the segment start."""
    early, late = [], []
    for seg in segments:
        is_early = seg.query_times - seg.start < before_s - 1e-9
        early.append(replace(seg, eval_mask=seg.eval_mask & is_early))
        late.append(replace(seg, eval_mask=seg.eval_mask & ~is_early))
    return early, late


def context_scores(model, task, test: Sequence[Segment], context_s: float, chunk_s: float,
                   preds: list | None = None) -> dict:
    """Causal test R^2 of a fitted model: whole split, first / after ``context_s`` of each trial
    (fresh streams; ``preds``: its causal predictions of ``test`` where already made), and from
    streams started ``context_s`` before each trial."""
    preds = model.predict(test) if preds is None else preds
    early, late = queries_by_time_in_trial(test, context_s)
    return {"fresh": task.score(test, preds)["r2"],
            "fresh, clipped window": task.score(early, preds)["r2"],
            "fresh, full window": task.score(late, preds)["r2"],
            "warm": task.score(test, model.predict(warm_segments(test, context_s, chunk_s)))["r2"]}


def baseline_context_scores(data, task, test: Sequence[Segment], context_s: float, seed: int) -> dict:
    """The MLP and GRU as suites/nhp.yaml configures them, trained on this session, scored by
    :func:`context_scores`."""
    from bench.suite.loader import load_suite

    suite = load_suite(BASELINE_SUITE)
    out = {}
    for name in COMPARED_MODELS:
        spec = next(m for m in suite.spec.models if m.name == name)
        model = registry.models.get(name)(suite.model_params(spec), seed=seed)
        model.fit([data], suite.train_config(spec), progress=False)
        out[name] = context_scores(model, task, test, context_s, data.chunk_s)
    return out


def window_position_scores(preset: str = "c_co_2016", session: int = 0, epochs: int = 60, lr: float = 5e-4,
                           params: dict | None = None, seed: int = 0, lookaheads: Sequence[float] = LOOKAHEADS,
                           context: bool = True, log=print) -> dict:
    """Train POYO-SS on one session and score it; returns the scores with the run's settings."""
    from bench.data.recording import load_recording
    from bench.data.simulator import SimulatorParams, SimulatorSource

    paths = SimulatorSource(SimulatorParams(preset=preset, scale="default")).materialize(progress=False)
    task = ReachingVelocity()
    data = task.prepare(load_recording(paths[session]), 0.05)
    cls = registry.models.get("poyo-ss")
    model = cls(cls.Params(**(params or {})), seed=seed)
    t0 = time.perf_counter()
    # every epoch runs (patience = epochs); the weights of the best validation epoch are kept
    report = model.fit([data], TrainConfig(epochs=epochs, batch_size=16, lr=lr, patience=epochs), progress=False)
    train_s = time.perf_counter() - t0
    train_segments, test = data.segments("train"), data.segments("test")
    causal = model.predict(test)
    scores = {"train": task.score(train_segments, model.predict(train_segments))["r2"],
              "causal": task.score(test, causal)["r2"]}
    for d in lookaheads:
        scores[f"lookahead {d:g} s"] = task.score(test, model.predict_lookahead(test, d))["r2"]
    contexts = None
    if context:
        contexts = {"poyo": context_scores(model, task, test, model.params.context_s, data.chunk_s, causal),
                    **baseline_context_scores(data, task, test, model.params.context_s, seed)}
    model.params = model.params.model_copy(update={"eval_mode": "paper"})
    scores["paper"] = task.score(test, model.predict(test))["r2"]
    log(f"{data.recording.recording_id}: POYO-SS {json.dumps(params or {})}, {epochs} epochs at lr {lr:g} "
        f"(best epoch {report['best_epoch']}, {train_s:.0f} s): "
        + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    row = {"preset": preset, "session": session, "recording_id": data.recording.recording_id, "seed": seed,
           "epochs": epochs, "lr": lr, "params": params or {}, "best_epoch": report["best_epoch"],
           "train_seconds": round(train_s, 1), "scores": scores}
    if contexts:
        log("  causal by window: " + "; ".join(
            f"{m} " + ", ".join(f"{k} {v:.3f}" for k, v in c.items()) for m, c in contexts.items()))
        row["context"] = contexts
    return row


def _setting(row: dict) -> tuple:
    """The training setting of a run: runs of different settings are never averaged together."""
    return (row["epochs"], row["lr"], json.dumps(row["params"], sort_keys=True))


def _run_key(row: dict) -> tuple:
    return (row["preset"], row["session"], row["seed"], *_setting(row))


def read_rows(path: Path) -> list[dict]:
    """The JSON-lines file of earlier runs (empty when absent)."""
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}, line {n}: not a JSON record ({exc.msg}); "
                                 "remove or repair the line and run again.") from None
    return rows


def session_indices(preset: str, spec: str) -> list[int]:
    """``all`` or comma-separated indices, checked against the preset's number of sessions."""
    from bench.data.simulator import PRESETS

    if preset not in PRESETS:
        raise SystemExit(f"--preset {preset!r}: unknown; expected one of {', '.join(sorted(PRESETS))}.")
    n = PRESETS[preset].n_sessions
    if spec == "all":
        return list(range(n))
    try:
        indices = [int(x) for x in spec.split(",")]
    except ValueError:
        raise SystemExit(f"--session {spec!r}: expected 'all' or comma-separated session indices.") from None
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise SystemExit(f"--session {spec!r}: preset {preset} has sessions 0..{n - 1}, not {bad}.")
    return indices


def compared_scores(records_dir: Path) -> dict[tuple[str, int, str], float]:
    """(model, seed, recording id) -> causal test R^2 from the suite's records; refuses records of
    two configurations of one model (stale ones) rather than picking one silently."""
    from bench.results.records import load_records

    out, hashes = {}, {}
    for rec in load_records(records_dir.parent) if records_dir.exists() else []:
        if rec.get("model") in COMPARED_MODELS and rec.get("trained", True):
            for sess in rec.get("sessions") or []:
                key = (rec["model"], rec["seed"], sess["recording_id"])
                if key in hashes and hashes[key] != rec.get("config_hash"):
                    raise SystemExit(f"{records_dir}: two {rec['model']} records (configurations {hashes[key]} "
                                     f"and {rec.get('config_hash')}) score {sess['recording_id']}, seed "
                                     f"{rec['seed']}; remove the stale one or pass --records of one suite run.")
                hashes[key] = rec.get("config_hash")
                out[key] = sess["metrics"]["r2"]
    return out


HEADER = """# POYO-SS against the MLP, by where the readout sits in the window

Made by `python -m bench.benchmarks.poyo_window_position --preset P --session all --out FILE`
(POYO-SS trained once per session: one thread, batch 16, flat-cosine schedule, the best validation
epoch kept) and tabled by `--report FILE --write THIS`. MLP and GRU: the same session and seed in
the suite's records ({records}), streamed causally. POYO columns: `causal` = the harness's
streaming evaluation (each output from the 1 s window ending at its chunk: the readout at the
window's trailing edge); `lookahead D` = the same windows shifted D s later (not causal; analysis
only); `paper` = the POYO paper's evaluation (1 s windows every 0.5 s, overlapping predictions
averaged); `train` = causal R^2 on the training split. All R^2 on the test split unless said.
"""


def _provenance_line(rows: list[dict]) -> str:
    prov = [r.get("provenance") or {} for r in rows]
    cpus = sorted({p.get("cpu", "?") for p in prov if p})
    torch_versions = sorted({(p.get("packages") or {}).get("torch", "?") for p in prov if p})
    threads = sorted({p.get("torch_threads", "?") for p in prov if p})
    commits = sorted({((p.get("git") or {}).get("commit") or "?")[:10] for p in prov if p})
    if not cpus:
        return "Machine: not recorded."
    return (f"Machine: {', '.join(cpus)}; torch {', '.join(torch_versions)}; torch threads per run "
            f"{', '.join(map(str, threads))}; commit(s) {', '.join(commits)}.")


def report(rows: list[dict], records_dir: Path) -> str:
    """Markdown: per training setting, one row per session (POYO-SS beside the suite's MLP / GRU),
    then means per preset and over all sessions run."""
    if not rows:
        return "No POYO runs recorded yet.\n"
    out = [HEADER.format(records=records_dir), _provenance_line(rows), ""]
    base = compared_scores(records_dir)
    settings: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        settings[_setting(row)].append(row)
    for (epochs, lr, params), group in sorted(settings.items()):
        out += [f"## POYO-SS, {epochs} epochs at lr {lr:g}, parameters {params}", ""]
        out += _setting_tables(group, base)
        with_context = [r for r in group if r.get("context")]
        if with_context:
            out += _context_tables(with_context)
    return "\n".join(out)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _diff(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a - b:+.3f}"


def _in_order(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["preset"], r["session"], r["seed"]))


def _preset_groups(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    """(preset, its runs) per preset in name order, then ("all", every run): the rows of a means table."""
    by_preset: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_preset[row["preset"]].append(row)
    return sorted(by_preset.items()) + [("all", [r for rs in by_preset.values() for r in rs])]


def _mean(vals) -> float | None:
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else None


CONTEXT_MODELS = ("mlp", "gru", "poyo")
CONTEXT_NOTE = """Fresh or warm streams: causal test R^2 of the MLP and GRU of suites/nhp.yaml (trained in the same
run on the same session and seed) and of the POYO-SS above. `fresh` = every test trial decoded
from a freshly reset decoder (the harness's rule), split into the queries whose 1 s window is
clipped by the trial start (`clipped`: less than 1 s into the trial) and the rest (`full`);
`warm` = the same queries from streams started 1 s before each trial.
"""


def _context_tables(rows: list[dict]) -> list[str]:
    cols = [(m, k) for k in CONTEXT_KEYS for m in CONTEXT_MODELS]
    short = {"fresh": "fresh", "fresh, clipped window": "clipped", "fresh, full window": "full", "warm": "warm"}
    head = ["preset", "session", "seed", *[f"{m.upper()} {short[k]}" for m, k in cols]]
    lines = [CONTEXT_NOTE, "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = _in_order(rows)
    for row in rows:
        lines.append("| " + " | ".join([row["preset"], row["recording_id"].split("/")[-1], str(row["seed"]),
                                         *(_fmt(row["context"][m].get(k)) for m, k in cols)]) + " |")
    gaps = [f"POYO - MLP {short[k]}" for k in CONTEXT_KEYS]
    mean_head = ["preset", "runs", *head[3:], *gaps]
    lines += ["", "Means:", "", "| " + " | ".join(mean_head) + " |", "|" + "---|" * len(mean_head)]
    for preset, rs in _preset_groups(rows):
        means = {(m, k): _mean(r["context"][m].get(k) for r in rs) for m, k in cols}
        diffs = [_diff(means[("poyo", k)], means[("mlp", k)]) for k in CONTEXT_KEYS]
        lines.append("| " + " | ".join([preset, str(len(rs)), *(_fmt(means[c]) for c in cols), *diffs]) + " |")
    return lines + [""]


def _setting_tables(rows: list[dict], base: dict) -> list[str]:
    score_keys = [k for k in rows[0]["scores"] if k != "train"] + ["train"]
    head = ["preset", "session", "seed", *[m.upper() for m in COMPARED_MODELS],
            *[f"POYO {k}" for k in score_keys], "best epoch", "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = [{**row, "ref": [base.get((m, row["seed"], row["recording_id"])) for m in COMPARED_MODELS]}
            for row in _in_order(rows)]
    for row in rows:
        ref = row["ref"]
        lines.append("| " + " | ".join([row["preset"], row["recording_id"].split("/")[-1], str(row["seed"]),
                                         *map(_fmt, ref), *(_fmt(row["scores"].get(k)) for k in score_keys),
                                         str(row["best_epoch"]), f"{row['train_seconds']:.0f}"]) + " |")
    mean_head = ["preset", "runs", *head[3:-2], "POYO causal - MLP", "POYO paper - MLP"]
    lines += ["", "Means over the runs above (MLP / GRU over the same sessions):", "",
              "| " + " | ".join(mean_head) + " |", "|" + "---|" * len(mean_head)]
    for preset, rs in _preset_groups(rows):
        refs = [_mean(r["ref"][i] for r in rs) for i in range(len(COMPARED_MODELS))]
        pos = [_mean(r["scores"].get(k) for r in rs) for k in score_keys]
        mlp, causal, paper = refs[0], pos[score_keys.index("causal")], pos[score_keys.index("paper")]
        lines.append("| " + " | ".join([preset, str(len(rs)), *map(_fmt, refs), *map(_fmt, pos),
                                         _diff(causal, mlp), _diff(paper, mlp)]) + " |")
    return lines + [""]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="c_co_2016")
    ap.add_argument("--session", default="0", help="'all' or comma-separated session indices of the preset")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default="{}", help='POYO-SS parameters as JSON, e.g. \'{"edge_weight": 4}\'')
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-context", action="store_true",
                    help="skip the fresh / warm stream scores of POYO, MLP and GRU (saves training the baselines)")
    ap.add_argument("--out", type=Path, help="append one JSON line per session run; runs already there are skipped")
    ap.add_argument("--report", type=Path, metavar="JSONL", help="print the table of a --out file and exit")
    ap.add_argument("--records", type=Path, default=Path("results/nhp/records"),
                    help="suite records holding the MLP / GRU to compare with")
    ap.add_argument("--write", type=Path, help="with --report: also write the table to this file")
    a = ap.parse_args(argv)
    if a.report:
        if not a.report.exists():
            raise SystemExit(f"--report {a.report}: no such file; make it with --out.")
        table = report(read_rows(a.report), a.records)
        print(table, end="")
        if a.write:
            a.write.write_text(table)
        return 0
    try:
        params = json.loads(a.params)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--params {a.params!r}: not JSON ({exc.msg}); expected e.g. '{{\"edge_weight\": 4}}'.")
    torch.set_num_threads(a.threads)
    done = {_run_key(r) for r in read_rows(a.out)} if a.out else set()
    for session in session_indices(a.preset, a.session):
        key = _run_key({"preset": a.preset, "session": session, "seed": a.seed, "epochs": a.epochs,
                        "lr": a.lr, "params": params})
        if key in done:
            print(f"{a.preset} session {session}: already in {a.out}, skipped")
            continue
        started = provenance("cpu")
        row = window_position_scores(a.preset, session, a.epochs, a.lr, params, a.seed, context=not a.no_context)
        if a.out:
            row["provenance"] = finish_provenance(started)
            with a.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
