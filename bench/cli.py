"""Command line: ``python -m bench {run,validate,list,report,simstats,import}``.

User mistakes (BenchError) print one paragraph and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError


def _cmd_run(args) -> None:
    from bench.suite.schedule import run_suite

    run_suite(args.suite, out=args.out, cache_dir=args.cache_dir, progress=not args.no_progress,
              only_models=args.models, jobs=args.jobs)


def _cmd_validate(args) -> None:
    from bench.suite.loader import load_suite
    from bench.suite.plan import plan_runs

    suite = load_suite(args.suite)
    runs = plan_runs(suite)
    s = suite.spec
    print(f"{args.suite}: valid. {len(s.models)} models x {len(s.datasets)} datasets x {len(s.seeds)} seeds = {len(runs)} runs.")


def _cmd_list(args) -> None:
    from bench import registry

    print("Models (a preset is a named set of parameter values of its base model):")
    for name, cls in registry.models.items():
        kinds = ", ".join(sorted(k.value for k in cls.supported_kinds))
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        base = registry.models.base(name)
        preset = f" [preset of {base.__module__}.{base.__qualname__}]" if registry.models.preset(name) else ""
        print(f"  {name:<17} [{kinds}] {doc}{preset}")
    print("Tasks:")
    for name, cls in registry.tasks.items():
        print(f"  {name:<16} [{cls.kind.value}, metric {cls.primary_metric}] {(cls.__doc__ or '').strip().splitlines()[0]}")
    print("Data sources:")
    for name, cls in registry.data_sources.items():
        print(f"  {name:<16} {(cls.__doc__ or '').strip().splitlines()[0]}")


def _cmd_report(args) -> None:
    from bench.results.tables import build_report
    from bench.suite.loader import load_suite
    from bench.suite.schedule import default_out, report_stored

    suite = load_suite(args.suite)
    out = Path(args.out) if args.out else default_out(suite)
    records = report_stored(suite, out, print)
    if not records:
        raise BenchError(f"No records of suite '{suite.spec.name}' in {out}; run it first with "
                         f"`python -m bench run {args.suite}` (or name the folder with --out).")
    for p in build_report(out, records, suite):
        print(f"wrote {p}")
    print((out / "table.md").read_text())


def _cmd_migrate(args) -> None:
    from bench.results.migrate import migrate_folder
    from bench.suite.loader import load_suite

    suite = load_suite(args.suite)
    out = Path(args.out) if args.out else Path("runs") / suite.spec.name
    moved = migrate_folder(suite, out)
    print(f"{out}: {len(moved)} record(s) converted to record format 2 (keys from non-default settings and versions)")


def _cmd_simstats(args) -> None:
    from bench.data.simstats import compare_with_real, format_report

    real = Path(args.realdata)
    df = compare_with_real(real, preset=args.preset, cache_dir=args.cache_dir)
    print(format_report(df))
    if not real.is_dir():
        print(f"\n(real data folder {real} not found: only the simulator rows are shown)")


def _cmd_import(args) -> None:
    from bench.data.importers import import_from_spec
    from bench.data.importers.resolve import read_spec_file

    spec_path = Path(args.spec)
    spec = read_spec_file(spec_path, "the command line's SPEC")
    hint = lambda text: print(f"hint: {text}", file=sys.stderr)  # noqa: E731
    for p in import_from_spec(spec, Path(args.out), base_dir=spec_path.parent, on_hint=hint):
        print(f"wrote {p}")


def _cmd_params(args) -> None:
    from bench.benchmarks.sizes import parameter_table

    df = parameter_table(args.models, n_units=args.n_units, cache_dir=args.cache_dir)
    print(f"Parameters excluding per-unit / per-session embedding tables, for a session of {args.n_units} units:")
    print(df.to_markdown(index=False))


def _cmd_trainspeed(args) -> None:
    from bench.benchmarks.training_time import training_times

    df = training_times(args.models, preset=args.preset, epochs=args.epochs, rounds=args.rounds, threads=args.threads,
                        cache_dir=args.cache_dir)
    print(f"Training time per epoch on one {args.preset} session, {args.threads} thread(s), ratio to {args.models[0]}:")
    print(df.to_markdown(index=False, floatfmt=".2f"))


def _cmd_curve(args) -> None:
    from bench.benchmarks.learning_curve import learning_curve

    df = learning_curve(args.models, args.epochs, preset=args.preset, n_sessions=args.sessions, threads=args.threads,
                        cache_dir=args.cache_dir, scale=args.scale, lr=args.lr)
    print(df.to_markdown(index=False, floatfmt=".3f"))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(args.out, index=False)
        print(f"wrote {args.out}")


def _cmd_latency(args) -> None:
    from bench.benchmarks.latency import add_ratios, benchmark, write_report
    from bench.results.provenance import provenance

    devices = ["cpu", "cuda"] if args.cuda else ["cpu"]
    df = benchmark(args.models, preset=args.preset, chunk_ms=args.chunk_ms, threads=args.threads,
                   n_chunks=args.n_chunks, rounds=args.rounds, devices=devices, cache_dir=args.cache_dir)
    df = add_ratios(df, [m for m in args.reference if m in args.models])
    prov = provenance("cpu")
    header = (f"# Streaming latency per {args.chunk_ms:g} ms chunk, batch 1\n\n"
              f"One run, models interleaved over {args.rounds} rounds on the same chunks of simulated preset "
              f"{args.preset}; {args.threads} CPU thread(s); {prov['cpu']} ({prov['cpu_count']} cores); "
              f"torch {prov['packages']['torch']}; commit {str(prov['git']['commit'])[:10]}. "
              "Params exclude unit/session embedding tables.")
    for p in write_report(df, Path(args.out), header):
        print(f"wrote {p}")
    print(df.to_markdown(index=False, floatfmt=".3f"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a suite (resumes: completed records are skipped)")
    p.add_argument("suite")
    p.add_argument("--out", default=None, help="run folder for records, tables and figures (default runs/<suite>; "
                   "the leaderboard is results/<suite>)")
    p.add_argument("--cache-dir", type=Path, default=None, help="where generated/imported data go")
    p.add_argument("--models", nargs="+", default=None, help="only these model labels")
    p.add_argument("--jobs", type=int, default=None, help="parallel worker processes (default: the suite's jobs)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("validate", help="validate a suite file without running it")
    p.add_argument("suite")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("list", help="list registered models, tasks and data sources")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("report", help="rebuild a suite's tables and figures from its records")
    p.add_argument("suite")
    p.add_argument("--out", default=None, help="run folder (default runs/<suite>; the leaderboard: results/<suite>)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("migrate", help="convert a run folder's records of format 1 to the current format")
    p.add_argument("suite")
    p.add_argument("--out", default=None, help="run folder (default runs/<suite>)")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("simstats", help="compare simulator statistics with real recordings")
    p.add_argument("--realdata", default=str(Path(__file__).resolve().parents[2] / "shared" / "realdata"))
    p.add_argument("--preset", default="c_co_2016")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.set_defaults(func=_cmd_simstats)

    p = sub.add_parser("params", help="parameter count of every model, against the paper's where published")
    p.add_argument("--models", nargs="+", default=None)
    p.add_argument("--n-units", type=int, default=100)
    p.add_argument("--cache-dir", type=Path, default=None)
    p.set_defaults(func=_cmd_params)

    p = sub.add_parser("trainspeed", help="side-by-side training time per epoch of several models")
    p.add_argument("--models", nargs="+", default=["possm-gru", "possm-mamba"])
    p.add_argument("--preset", default="c_co_2016")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache-dir", type=Path, default=None)
    p.set_defaults(func=_cmd_trainspeed)

    p = sub.add_parser("curve", help="test metric against the epoch budget for several models")
    p.add_argument("--models", nargs="+", default=["gru", "possm-gru"])
    p.add_argument("--epochs", nargs="+", type=int, default=[20, 60, 150])
    p.add_argument("--preset", default="c_co_2016")
    p.add_argument("--scale", choices=["default", "paper"], default="default", help="simulator scale (paper: larger sessions)")
    p.add_argument("--sessions", type=int, default=1)
    p.add_argument("--lr", type=float, default=2e-3, help="learning rate (batch 16, flat-cosine schedule)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--out", default=None, help="CSV file to write")
    p.set_defaults(func=_cmd_curve)

    p = sub.add_parser("latency", help="side-by-side streaming latency benchmark of several models")
    p.add_argument("--models", nargs="+", default=["gru", "possm-gru", "possm-s4d", "possm-mamba"])
    p.add_argument("--reference", nargs="+", default=["gru", "possm-gru"], help="models to express ratios against")
    p.add_argument("--preset", default="c_co_2016")
    p.add_argument("--chunk-ms", type=float, default=50.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n-chunks", type=int, default=600)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--cuda", action="store_true", help="also measure on CUDA when present")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--out", default="results/latency")
    p.set_defaults(func=_cmd_latency)

    p = sub.add_parser("import", help="import array files (.npz/.mat/.csv) into brainsets-format HDF5")
    p.add_argument("spec", help="YAML file describing the arrays (see docs/import_schema.md)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_cmd_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: completed runs are saved; rerun the same command to resume.", file=sys.stderr)
        return 130
    return 0
