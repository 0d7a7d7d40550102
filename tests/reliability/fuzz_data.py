"""Fuzzing of recordings and imports: mutate a valid input once, and the outcome must be a valid
recording (that a task can prepare) or the project's own error, within a time bound.

Used by the property test ``test_data_fuzz.py`` (hypothesis draws the case's parameters) and run
as a script for a longer campaign (random parameters from a seed)::

    OMP_NUM_THREADS=1 .venv/bin/python -m tests.reliability.fuzz_data --n 1000 [--seed 0] [--show 5]

which prints how many cases gave a valid recording, a clean error, a traceback (any exception that
is not a BenchError) or a hang (over ``--timeout`` s, default 10), and how many worker processes
crashed (the cases run in workers of ``--chunk`` cases, so a segfault or an out-of-memory kill is
counted and named, and the campaign goes on); it exits 1 unless all three are 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import h5py
import numpy as np
import pandas  # noqa: F401
import pynwb  # noqa: F401
import scipy.io

# pandas, pynwb and scipy.io (imported lazily by the readers) are imported here, before any case arms its
# alarm: an alarm that fires while a C extension initialises (a slow import on a busy machine)
# leaves it half-initialised, and later cases then fail to import it or segfault in it.

from bench.data.importers import import_from_spec
from bench.data.storage import load_recording, save_recording
from bench.data.views import binned_counts, feature_between
from bench.errors import BenchError
from bench.tasks.reaching import ReachingVelocity

ARRAY_OPS = (
    "none", "nan", "inf", "-inf", "neg", "huge", "tiny", "float", "int", "complex", "text", "object", "empty",
    "truncate", "reverse", "shuffle", "2d", "scalar", "delete", "bool", "const", "transpose",
)
FILE_OPS = ("flip_bytes", "truncate_file", "random_file", "empty_file")
H5_OPS = ARRAY_OPS + ("delete_group", "attr") + FILE_OPS
# values an HDF5 attribute (bin_s, kind, sampling_rate, session.id, object, ...) is set to by "attr"
ATTR_VALUES = (float("nan"), -1.0, 0.0, 1e300, 1e-300, "x", "", "../../x", np.array([1.0, 2.0]), 10**18, "continuous")
LAYOUTS = ("continuous_npz", "trials_npz", "spikes_npz", "continuous_csv", "spikes_csv", "continuous_mat", "trials_mat",
           "spikes_mat", "continuous_mat73")
NWB_OPS = ARRAY_OPS + ("attr",) + FILE_OPS
SPEC_VALUES = (
    None, -1, 0, 1e-300, 1e300, float("nan"), float("inf"), 10**30, "x", "../../x", "/abs/x", [], {}, True,
    "0:5", "*", 3, 0.02, -0.5, "train", [0, 1], {"counts": "nope"},
)
SPEC_FIELDS = (
    "bin_size_s", "layout", "format", "fields", "transpose_counts", "behaviour_kind", "label_offset", "seed",
    "split_seed", "trial_gap_s", "trial_align_s", "recording_id", "valid_fraction_of_train", "counts_columns",
    "behaviour_columns", "label_column", "spike_time_column", "spike_unit_column", "header", "task_type",
    "allow_pickle", "features", "spike_placement", "subject_id", "bogus_field",
)


@dataclass
class Outcome:
    kind: str  # "ok", "error" (a BenchError), "traceback", "hang"
    detail: str = ""
    seconds: float = 0.0


class _Hang(BaseException):
    """Raised by the alarm: a BaseException so that no ``except Exception`` in the code swallows it."""


def _on_alarm(signum, frame):  # noqa: ARG001
    raise _Hang()


def mutate_array(a: np.ndarray, op: str, rng: np.random.Generator):
    """``a`` changed by ``op``; ``None`` means delete it."""
    a = np.asarray(a)
    i = int(rng.integers(a.size)) if a.size else 0
    flat = a.reshape(-1)
    if op == "none":
        return a
    if op == "delete":
        return None
    if op in ("nan", "inf", "-inf"):
        if a.dtype.kind not in "biuf":
            return a
        out = flat.astype(np.float64)
        if out.size:
            out[i] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[op]
        return out.reshape(a.shape)
    if op == "neg":
        return -a.astype(np.float64) if a.dtype.kind in "biuf" else a
    if op == "huge":
        return a.astype(np.float64) * 1e12 if a.dtype.kind in "biuf" else a
    if op == "tiny":
        return a.astype(np.float64) * 1e-300 if a.dtype.kind in "biuf" else a
    if op == "float":
        return a.astype(np.float64) + 0.5 if a.dtype.kind in "biuf" else a
    if op == "int":
        return a.astype(np.int64) if a.dtype.kind in "biuf" else a
    if op == "complex":
        return a.astype(np.complex128) + 1j if a.dtype.kind in "biufc" else a
    if op == "text":
        return np.array([b"x%d" % k for k in range(a.size)]).reshape(a.shape)
    if op == "object":
        out = np.empty(a.size, dtype=object)
        out[:] = [complex(1, 1)] * a.size
        return out.reshape(a.shape)
    if op == "empty":
        return a[:0]
    if op == "truncate":
        return a[: max(a.shape[0] // 2, 1)] if a.ndim else a
    if op == "reverse":
        return a[::-1].copy() if a.ndim else a
    if op == "shuffle":
        return rng.permutation(a) if a.ndim else a
    if op == "2d":
        return a.reshape(a.shape + (1,))
    if op == "scalar":
        return flat[i] if a.size else np.float64(1.0)
    if op == "bool":
        return a.astype(bool)
    if op == "const":
        return np.full_like(a, flat[i]) if a.size else a
    if op == "transpose":
        return a.T.copy()
    raise ValueError(op)


def mutate_file(path: Path, op: str, rng: np.random.Generator) -> None:
    data = path.read_bytes()
    if op == "flip_bytes" and data:
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 20))):
            b[int(rng.integers(len(b)))] = int(rng.integers(256))
        path.write_bytes(bytes(b))
    elif op == "truncate_file":
        path.write_bytes(data[: int(rng.integers(len(data) + 1))])
    elif op == "random_file":
        path.write_bytes(rng.integers(0, 256, int(rng.integers(1, 5000)), dtype=np.uint8).tobytes())
    elif op == "empty_file":
        path.write_bytes(b"")


# ----------------------------------------------------------------------------- recordings (HDF5)


@cache
def _good_h5_bytes(with_features: bool) -> bytes:
    """A valid small recording: spikes, cursor, trials and splits (and two feature streams)."""
    from bench.data.recording import FeatureStream
    from tests.conftest import make_recording

    rec = make_recording(n_trials=12, n_units=4, seed=3)
    if with_features:
        rng = np.random.default_rng(3)
        n_bins = int(round(rec.duration / 0.02))
        rec.features = {
            "threshold_crossings": FeatureStream("threshold_crossings", 0.02, 0.0, rng.poisson(1.0, (n_bins, 3)),
                                                 np.array(["c0", "c1", "c2"])),
            "power": FeatureStream("power", 0.02, 0.0, rng.normal(size=(n_bins, 2)), np.array(["p0", "p1"]), "continuous"),
        }
    with tempfile.TemporaryDirectory() as tmp:
        return save_recording(rec, Path(tmp) / "rec.h5").read_bytes()


@cache
def h5_members(with_features: bool) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(datasets, groups, (group, attribute) pairs) of the good recording file."""
    datasets, groups, attrs = [], [], []

    def visit(name: str, obj) -> None:
        (datasets if isinstance(obj, h5py.Dataset) else groups).append(name)
        attrs.extend((name, key) for key in obj.attrs)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.h5"
        path.write_bytes(_good_h5_bytes(with_features))
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    return tuple(datasets), tuple(groups), tuple(attrs)


def use_recording(path: Path) -> None:
    """What a run does with a recording: load, bin, read its streams, prepare the task, score zero predictions."""
    rec = load_recording(path)
    binned_counts(rec, 0.02)
    start = float(rec.domain.start[0])
    for name in rec.features:
        feature_between(rec, name, start, start + 0.2, 0.04)
    task = ReachingVelocity()
    data = task.prepare(rec, 0.02)
    segs = data.segments("test")
    task.score(segs, [np.zeros_like(s.targets) for s in segs])


def h5_case(workdir: Path, member: int, op: str, seed: int) -> None:
    """Mutate dataset / group number ``member`` (or the whole file) of a good recording by ``op``, then use it;
    odd members use the recording with feature streams."""
    rng = np.random.default_rng(seed)
    path = workdir / "rec.h5"
    with_features = bool(member % 2)
    path.write_bytes(_good_h5_bytes(with_features))
    datasets, groups, attrs = h5_members(with_features)
    if op in FILE_OPS:
        mutate_file(path, op, rng)
    elif op == "attr":
        where, key = attrs[member // 2 % len(attrs)]
        with h5py.File(path, "r+") as f:
            f[where].attrs[key] = ATTR_VALUES[int(rng.integers(len(ATTR_VALUES)))]
    elif op == "delete_group":
        with h5py.File(path, "r+") as f:
            del f[groups[member // 2 % len(groups)]]
    else:
        name = datasets[member // 2 % len(datasets)]
        with h5py.File(path, "r+") as f:
            new = mutate_array(f[name][()], op, rng)
            del f[name]
            if new is not None:
                if new.dtype == object:
                    new = new.astype(str).astype(bytes)
                f[name] = new
    use_recording(path)


# ----------------------------------------------------------------------------- imports


def _write_mat(path: Path, arrays: dict[str, np.ndarray], v73: bool) -> None:
    """MATLAB v5 (scipy) or v7.3 (HDF5, arrays stored transposed as MATLAB does). A mutated array
    scipy cannot write (an object array of complex numbers) is stored as text, still a fault."""
    if v73:
        with h5py.File(path, "w") as f:
            for k, a in arrays.items():
                a = np.asarray(a)
                f[k] = (a.astype(str).astype(bytes) if a.dtype == object else a).T
        return
    try:
        scipy.io.savemat(path, arrays)
    except Exception:  # noqa: BLE001 - the writer's limit, not the importer's: store the text instead
        scipy.io.savemat(path, {k: (np.asarray(a).astype(str) if np.asarray(a).dtype == object else a)
                                for k, a in arrays.items()})


def _good_arrays(layout: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n_trials, n_units, t_trial = 10, 3, 12
    if layout.startswith("continuous"):
        T = n_trials * t_trial
        return {"counts": rng.poisson(1.0, (T, n_units)), "behaviour": rng.normal(size=(T, 2)),
                "trial_id": np.repeat(np.arange(n_trials), t_trial), "label": np.repeat(rng.integers(0, 4, n_trials), t_trial)}
    if layout == "trials_npz":
        return {"trial_counts": rng.poisson(1.0, (n_trials, n_units, t_trial)), "labels": rng.integers(0, 4, n_trials),
                "trial_behaviour": rng.normal(size=(n_trials, 2, t_trial))}
    times = np.sort(rng.uniform(0, 20, 600))
    bt = np.arange(0, 20, 0.01)
    starts = np.arange(10) * 2.0
    return {"spike_times": times, "spike_units": rng.integers(0, n_units, times.size), "behaviour_timestamps": bt,
            "behaviour": rng.normal(size=(bt.size, 2)), "trial_start": starts, "trial_end": starts + 1.5,
            "labels": rng.integers(0, 4, 10)}


def _write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    """A CSV with a header from named columns (each 1-D, or 2-D split into numbered columns)."""
    cols, names = [], []
    for name, a in columns.items():
        a = np.asarray(a)
        a2 = a.reshape(1, 1) if a.ndim == 0 else a.reshape(a.shape[0], -1) if a.size else np.zeros((a.shape[0], 1))
        for j in range(a2.shape[1]):
            cols.append(a2[:, j])
            names.append(f"{name}{j}" if a2.shape[1] > 1 else name)
    n = max((c.shape[0] for c in cols), default=0)
    lines = [",".join(names)]
    for r in range(n):
        lines.append(",".join(str(c[r]) if r < c.shape[0] else "" for c in cols))
    path.write_text("\n".join(lines) + "\n")


def import_case(workdir: Path, layout: str, key: int, op: str, field: int, value: int, seed: int) -> None:
    """Write a good import of ``layout``, mutate array number ``key`` by ``op`` (or the file) and spec field
    number ``field`` to value number ``value`` (-1: no spec change), import it, check where it wrote, use it."""
    rng = np.random.default_rng(seed)
    arrays = _good_arrays(layout, rng)
    names = sorted(arrays)
    target = names[key % len(names)]
    if op not in FILE_OPS:
        new = mutate_array(arrays[target], op, rng)
        if new is None:
            del arrays[target]
        else:
            arrays[target] = new
    spec: dict = {"bin_size_s": 0.02} if not layout.startswith("spikes") else {}
    if layout.endswith("npz"):
        path = workdir / "in.npz"
        np.savez(path, **arrays)
    elif "_mat" in layout:
        path = workdir / "in.mat"
        _write_mat(path, arrays, v73=layout.endswith("mat73"))
    elif layout == "continuous_csv":
        path = workdir / "counts.csv"
        _write_csv(path, {"c": arrays["counts"]} if "counts" in arrays else {"c": np.zeros((0,))})
        _write_csv(workdir / "targets.csv", {k: v for k, v in arrays.items() if k != "counts"})
        spec.update(targets_path="targets.csv", behaviour_columns="behaviour*", trial_column="trial_id", label_column="label")
    else:
        path = workdir / "spikes.csv"
        _write_csv(path, {k: arrays[k] for k in ("spike_times", "spike_units") if k in arrays})
        _write_csv(workdir / "trials.csv", {k: arrays[k] for k in ("trial_start", "trial_end", "labels") if k in arrays})
        _write_csv(workdir / "behaviour.csv", {k: arrays[k] for k in ("behaviour_timestamps", "behaviour") if k in arrays})
        spec.update(behaviour_path="behaviour.csv", behaviour_time_column="behaviour_timestamps")
        spec.update(layout="spikes", trials_path="trials.csv", trial_start_column="trial_start", trial_end_column="trial_end", label_column="labels")
    if op in FILE_OPS:
        mutate_file(path, op, rng)
    spec["path"] = path.name
    if value >= 0:
        spec[SPEC_FIELDS[field % len(SPEC_FIELDS)]] = SPEC_VALUES[value % len(SPEC_VALUES)]
    _import_and_use(spec, workdir)


def _import_and_use(spec: dict, workdir: Path) -> None:
    """Import ``spec`` from ``workdir`` into ``workdir/out``, check that nothing was written elsewhere,
    and use every recording it wrote."""
    out_dir = workdir / "out"
    before = {p for p in workdir.parent.rglob("*")} if workdir.parent != Path("/") else set()
    try:
        written = import_from_spec(spec, out_dir, base_dir=workdir)
    finally:
        after = {p for p in workdir.parent.rglob("*")}
        strays = [p for p in after - before if not p.is_relative_to(workdir)]
        if strays:
            raise AssertionError(f"the import wrote outside its folders: {strays[:3]}")
    for p in written:
        if not p.resolve().is_relative_to(out_dir.resolve()):
            raise AssertionError(f"the import wrote {p}, outside {out_dir}")
        use_recording(p)


# ----------------------------------------------------------------------------- NWB imports


@cache
def _good_nwb_bytes() -> bytes:
    """A valid small NWB file as NLB / DANDI publish them: units, a hand velocity series, trials."""
    from datetime import datetime, timezone

    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    rng = np.random.default_rng(5)
    nwb = NWBFile(session_description="fuzz", identifier="fuzz",
                  session_start_time=datetime(2020, 1, 1, tzinfo=timezone.utc))
    for k in range(3):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0.0, 12.0, 60 + 10 * k)))
    t = np.arange(0.0, 12.0, 0.01)
    module = nwb.create_processing_module("behavior", "behaviour")
    module.add(TimeSeries(name="hand_vel", data=rng.normal(size=(t.size, 2)), timestamps=t, unit="mm/s"))
    nwb.add_trial_column(name="target_id", description="reach target")
    nwb.add_trial_column(name="split", description="NLB split")
    for i, split in enumerate(("train", "train", "val", "train", "val", "train")):
        nwb.add_trial(start_time=0.5 + 2.0 * i, stop_time=1.9 + 2.0 * i, target_id=i % 3, split=split)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rec.nwb"
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)
        return path.read_bytes()


@cache
def nwb_members() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(datasets, (object, attribute) pairs) of the good NWB file."""
    datasets, attrs = [], []

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset):
            datasets.append(name)
        attrs.extend((name, key) for key in obj.attrs)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.nwb"
        path.write_bytes(_good_nwb_bytes())
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    return tuple(datasets), tuple(attrs)


def nwb_case(workdir: Path, member: int, op: str, field: int, value: int, seed: int) -> None:
    """Mutate dataset / attribute number ``member`` of a good NWB file (or the whole file) by ``op``
    and spec field ``field`` to value ``value`` (-1: none), then import it and use what it wrote."""
    rng = np.random.default_rng(seed)
    path = workdir / "rec.nwb"
    path.write_bytes(_good_nwb_bytes())
    datasets, attrs = nwb_members()
    if op in FILE_OPS:
        mutate_file(path, op, rng)
    elif op == "attr":
        where, key = attrs[member % len(attrs)]
        with h5py.File(path, "r+") as f:
            f[where].attrs[key] = ATTR_VALUES[int(rng.integers(len(ATTR_VALUES)))]
    else:
        name = datasets[member % len(datasets)]
        with h5py.File(path, "r+") as f:
            old = f[name]
            if old.dtype.kind == "O" or old.dtype == h5py.ref_dtype:  # references and strings: delete or keep
                if op == "delete":
                    del f[name]
            else:
                new = mutate_array(old[()], op, rng)
                keep = dict(old.attrs)
                del f[name]
                if new is not None:
                    f[name] = new.astype(str).astype(bytes) if new.dtype == object else new
                    f[name].attrs.update(keep)
    spec: dict = {"path": path.name, "label_column": "target_id", "split_column": "split",
                  "split_names": {"val": "test"}}
    if value >= 0:
        spec[SPEC_FIELDS[field % len(SPEC_FIELDS)]] = SPEC_VALUES[value % len(SPEC_VALUES)]
    _import_and_use(spec, workdir)


# ----------------------------------------------------------------------------- running cases


def run_case(fn, *args, timeout: float = 10.0) -> Outcome:
    """Run one case in a fresh folder; a BenchError is a clean outcome, anything else a traceback."""
    workdir = Path(tempfile.mkdtemp(prefix="fuzzdata-")) / "case"
    workdir.mkdir()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SparseSpikesWarning and numpy's are outcomes, not faults
            fn(workdir, *args)
        return Outcome("ok", seconds=time.perf_counter() - t0)
    except _Hang:
        return Outcome("hang", f"{fn.__name__}{args}", time.perf_counter() - t0)
    except BenchError as exc:
        return Outcome("error", str(exc), time.perf_counter() - t0)
    except Exception:  # noqa: BLE001 - the point: any other exception is a finding
        return Outcome("traceback", f"{fn.__name__}{args}\n{traceback.format_exc()}", time.perf_counter() - t0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        shutil.rmtree(workdir.parent, ignore_errors=True)


def random_case(rng: np.random.Generator):
    """A random case: (function, args) - 40 % recordings, 45 % array imports (npz, csv, mat), 15 % NWB."""
    seed = int(rng.integers(2**31))
    draw = rng.random()
    if draw < 0.4:
        return h5_case, (int(rng.integers(1000)), str(rng.choice(H5_OPS)), seed)
    value = int(rng.integers(-len(SPEC_VALUES), len(SPEC_VALUES)))  # about half without a spec change
    if draw > 0.85:
        return nwb_case, (int(rng.integers(1000)), str(rng.choice(NWB_OPS)), int(rng.integers(1000)), max(value, -1),
                          seed)
    return import_case, (str(rng.choice(LAYOUTS)), int(rng.integers(100)), str(rng.choice(ARRAY_OPS + FILE_OPS)),
                         int(rng.integers(1000)), max(value, -1), seed)


def _worker(seed: int, first: int, count: int, timeout: float) -> None:
    """Run cases ``first`` .. ``first + count - 1`` of ``seed``, one JSON line per case on stdout; the
    line ``start`` before each case tells the parent which case killed the process if one does."""
    run_case(h5_case, 0, "shuffle", 0)  # warm-up, not counted: the first case pays for imports (~2 s)
    for i in range(first, first + count):
        fn, case_args = random_case(np.random.default_rng([seed, i]))
        name = f"{fn.__name__}{case_args}"
        print(json.dumps({"start": name}), flush=True)
        out = run_case(fn, *case_args, timeout=timeout)
        print(json.dumps({"case": name, "kind": out.kind, "seconds": out.seconds, "detail": out.detail[-3000:]}), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="number of cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds after which a case counts as a hang")
    ap.add_argument("--show", type=int, default=3, help="tracebacks / hangs / crashes to print")
    ap.add_argument("--chunk", type=int, default=200, help="cases per worker process (a crash ends one worker)")
    ap.add_argument("--worker", type=int, nargs=2, metavar=("FIRST", "COUNT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        _worker(args.seed, *args.worker, args.timeout)
        return 0
    counts = {"ok": 0, "error": 0, "traceback": 0, "hang": 0, "crash": 0}
    bad: list[str] = []
    slowest = (0.0, "")
    t0 = time.perf_counter()
    first = 0
    while first < args.n:
        count = min(args.chunk, args.n - first)
        cmd = [sys.executable, "-m", "tests.reliability.fuzz_data", "--seed", str(args.seed), "--timeout",
               str(args.timeout), "--worker", str(first), str(count)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
        results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        finished = [r for r in results if "case" in r]
        for r in finished:
            counts[r["kind"]] += 1
            slowest = max(slowest, (r["seconds"], r["case"]))
            if r["kind"] in ("traceback", "hang"):
                bad.append(f"{r['kind']}: {r['case']}\n{r['detail']}")
        if done.returncode != 0 or len(finished) < count:  # the worker died (segfault, out of memory, ...)
            last = next((r["start"] for r in reversed(results) if "start" in r), "before the first case")
            counts["crash"] += 1
            bad.append(f"crash (exit {done.returncode}) during {last}\n{done.stderr[-2000:]}")
            count = min(len(finished) + 1, count)  # go on after the case that crashed
        first += count
    print(f"{args.n} faulty recordings / imports (seed {args.seed}) in {time.perf_counter() - t0:.0f} s: "
          f"{counts['ok']} accepted and used, {counts['error']} clean errors, {counts['traceback']} tracebacks, "
          f"{counts['hang']} hangs (> {args.timeout:g} s), {counts['crash']} crashed processes; "
          f"slowest case {slowest[0]:.2f} s: {slowest[1]}")
    for text in bad[: args.show]:
        print(f"--- {text}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
