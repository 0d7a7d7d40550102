"""Fuzz suite validation: mutate the committed suite files and check each outcome is a valid suite or a
BenchError (one bounded paragraph), never a traceback or a hang; then run a sample of the accepted
mutants on a tiny budget (tiny generated data, 1 epoch) and check no run crashes.

    python -m tests.reliability.fuzz_suites --n 10000 --run 8

Mutations are YAML-level (values of other types, extreme and non-finite numbers, path-like names,
deleted / unknown / duplicated keys, deep nesting, aliases) on the parsed file, then text- and
byte-level (invalid UTF-8, truncation, random YAML tokens, duplicated lines, billion laughs, deep
brackets) on the written text. The hypothesis test (test_suite_fuzz.py) draws from the same ones.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.suite.loader import load_suite
from bench.suite.plan import plan_runs
from tests.reliability.fuzz_data import Outcome, run_case
from tests.reliability.tiny_runs import append_log, read_log, run_campaign, summary, warm_up_runs

ROOT = Path(__file__).resolve().parents[2]
SUITES = sorted((ROOT / "suites").glob("*.yaml"))
SOURCES = [p.read_text() for p in SUITES]

FIELD_NAMES = ["name", "task", "datasets", "models", "seeds", "chunk_ms", "train", "latency", "params", "label",
               "source", "epochs", "lr", "batch_size", "hidden", "n_lags", "alphas", "sessions", "jobs", "threads",
               "protocol", "dataset_params", "needs_gpu", "leaderboard", "device", "bogus", "<<", "allow_pickle",
               "path", "pattern", "n_trials", "n_neurons", "n_sessions", "window_s", "max_minutes", "dim"]
VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2, 7, 10**9, -(10**9), 10**19, 10**40, 0.0, 1e-9, -1e-9, 0.5, 1e300, -1e300,
    float("nan"), float("inf"), float("-inf"), "", " ", "x", "..", ".", "../../x", "/etc/passwd", "a/b", "\\x",
    "~", "\x00", "é", "x" * 5000, "1e9", "nan", "true", "null", [], {}, [[]], [1, 2], {"a": 1}, ["x"],
    {"name": "gru"}, {"name": ".."}, [0, -1], [float("nan")], list(range(50)),
]
TOKENS = ["&a ", "*a", "*zz", ": ", "- ", "[", "]", "{", "}", ",", "!!python/object/apply:os.system ['true']",
          "<<: *a", "? ", "|", ">", "%YAML 1.1\n", "---\n", "...\n", "\t", "#", "'", '"', "!!binary AAAA", "\\u0000",
          "!!float", "!!int", "!!str", "!!set", "!!omap", "!!timestamp"]
LAUGHS = "b0: &b0 [z, z, z, z, z, z, z, z, z, z]\n" + "".join(
    f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]\n" for i in range(1, 9))


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``obj`` (dict keys and list indices)."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


def _parent(obj: Any, path: tuple):
    for p in path[:-1]:
        obj = obj[p]
    return obj


def _random_value(rng: random.Random, old: Any) -> Any:
    choice = rng.random()
    if isinstance(old, (int, float)) and not isinstance(old, bool) and choice < 0.4:
        return rng.choice([-1, 0, 1e-9, 1e9, 10**12, -(10**12), 1.5, float("nan"), float("inf")]) * (old or 1)
    if isinstance(old, str) and choice < 0.3:
        return rng.choice(["..", "../" + old, "/tmp/" + old, old * 100, old + "/x", "." + old, old.upper(), ""])
    if choice < 0.45:
        return rng.choice([str(old), [old], {"x": old}, {"name": old}])
    return copy.deepcopy(rng.choice(VALUES))


def mutate_tree(tree: Any, rng: random.Random) -> tuple[Any, str]:
    """One structural mutation of the parsed suite; returns it and a description."""
    tree = copy.deepcopy(tree)
    paths = [p for p in _paths(tree) if p]
    op = rng.choice(["set", "set", "set", "delete", "add", "duplicate", "nest", "rename"])
    if not paths or not isinstance(tree, dict):
        return rng.choice(VALUES), "replace whole"
    path = rng.choice(paths)
    parent, key = _parent(tree, path), path[-1]
    if op == "set":
        parent[key] = _random_value(rng, parent[key])
    elif op == "delete":
        del parent[key]
    elif op == "add":
        target = parent[key] if isinstance(parent[key], dict) else parent if isinstance(parent, dict) else tree
        target[rng.choice(FIELD_NAMES)] = copy.deepcopy(rng.choice(VALUES))
    elif op == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    elif op == "nest":
        value: Any = parent[key]
        for _ in range(rng.choice([1, 3, 10, 40, 200])):
            value = [value] if rng.random() < 0.5 else {"k": value}
        parent[key] = value
    elif op == "rename" and isinstance(parent, dict):
        parent[rng.choice(FIELD_NAMES)] = parent.pop(key)
    return tree, f"{op} {'.'.join(map(str, path))[:60]}"


def mutate_text(text: str, rng: random.Random) -> tuple[bytes, str]:
    """One text- or byte-level mutation of a suite file."""
    op = rng.choice(["bytes", "utf8", "truncate", "token", "token", "dup_line", "laughs", "brackets", "long_line",
                     "anchor"])
    lines = text.splitlines(keepends=True) or [""]
    i = rng.randrange(len(lines))
    data = text.encode()
    if op == "bytes":
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            if b:
                b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b), op
    if op == "utf8":
        at = rng.randrange(len(data) + 1)
        return data[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xef\xbb\xbf"]) + data[at:], op
    if op == "truncate":
        return data[: rng.randrange(len(data) + 1)], op
    if op == "token":
        at = rng.randrange(len(text) + 1)
        return (text[:at] + rng.choice(TOKENS) + text[at:]).encode(), op
    if op == "dup_line":
        return "".join(lines[: i + 1] + [lines[i]] + lines[i + 1:]).encode(), op
    if op == "laughs":
        return (LAUGHS + text + "description: *b8\n").encode(), op
    if op == "brackets":
        depth = rng.choice([40, 1000, 50_000])
        return (text + f"\ndescription: {'[' * depth}{']' * depth}\n").encode(), f"{op} {depth}"
    if op == "long_line":
        return (text + "\ndescription: " + "y" * rng.choice([10_000, 500_000]) + "\n").encode(), op
    # anchor: alias a part of the file elsewhere (or a missing anchor)
    return (text.replace("train:", "train: &t", 1) + rng.choice(["\nlatency: *t\n", "\nextra: *t\n", "\nx: *nope\n"])
            ).encode(), op


def mutant(index: int, seed: int) -> tuple[bytes, str]:
    """The mutated suite file ``(bytes, description)`` for ``seed`` from committed suite ``index``."""
    rng = random.Random(seed)
    text = SOURCES[index % len(SOURCES)]
    notes = [SUITES[index % len(SUITES)].name]
    tree = yaml.safe_load(text)
    for _ in range(rng.randint(0, 3)):
        tree, note = mutate_tree(tree, rng)
        notes.append(note)
    if len(notes) > 1:
        try:
            text = yaml.safe_dump(tree, sort_keys=False, width=1 << 20)
        except RecursionError:  # nested past PyYAML's dumper (the text mutations test deep nesting instead)
            notes.append("(too deep to write: unmutated text)")
    data = text.encode()
    if len(notes) == 1 or rng.random() < 0.4:
        data, note = mutate_text(text, rng)
        notes.append(note)
    return data, "; ".join(notes)


def warm_up() -> None:
    """Validate every committed suite once, so that module imports (seconds on a busy machine, once
    per process) are not timed as a hang of the first mutant."""
    for path in SUITES:
        plan_runs(load_suite(path))


def validate_case(workdir: Path, index: int, seed: int) -> None:
    """What `bench validate` does, on one mutant written next to a copy of its suite's neighbours."""
    data, _ = mutant(index, seed)
    path = workdir / "suite.yaml"
    path.write_bytes(data)
    plan_runs(load_suite(path))


def validate_all(n: int, seed: int, timeout: float, save: Path | None) -> dict:
    """Validate ``n`` mutants of ``seed``: counts, the accepted indices and the findings."""
    counts = {"ok": 0, "error": 0, "traceback": 0, "hang": 0}
    findings: list[tuple[int, Outcome]] = []
    accepted: list[int] = []
    slowest = 0.0
    warm_up()
    t0 = time.perf_counter()
    for k in range(n):
        outcome = run_case(validate_case, k, seed * 1_000_003 + k, timeout=timeout)
        counts[outcome.kind] += 1
        slowest = max(slowest, outcome.seconds)
        if outcome.kind == "error" and ("\n" in outcome.detail or len(outcome.detail) > 3000):
            counts["error"] -= 1
            counts["traceback"] += 1  # an unbounded or multi-line message is a finding too
            outcome = Outcome("traceback", "unbounded message: " + outcome.detail[:500], outcome.seconds)
        if outcome.kind in ("traceback", "hang"):
            findings.append((k, outcome))
            if save:
                save.mkdir(parents=True, exist_ok=True)
                (save / f"mutant_{k}.yaml").write_bytes(mutant(k, seed * 1_000_003 + k)[0])
        elif outcome.kind == "ok":
            accepted.append(k)
    return {"files": n, "seed": seed, **counts, "n_accepted": len(accepted), "slowest_s": round(slowest, 2),
            "seconds": round(time.perf_counter() - t0, 1), "accepted": accepted,
            "findings": [{"k": k, "kind": o.kind, "detail": o.detail[-1500:]} for k, o in findings]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="number of mutated suite files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds after which a validation counts as a hang")
    ap.add_argument("--run", type=int, default=0,
                    help="accepted mutants to run on tiny data (1 epoch) in this call; -1: all not yet in --log")
    ap.add_argument("--run-timeout", type=float, default=300.0, help="seconds after which a tiny run is a hang")
    ap.add_argument("--log", type=Path, default=None,
                    help="JSONL log: validation summary and one line per tiny run; a rerun resumes from it")
    ap.add_argument("--runs-root", type=Path, default=None,
                    help="one run folder per committed suite shared by its mutants: runs already recorded with "
                         "the same identity are resumed, not retrained (tiny_runs.py)")
    ap.add_argument("--shard", type=int, nargs=2, metavar=("I", "N"), default=None,
                    help="run only the accepted mutants k with k %% N == I (parallel campaigns on one --log; each "
                         "shard its own run folders)")
    ap.add_argument("--show", type=int, default=3)
    ap.add_argument("--save", type=Path, default=None, help="folder for the files of tracebacks and hangs")
    args = ap.parse_args(argv)
    known = [row for row in read_log(args.log) if row.get("phase") == "validated"
             and (row["files"], row["seed"]) == (args.n, args.seed)] if args.log else []
    if known:
        result = known[-1]
    else:
        result = validate_all(args.n, args.seed, args.timeout, args.save)
        if args.log:
            append_log(args.log, {"phase": "validated", **result})
    print(json.dumps({k: v for k, v in result.items() if k not in ("accepted", "findings")}))
    for finding in result["findings"][: args.show]:
        k = finding["k"]
        print(f"--- mutant {k} ({mutant(k, args.seed * 1_000_003 + k)[1]}): {finding['kind']}\n{finding['detail']}")
    failed = result["traceback"] or result["hang"]
    if not args.run:
        return 1 if failed else 0
    accepted = result["accepted"]
    if args.run > 0 and not args.log:  # a sample, as before: spread over the accepted mutants
        accepted = random.Random(args.seed).sample(accepted, min(args.run, len(accepted)))
    runs_root = args.runs_root
    if args.shard:
        accepted = [k for k in accepted if k % args.shard[1] == args.shard[0]]
        runs_root = runs_root / f"shard{args.shard[0]}" if runs_root else None
    log = args.log or Path(tempfile.mkdtemp(prefix="fuzzsuite-log-")) / "runs.jsonl"
    warm_up_runs()
    mutants = {k: (*mutant(k, args.seed * 1_000_003 + k), SUITES[k % len(SUITES)].stem) for k in accepted}
    run_campaign(mutants, log, len(mutants) if args.run < 0 else args.run, args.run_timeout, runs_root)
    runs = summary(log)
    print(json.dumps({"tiny_runs": runs}))
    return 1 if failed or runs["crash"] or runs["hang"] else 0


if __name__ == "__main__":
    sys.exit(main())
