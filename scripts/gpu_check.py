"""GPU check: train the GPU-bound decoders briefly and time every decoder's step on CUDA, in 8 minutes.

    python scripts/gpu_check.py                      # on a machine with one CUDA GPU
    python scripts/gpu_check.py --dry-run            # the same path on CPU, tiny configuration

Three parts, each in its own process under its own time budget (so a hang, a CUDA error or an
out-of-memory in one part ends that part only), each writing what finished:

1. train: POYO-SS, NDT-2 and POSSM-GRU for a few epochs on one simulated session
   (c_co_2016/c_20161004) through the suite runner, so records are written (run folder
   ``<out>/gpu_train``) with their test R^2, learning curve fields and CUDA latency;
2. latency: per-chunk latency at batch 1 of every registered decoder that can decode the
   reaching task, CPU and CUDA, the device synchronised before and after each step (the
   latency protocol, models fitted one epoch on the suite's device; one process per model, so
   they are not interleaved as in ``bench latency``; run folder ``<out>/gpu``);
3. graphs: for each decoder (one process each), whether its whole streaming ``step`` can be
   captured as a CUDA graph, and if so the replay latency of the captured step; where not, the
   reason capture failed (``<out>/gpu_graphs/<decoder>.json``).

``<out>/gpu.md`` (default results/latency/gpu.md) is rewritten after each part. On a machine without
CUDA the script stops with a clear message unless ``--device cpu`` or ``--dry-run`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAIN_MODELS = ("poyo-ss", "ndt2", "possm-gru")
DATASET = {"name": "c_co_2016", "source": "simulator", "params": {"preset": "c_co_2016", "scale": "default"},
           "sessions": [0]}
# Tiny sizes for --dry-run (CPU): the same code path, seconds instead of minutes.
DRY_DATASET = {"name": "c_co_tiny", "source": "simulator",
               "params": {"preset": "c_co_2016", "n_sessions": 1, "n_trials": 24, "n_neurons": 20}, "sessions": [0]}
DRY_PARAMS = {
    "poyo-ss": {"dim": 16, "depth": 1, "dim_head": 8, "cross_heads": 1, "self_heads": 2, "latents_per_step": 2,
                "ff_mult": 1},
    "poyo-mp": {"dim": 16, "depth": 1, "dim_head": 8, "cross_heads": 1, "self_heads": 2, "latents_per_step": 2,
                "ff_mult": 1},
    "ndt2": {"dim": 32, "heads": 2, "layers": 1, "decoder_layers": 1, "ffn_dim": 64, "patch_size": 8},
    "possm-gru": {"dim": 16, "hidden": 16},
}
# Default budgets in seconds (GPU): the whole script stays within 8 minutes with margin.
BUDGETS = {"train": 170.0, "latency": 190.0, "graphs": 90.0}
GRAPH_REPLAYS = 200
# What this script writes under --out, and all that --fresh deletes.
OUTPUTS = ("gpu", "gpu_train", "gpu_graphs", "gpu_logs", "gpu_suites", "gpu.md")


class CheckError(Exception):
    """A user mistake (no CUDA device, a bad option): one paragraph, exit status 2."""


# ----------------------------------------------------------------------------- suites

def train_suite(dry: bool, device: str, epochs: int, minutes: float, models: list[str]) -> dict:
    return {
        "name": "gpu_train", "description": "GPU check: a few epochs of the GPU-bound decoders on one session.",
        "task": "reaching_velocity", "chunk_ms": 50, "seeds": [0], "device": device,
        "train": {"epochs": epochs, "batch_size": 16, "max_minutes": minutes},
        "latency": {"threads": 1, "warmup": 5 if dry else 20, "n_chunks": 20 if dry else 200, "cuda": True},
        "datasets": [DRY_DATASET if dry else DATASET],
        "models": [_model(m, dry) for m in models],
    }


def latency_suite(dry: bool, device: str, models: list[str]) -> dict:
    return {
        "name": "gpu_latency", "description": "GPU check: per-chunk latency of every decoder, CPU and CUDA.",
        "task": "reaching_velocity", "chunk_ms": 50, "seeds": [0], "device": device,
        "protocol": {"name": "latency", "params": {"rounds": 1 if dry else 3}},
        "train": {"epochs": 1, "batch_size": 16},
        "latency": {"threads": 1, "warmup": 3 if dry else 30, "n_chunks": 10 if dry else 300, "budget_ms": 10.0,
                    "cuda": True},
        "datasets": [DRY_DATASET if dry else DATASET],
        "models": [_model(m, dry) for m in models],
    }


def _model(name: str, dry: bool) -> dict:
    """A suite model entry; the suite's device (cuda, or cpu for the dry run) trains it, so no
    ``needs_gpu`` flag is needed."""
    return {"name": name, "params": DRY_PARAMS[name]} if dry and name in DRY_PARAMS else {"name": name}


def reaching_decoders(names: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Those of ``names`` (default: every registered decoder) the reaching suite accepts, and why the
    others are left out; a name that is not registered is a CheckError."""
    import tempfile

    from bench import registry
    from bench.errors import BenchError
    from bench.suite.loader import load_suite

    registered = registry.models.names()
    unknown = sorted(set(names or []) - set(registered))
    if unknown:
        raise CheckError(f"{unknown}: no such decoder; registered: {', '.join(registered)}.")
    ok, skipped = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or registered:
            path = Path(tmp) / f"check_{len(ok) + len(skipped)}.yaml"
            path.write_text(yaml.safe_dump(latency_suite(True, "cpu", [name])))
            try:
                load_suite(path)
            except BenchError as exc:
                why = str(exc).split(": ", 1)[-1]  # without the temporary suite file's name
                skipped[name] = why if len(why) <= 200 else why[:197] + "..."
            else:
                ok.append(name)
    return ok, skipped


# ----------------------------------------------------------------------------- parts

def run_part(cmd: list[str], timeout: float, log: Path) -> dict:
    """Run one part's command with a deadline; its output goes to ``log``. Never raises on the
    command's failure or hang: the outcome is returned for the report. Under a second left: not
    started."""
    if timeout < 1.0:
        return {"status": "not started (budget spent)", "seconds": 0.0, "log": str(log)}
    t0 = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
            status = "finished" if rc == 0 else f"failed (exit {rc})"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the part's own process group: it and its children
            proc.wait()
            status = f"stopped at its budget of {timeout:.0f} s"
    return {"status": status, "seconds": time.perf_counter() - t0, "log": str(log)}


def write_suite(folder: Path, spec: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def graphs_part(suite_path: Path, device: str, model_name: str, out_json: Path, cache_dir: str | None) -> None:
    """Set up one decoder of the latency suite (weights do not change what a step launches, so it is
    initialised untrained where it can be, else fitted), then try to capture its streaming step as a
    CUDA graph; the outcome goes to ``out_json``. One process per decoder: a failed capture can
    leave the CUDA context unusable for whatever comes after it."""
    from bench.models.base import chunk_segment
    from bench.protocols import RunContext
    from bench.protocols.common import new_model
    from bench.suite.execute import DatasetCache
    from bench.suite.loader import load_suite
    from bench.suite.plan import plan_runs

    suite = load_suite(suite_path)
    run = next(r for r in plan_runs(suite) if r.model.display == model_name)
    cache = DatasetCache(suite, Path(cache_dir) if cache_dir else None, progress=False)
    ctx = RunContext(suite, cache, device, False, suite.protocol_params())
    data = cache.task_data(run.dataset)[0]
    chunks = [c for seg in data.segments("test") for c in chunk_segment(seg, data.chunk_s)]
    model = new_model(run, ctx)
    try:
        model.initialise([data])
    except NotImplementedError:
        model.fit([data], suite.train_config(run.model), progress=False)
    if device != "cuda":
        result = {"captured": False, "reason": "not tried: CUDA graphs need a CUDA device (dry run)"}
    else:
        result = capture_step(model, data, max(chunks, key=lambda c: len(c.spike_times)))
    _atomic_write(out_json, json.dumps(result, indent=1))


def capture_step(model, data, chunk) -> dict:
    """Capture ``model.step(chunk)`` in a CUDA graph and time its replays (device synchronised
    around each); the reason when the step cannot be captured (host copies, ``.cpu()`` / numpy
    results and data-dependent shapes all forbid capture)."""
    import numpy as np
    import torch

    if not model.to("cuda"):
        return {"captured": False, "reason": "the decoder does not run on CUDA (model.to('cuda') is False)"}
    model.reset(data.recording)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), torch.cuda.stream(side):
        for _ in range(3):  # warm-up off the default stream, as capture requires
            model.step(chunk)
    torch.cuda.current_stream().wait_stream(side)
    graph, inside = torch.cuda.CUDAGraph(), None
    try:
        with torch.inference_mode(), torch.cuda.graph(graph):
            try:
                model.step(chunk)
            except Exception as exc:  # noqa: BLE001 - the step's own reason, before capture_end adds its own
                inside = exc
    except Exception as exc:  # noqa: BLE001 - any capture failure is the finding
        inside = inside or exc
    if inside is not None:
        first = (str(inside).strip().splitlines() or [""])[0][:240]
        return {"captured": False, "reason": f"capture failed: {type(inside).__name__}: {first}"}
    times = np.empty(GRAPH_REPLAYS)
    for i in range(GRAPH_REPLAYS):
        torch.cuda.synchronize()
        t0 = time.perf_counter_ns()
        graph.replay()
        torch.cuda.synchronize()
        times[i] = (time.perf_counter_ns() - t0) / 1e6
    return {"captured": True, "replays": GRAPH_REPLAYS, "median_ms": float(np.median(times)),
            "p99_ms": float(np.percentile(times, 99)), "note": "replay of one captured step on a fixed chunk"}


# ----------------------------------------------------------------------------- report

def _records(folder: Path) -> tuple[list, str]:
    """The run folder's records, or none and the reason in a line for the report."""
    from bench.errors import BenchError
    from bench.results.records import load_records

    try:
        return load_records(folder), ""
    except BenchError as exc:
        return [], f"_Records of {folder.name} unreadable: {exc}_"


def render_report(out: Path, parts: dict[str, dict], skipped: dict[str, str], device: str, dry: bool,
                  kept: int = 0) -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    lines = ["# GPU check" + (" (dry run on CPU: tiny configuration, figures meaningless)" if dry else ""), "",
             f"Made by `python scripts/gpu_check.py{' --dry-run' if dry else ''}`; device {device}; GPU: {gpu}; "
             f"torch {torch.__version__}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    if kept:
        lines += [f"Resumed: {kept} record(s) of an earlier run in this folder were kept, not remeasured (their "
                  "provenance names the machine); `--fresh` starts over.", ""]
    lines += ["## Parts", "", "| part | outcome | seconds | log |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['status']} | {v['seconds']:.0f} | {Path(v['log']).relative_to(out)} |" for k, v in parts.items()]
    lines += ["", "## Training (a few epochs, one session; records in gpu_train/records)", ""]
    train, why = _records(out / "gpu_train")
    if train:
        lines += ["| model | device | trained | test R^2 | epochs run | best epoch | train s | CUDA ms/chunk |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in train:
            fit = r.sessions[0].fit if r.sessions else {}
            score = f"{r.summary.mean:.3f}" if r.summary and r.summary.mean is not None else r.status
            cuda = r.latency.get("cuda", {}).get("median_ms")
            lines.append(f"| {r.label} | {r.config.get('device')} | {r.trained} | {score} | {fit.get('epochs_run', '—')} | "
                         f"{fit.get('best_epoch', '—')} | {r.train_seconds:.1f} | {'—' if cuda is None else f'{cuda:.3f}'} |")
    else:
        lines.append(why or "_No training record was written._")
    lines += ["", "## Per-chunk latency at batch 1 (device synchronised around each step; records in gpu/records)", ""]
    lat, why = _records(out / "gpu")
    if lat:
        lines += ["| model | params | CPU median ms | CUDA median ms | CUDA p99 ms | CUDA share over 10 ms |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(lat, key=lambda r: r.n_parameters):
            cpu, cuda = r.latency.get("cpu", {}), r.latency.get("cuda", {})
            f = lambda d, k: "—" if k not in d else f"{d[k]:.3f}"  # noqa: E731
            lines.append(f"| {r.label} | {r.n_parameters:,} | {f(cpu, 'median_ms')} | {f(cuda, 'median_ms')} | "
                         f"{f(cuda, 'p99_ms')} | {f(cuda, 'over_budget_fraction')} |")
    else:
        lines.append(why or "_No latency record was written._")
    if skipped:
        lines += ["", "Not timed (not decoders of the reaching task at 50 ms chunks): " +
                  "; ".join(f"{k} ({v})" for k, v in sorted(skipped.items()))]
    lines += ["", "## CUDA graphs (whole streaming step captured once, then replayed)", ""]
    graphs = {p.stem: json.loads(p.read_text()) for p in sorted((out / "gpu_graphs").glob("*.json"))}
    if graphs:
        lines += ["| model | captured | replay median ms | why not |", "|---|---|---|---|"]
        for name, g in graphs.items():
            replay = f"{g['median_ms']:.3f}" if g.get("captured") else "—"
            lines.append(f"| {name} | {g['captured']} | {replay} | {g.get('reason', '').replace('|', '/')} |")
    else:
        lines.append("_No graph result was written._")
    lines += ["", "A step takes numpy spikes and returns numpy outputs, so its host-device copies are part of it; a "
              "capture fails where the step synchronises with the host. Figures from an unverified run carry no "
              "weight until a GPU run rewrites this file."]
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    from bench.results.records import atomic_write_text

    atomic_write_text(path, text)


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/gpu_check.py", description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: exercise the path without a GPU")
    p.add_argument("--dry-run", action="store_true", help="tiny configuration on CPU (what the tests run)")
    p.add_argument("--out", default=None, help="folder for gpu.md and the run folders (default results/latency; "
                   "dry run: runs/gpu_check_dry)")
    p.add_argument("--budget-s", type=float, default=None, help="seconds for all parts together (default 450)")
    p.add_argument("--models", nargs="+", default=None, help="only these decoders in the latency and graph parts")
    p.add_argument("--train-models", nargs="+", default=list(TRAIN_MODELS),
                   help=f"decoders of the training part (default {' '.join(TRAIN_MODELS)})")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 5; dry run 1)")
    p.add_argument("--cache-dir", default=None, help="where the simulated session is cached")
    p.add_argument("--fresh", action="store_true", help="delete this script's earlier outputs in --out first (gpu/, "
                   "gpu_train/, gpu_graphs/, gpu_logs/, gpu_suites/, gpu.md); without it a rerun resumes, keeping "
                   "the records an earlier run of the same settings wrote")
    p.add_argument("--graphs-part", nargs=3, metavar=("SUITE", "MODEL", "JSON"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        return _main(args)
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main(args) -> int:
    import torch

    device = "cpu" if args.dry_run else args.device
    if args.graphs_part:
        suite, model, out_json = args.graphs_part
        graphs_part(Path(suite), device, model, Path(out_json), args.cache_dir)
        return 0
    if device == "cuda" and not torch.cuda.is_available():
        raise CheckError("No CUDA device is visible (torch.cuda.is_available() is False), so the GPU check cannot run "
                         "here. Run it on a machine with one NVIDIA GPU and a CUDA build of torch, or exercise the same "
                         "path on CPU with --dry-run (tiny) or --device cpu.")
    dry = args.dry_run
    budget = args.budget_s if args.budget_s is not None else 450.0
    if budget <= 0:
        raise CheckError(f"--budget-s must be positive seconds, got {budget}.")
    out = Path(args.out) if args.out else ROOT / ("runs/gpu_check_dry" if dry else "results/latency")
    if out.exists() and not out.is_dir():
        raise CheckError(f"--out {out} is a file; give a folder.")
    scale = budget / sum(BUDGETS.values())
    start = time.time()
    deadline = start + budget
    epochs = args.epochs or (1 if dry else 5)
    wanted = None if args.models is None else list(dict.fromkeys(args.models + args.train_models))
    decoders, skipped = reaching_decoders(wanted)
    for option, chosen in (("--models", args.models or []), ("--train-models", args.train_models)):
        bad = sorted(set(chosen) & set(skipped))
        if bad:
            raise CheckError(f"{option} {bad}: not decoders of the reaching task at 50 ms chunks "
                             f"({'; '.join(skipped[m] for m in bad)}).")
    if args.models:
        decoders = [m for m in decoders if m in args.models]
    if args.fresh:
        for name in OUTPUTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    kept = sum(1 for name in ("gpu", "gpu_train") for _ in (out / name / "records").glob("*.json"))
    out.mkdir(parents=True, exist_ok=True)  # only once every option is known to be usable
    suites = out / "gpu_suites"
    parts: dict[str, dict] = {}
    py = sys.executable
    common = ["--no-progress"] + (["--cache-dir", args.cache_dir] if args.cache_dir else [])

    def report() -> None:
        _atomic_write(out / "gpu.md", render_report(out, parts, skipped, device, dry, kept))

    # 1. training through the suite runner; each model's training is capped by max_minutes
    part_s = BUDGETS["train"] * scale
    minutes = max(0.05, part_s / len(args.train_models) / 60 * 0.8)
    train = write_suite(suites, train_suite(dry, device, epochs, minutes, args.train_models))
    parts["train"] = run_part([py, "-m", "bench", "run", str(train), "--out", str(out / "gpu_train"), "--jobs", "1",
                               "--no-track", *common], min(part_s, deadline - time.time()), out / "gpu_logs" / "train.log")
    report()
    # 2. latency and 3. CUDA graphs: one process per decoder, so one failure or hang costs that decoder only
    lat_suite = write_suite(suites, latency_suite(dry, device, decoders))
    graph_dir = out / "gpu_graphs"
    graph_dir.mkdir(exist_ok=True)
    per_model = {
        "latency": lambda name: [py, "-m", "bench", "run", str(lat_suite), "--out", str(out / "gpu"), "--models", name,
                                 "--jobs", "1", "--no-track", *common],
        "graphs": lambda name: [py, str(Path(__file__).resolve()), "--device", device, *(["--dry-run"] if dry else []),
                                *(["--cache-dir", args.cache_dir] if args.cache_dir else []),
                                "--graphs-part", str(lat_suite), name, str(graph_dir / f"{name}.json")],
    }
    written = {
        "latency": lambda name: any((out / "gpu" / "records").glob(f"{name}__*.json")),
        "graphs": lambda name: (graph_dir / f"{name}.json").exists(),
    }
    for part, command in per_model.items():
        part_end = min(time.time() + BUDGETS[part] * scale, deadline)
        done, failed, t0 = 0, [], time.perf_counter()
        for i, name in enumerate(decoders):
            left = part_end - time.time()
            share = max(left / (len(decoders) - i), min(left, 30.0))  # at least 30 s each while time lasts
            got = run_part(command(name), share, out / "gpu_logs" / f"{part}.log")
            if got["status"] == "finished" or written[part](name):  # a process cut after its result still counts
                done += 1
                if got["status"] != "finished":
                    failed.append(f"{name}: result written, then {got['status']}")
            else:
                failed.append(f"{name}: {got['status']}")
                if part == "graphs":
                    _atomic_write(graph_dir / f"{name}.json", json.dumps({"captured": False, "reason": got["status"]}))
        parts[part] = {"status": f"{done} of {len(decoders)} decoders" + (f"; {'; '.join(failed)}" if failed else ""),
                       "seconds": time.perf_counter() - t0, "log": str(out / "gpu_logs" / f"{part}.log")}
        report()
    print(f"wrote {out / 'gpu.md'} ({time.time() - start:.0f} s)")
    print((out / "gpu.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
