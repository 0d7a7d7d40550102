"""Kill -9 a tiny suite run at random moments, and run one folder twice at once; after resuming, the
records and the tables' metric cells must equal those of an uninterrupted run (no record lost or
duplicated, no temp file read, no half-written table).

    python -m tests.reliability.kill_runs --kills 10 --jobs 1 2   # 20 kills in all
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.data.storage import save_recording
from bench.results.records import load_records, record_files
from tests.conftest import make_recording

SUITE = """
name: killed
task: reaching_velocity
seeds: [0, 1]
jobs: JOBS
train: {epochs: 2, batch_size: 16}
latency: {n_chunks: 10, warmup: 1}
datasets:
  - {name: tiny, source: hdf5, params: {path: FOLDER}}
models:
  - {name: wiener, params: {alphas: [1.0, 10.0]}}
  - {name: gru, params: {hidden: 8, embed_dim: 8}}
"""


def _command(suite: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "bench", "run", str(suite), "--out", str(out), "--no-progress"]


def _start(suite: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(_command(suite, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)  # its own group: kill -9 takes its workers too


def fingerprint(out: Path) -> dict:
    """What must not depend on interruptions: record names, their metrics, and the tables' metric cells."""
    records = sorted(load_records(out), key=lambda r: r.file_name)
    table = pd.read_csv(out / "table.csv", index_col=0)
    cells = table[[c for c in table.columns if "(" in c and "ms/chunk" not in c]]
    return {
        "records": [r.file_name for r in records],
        "metrics": [[s.metrics for s in r.sessions] for r in records],
        "cells": cells.to_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="killruns-") as tmp:
        root = Path(tmp)
        for i in range(2):
            save_recording(make_recording(seed=i, recording_id=f"tiny_{i}"), root / "data" / f"tiny_{i}.h5")
        for jobs in args.jobs:
            suite = root / f"suite_{jobs}.yaml"
            suite.write_text(SUITE.replace("JOBS", str(jobs)).replace("FOLDER", str(root / "data")))
            subprocess.run(_command(suite, root / f"ref_{jobs}"), check=True, capture_output=True)
            reference = fingerprint(root / f"ref_{jobs}")
            t0 = time.perf_counter()  # a second uninterrupted run: its duration, and determinism
            subprocess.run(_command(suite, root / f"ref2_{jobs}"), check=True, capture_output=True)
            full_s = time.perf_counter() - t0
            deterministic = fingerprint(root / f"ref2_{jobs}") == reference
            n_records = len(reference["records"])
            kills = {"killed": 0, "missed": 0, "records_at_kill": [], "temp_files_left": 0, "mismatches": 0}
            k = 0
            while kills["killed"] < args.kills and k < 4 * args.kills:
                out, k = root / f"killed_{jobs}_{k}", k + 1
                proc = _start(suite, out)
                time.sleep(rng.uniform(0.2, full_s))
                if proc.poll() is not None:  # finished before the moment: not a kill, draw again
                    proc.communicate()
                    kills["missed"] += 1
                    continue
                os.killpg(proc.pid, signal.SIGKILL)
                kills["killed"] += 1
                proc.communicate()
                kills["records_at_kill"].append(len(record_files(out)))
                kills["temp_files_left"] += len(list((out / "records").glob(".tmp-*"))) if (out / "records").is_dir() else 0
                subprocess.run(_command(suite, out), check=True, capture_output=True)
                if fingerprint(out) != reference or list((out / "records").glob(".tmp-*")):
                    kills["mismatches"] += 1
            # two runs of one folder at once: one runs, the other is refused (or finds all done)
            out = root / f"concurrent_{jobs}"
            a, b = _start(suite, out), _start(suite, out)
            (_, err_a), (_, err_b) = a.communicate(), b.communicate()
            refused = sum("in use by another `bench run`" in e for e in (err_a, err_b))
            tracebacks = sum("Traceback" in e for e in (err_a, err_b))
            subprocess.run(_command(suite, out), check=True, capture_output=True)
            concurrent_ok = fingerprint(out) == reference and tracebacks == 0
            summary = {"jobs": jobs, "records": n_records, "uninterrupted_s": round(full_s, 1),
                       "two_uninterrupted_runs_equal": deterministic, **kills,
                       "concurrent": {"exit_codes": [a.returncode, b.returncode], "refused": refused,
                                      "tracebacks": tracebacks, "equal_to_uninterrupted": concurrent_ok}}
            print(json.dumps(summary), flush=True)
            failures += kills["mismatches"] + (not concurrent_ok) + (not deterministic)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
