"""Run accepted suite mutants on a tiny budget, cheaply and resumably: the acceptance "every accepted
suite runs without a crash" needs every one of ~800 mutants run, not a sample.

Each mutant keeps its own structure (its models with their parameters, its protocol and protocol
parameters, its datasets' sources and fields) and is shrunk only where the budget goes: 1 epoch
(epoch budgets capped at 2), one seed, one tiny session per simulated dataset, 10 latency chunks,
protocol rounds capped at 2, one job. Relative paths (import folders, leaderboard, reference
folders) are anchored at suites/, as they would be for the committed file.

Every mutant runs in a child forked from a process that has already imported the harness and
torch (a fresh ``python -m bench`` pays ~2-10 s of imports per mutant), with its own process
group so that a hang is killed whole. The outcome of each mutant is one line of a JSONL log,
written as soon as it is known, so a campaign cut short resumes where it stopped.

With ``runs_root``, the mutants of one committed suite share a run folder, so a run whose identity
(its key: every non-default setting and version) an earlier mutant already recorded is resumed by
`bench run` itself rather than trained again: each mutant still loads, plans, runs what is new in it
and rebuilds the tables of all its runs, at a fraction of the cost. Without it every run is fresh.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
# relative paths of a mutant are anchored here; BENCH_FUZZ_SUITES_DIR when the campaign runs from a
# copy of the tree (whose ../../shared does not exist)
SUITES_DIR = Path(os.environ.get("BENCH_FUZZ_SUITES_DIR", ROOT / "suites"))
TINY_TRAIN = {"epochs": 1, "max_minutes": 0.5}
SIMULATOR_SHRINK: dict[str, dict[str, Any]] = {
    "simulator": {"n_sessions": 1, "n_trials": 12, "n_neurons": 12},
    "handwriting_simulator": {"n_sessions": 1, "trials_per_character": 3},
    "speech_simulator": {"n_days": 1, "n_blocks": 3, "trials_per_block": 3},
}
CAPS = {"n_electrodes": 16}  # a data size the simulator would otherwise keep (192 electrodes)
# Model sizes a tiny run gives the parameters a mutant leaves unset (a parameter it sets is kept):
# a POYO of depth 6 scored untrained on CPU alone costs minutes per run.
TINY_SIZES = {"hidden": 16, "embed_dim": 8, "layers": 1, "d_state": 8, "dim": 32, "dim_head": 8, "depth": 1,
              "heads": 2, "self_heads": 2, "cross_heads": 1, "enc_heads": 1, "dec_heads": 1, "decoder_layers": 1,
              "ffn_dim": 32, "latents_per_step": 4}
PATH_FIELDS = ("path", "folder", "root")


def _anchored(value: Any) -> Any:
    """A relative path string as the committed suite would resolve it (relative to suites/)."""
    if isinstance(value, str) and value and not Path(value).is_absolute():
        return str(SUITES_DIR / value)
    return value


def _tiny_train(train: dict) -> dict:
    """A train section on 1 epoch; epoch counts it sets that must not exceed the epochs capped too."""
    return {**train, **TINY_TRAIN, **{k: _capped(train[k], 1) for k in ("min_epochs", "warmup_epochs") if k in train}}


def _capped(value: Any, cap: int) -> Any:
    """Large numbers down to ``cap``; odd values (negative, zero, other types) kept for the run to judge."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return min(value, cap)


def _tiny_model_params(model: dict) -> None:
    """Fill the size parameters ``model`` leaves unset with :data:`TINY_SIZES` (those its class has)."""
    from bench import registry

    params = model.get("params") if isinstance(model.get("params"), dict) else {}
    fields = getattr(registry.models.base(model["name"]), "Params", None)
    known = fields.model_fields if fields is not None else {}
    model["params"] = {**{k: v for k, v in TINY_SIZES.items() if k in known}, **params}


def tiny_suite(raw: dict, sizes: bool = True) -> dict:
    """The accepted mutant ``raw`` (parsed YAML) on a tiny budget, its structure kept (module doc);
    ``sizes``: also small models (:data:`TINY_SIZES`)."""
    raw = copy.deepcopy(raw)
    raw["train"] = _tiny_train(raw.get("train") or {})
    raw["latency"] = {**(raw.get("latency") or {}), "n_chunks": 10, "warmup": 1}
    raw["seeds"] = (raw.get("seeds") or [0])[:1]
    raw["jobs"] = 1
    if isinstance(raw.get("leaderboard"), str):
        raw["leaderboard"] = _anchored(raw["leaderboard"])
    protocol = raw.get("protocol")
    if isinstance(protocol, str):  # `protocol: NAME` is short for {name: NAME}
        protocol = raw["protocol"] = {"name": protocol}
    if isinstance(protocol, dict):
        params = protocol.get("params") or {}
        if protocol.get("name") == "learning_curve" and "epochs" not in params:
            params["epochs"] = [1, 2]  # its default budgets are 20, 60 and 150 epochs
        protocol["params"] = params
        if isinstance(params.get("epochs"), list):
            params["epochs"] = [_capped(e, 2) for e in params["epochs"]]
        if "rounds" in params:
            params["rounds"] = _capped(params["rounds"], 2)
        for ref in (params.get("checkpoints") or {}).values() if isinstance(params.get("checkpoints"), dict) else ():
            if isinstance(ref, dict):  # {pretrain_suite: FILE, run_folder: DIR}: relative to the suite file
                for key in ("pretrain_suite", "run_folder"):
                    if isinstance(ref.get(key), str):
                        ref[key] = _anchored(ref[key])
        report = protocol.get("report") or {}
        if isinstance(report.get("reference"), str):
            report["reference"] = _anchored(report["reference"])
    for m in raw.get("models") or []:
        if isinstance(m, dict) and isinstance(m.get("train"), dict):
            m["train"] = _tiny_train(m["train"])
        if sizes and isinstance(m, dict):
            _tiny_model_params(m)
    for ds in raw.get("datasets") or []:
        if not isinstance(ds, dict):
            continue
        params = ds.get("params") if isinstance(ds.get("params"), dict) else {}
        if ds.get("source") in SIMULATOR_SHRINK:
            params = {**params, **SIMULATOR_SHRINK[ds["source"]]}
            ds.pop("sessions", None)
        for key, cap in CAPS.items():
            if key in params:
                params[key] = _capped(params[key], cap)
            elif ds.get("source") == "handwriting_simulator":
                params[key] = cap
        for key in PATH_FIELDS:
            if key in params:
                params[key] = _anchored(params[key])
        ds["params"] = params
    return raw


def write_tiny_suite(raw: dict, path: Path) -> bool:
    """Write :func:`tiny_suite` of ``raw`` to ``path``; when the small model sizes make it invalid (they
    clash with a size the mutant set, e.g. a dim that must be a multiple of its patch size), write it
    with the models' own sizes instead, so the run judges the mutant, not the harness. Returns
    whether the small sizes were kept."""
    from bench.errors import BenchError
    from bench.suite.loader import load_suite
    from bench.suite.plan import plan_runs

    path.write_text(yaml.safe_dump(tiny_suite(raw), sort_keys=False))
    try:
        plan_runs(load_suite(path))
        return True
    except BenchError:
        path.write_text(yaml.safe_dump(tiny_suite(raw, sizes=False), sort_keys=False))
        return False


def _child(argv: list[str], workdir: Path) -> None:
    """In the forked child: `bench <argv>` with its output in files; never returns."""
    os.setsid()
    rc = 1
    try:
        out = os.open(workdir / "stdout.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        err = os.open(workdir / "stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(err, 2)
        from bench.cli import main

        rc = main(argv)
    except BaseException:  # noqa: BLE001 - the point: anything that escapes the CLI is a crash
        traceback.print_exc()
        rc = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)


def run_tiny(data: bytes, workdir: Path, timeout: float, out: Path | None = None) -> tuple[str, str]:
    """Run the accepted mutant ``data`` shrunk by :func:`tiny_suite`: ('ok' | 'error' | 'crash' |
    'hang', detail). 'error' is exit 2 with a one-paragraph message; any traceback is a crash."""
    path = workdir / "tiny.yaml"
    write_tiny_suite(yaml.safe_load(data.decode()), path)
    argv = ["run", str(path), "--out", str(out or workdir / "run"), "--no-progress", "--no-track",
            "--cache-dir", os.environ.get("BENCH_FUZZ_CACHE", str(workdir / "cache"))]
    pid = os.fork()
    if pid == 0:
        _child(argv, workdir)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "hang", f"over {timeout:.0f} s"
        time.sleep(0.05)
    stderr = (workdir / "stderr.txt").read_text(errors="replace")
    rc = os.waitstatus_to_exitcode(status)
    if rc == 0:
        return "ok", ""
    if rc == 2 and "Traceback" not in stderr:
        return "error", stderr.strip()[-400:]
    return "crash", f"exit {rc}: {stderr[-3000:]}"


def read_log(log: Path) -> list[dict]:
    """Lines of a campaign log; a last line cut short by a kill is ignored."""
    if not log.is_file():
        return []
    rows = []
    for line in log.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def append_log(log: Path, row: dict) -> None:
    with open(log, "a") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def run_campaign(mutants: dict[int, tuple[bytes, str, str]], log: Path, limit: int, timeout: float,
                 runs_root: Path | None = None) -> int:
    """Run the mutants ``{index: (bytes, description, source suite)}`` not yet in ``log``, at most
    ``limit`` of them; with ``runs_root``, one run folder per source suite (module doc). Returns how
    many were run."""
    done = {row["k"] for row in read_log(log) if row.get("phase") == "run"}
    todo = [k for k in sorted(mutants) if k not in done][:limit]
    for k in todo:
        data, note, source = mutants[k]
        workdir = Path(tempfile.mkdtemp(prefix="fuzzsuite-"))
        t0 = time.perf_counter()
        try:
            kind, detail = run_tiny(data, workdir, timeout, runs_root / source if runs_root else None)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        append_log(log, {"phase": "run", "k": k, "kind": kind, "seconds": round(time.perf_counter() - t0, 2),
                         "mutant": note, "detail": detail})
        print(f"mutant {k}: {kind} {time.perf_counter() - t0:.1f} s {detail[-300:] if kind != 'ok' else ''}",
              flush=True)
    return len(todo)


def reason(message: str) -> str:
    """An error message reduced to its kind, for grouping: the file, paths, the offending value
    ("got ...") and numbers masked, the field name kept."""
    text = re.sub(r"^error: (Suite file \S+: )?", "", message)
    text = re.sub(r"\s*\(got .*", "", text)
    text = re.sub(r"(?<![\w'])/[^\s']+", "PATH", text)
    text = re.sub(r"\[\d+\]", "[i]", text)
    text = re.sub(r"\d+", "N", text)
    return text[:100].strip()


def summary(log: Path) -> dict:
    """Counts of the runs in ``log`` by outcome, and the clean errors grouped by reason."""
    rows = {row["k"]: row for row in read_log(log) if row.get("phase") == "run"}  # a rerun's last line wins
    kinds = Counter(row["kind"] for row in rows.values())
    reasons = Counter(reason(row["detail"]) for row in rows.values() if row["kind"] == "error")
    slowest = max((row["seconds"] for row in rows.values()), default=0.0)
    return {"ran": len(rows), **{k: kinds.get(k, 0) for k in ("ok", "error", "crash", "hang")},
            "slowest_s": slowest, "total_s": round(sum(row["seconds"] for row in rows.values()), 1),
            "error_reasons": dict(reasons.most_common()),
            "crashes": [row["k"] for row in rows.values() if row["kind"] in ("crash", "hang")]}


def warm_up_runs() -> None:
    """Import what a run imports (torch, every model, task and data source) once, before forking."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    import bench.cli  # noqa: F401
    import bench.suite.schedule  # noqa: F401
    from bench import registry

    torch.set_num_threads(1)
    for table in (registry.models, registry.tasks, registry.data_sources):
        list(table.items())
