"""Command line: ``python -m bench {run,tune,validate,list,report,page,paper,migrate,simstats,import,params,trainspeed,curve,latency}``.

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
              only_models=args.models, jobs=args.jobs, executor=args.executor, address=args.address,
              tracking=False if args.no_track else (args.track if args.track is not None else None))


def _cmd_tune(args) -> None:
    from bench.tune import tune

    tune(args.suite, args.model, dataset=args.dataset, trials=args.trials, out=args.out, best_out=args.best_out,
         cache_dir=args.cache_dir, progress=not args.no_progress)


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
    from bench.suite.loader import load_suite

    _report(load_suite(args.suite), Path(args.out) if args.out else None)


def _report(suite, out: Path | None) -> None:
    """Rebuild the run folder's tables from its records and print the first one."""
    from bench.results.report import write_report
    from bench.suite.schedule import default_out, report_stored

    out = out or default_out(suite)
    records = report_stored(suite, out, print)
    if not records:
        raise BenchError(f"No records of suite '{suite.spec.name}' in {out}; run it first with "
                         f"`python -m bench run {suite.path}` (or name the folder with --out).")
    written = write_report(out, records, suite)
    for p in written:
        print(f"wrote {p}")
    print(next(p for p in written if p.suffix == ".md").read_text())


def _cmd_paper(args) -> None:
    from bench.paper.build import write_paper

    for p in write_paper(Path(args.results), Path(args.out)):
        print(f"wrote {p}")


def _cmd_page(args) -> None:
    from bench.results.browser import chromium_path, page_url, screenshot
    from bench.results.page import build_pages

    folder = Path(args.results_dir)
    for page in build_pages(folder, reference=args.reference):
        print(f"wrote {page}")
        if args.screenshot and page.name == "index.html":
            if chromium_path() is None:
                print("no screenshot: headless Chromium is not installed (apt-get install chromium)")
            else:
                print(f"wrote {screenshot(page_url(page), page.with_name('page.png'))}")


def _cmd_migrate(args) -> None:
    from bench.results.migrate import migrate_folder
    from bench.suite.loader import load_suite

    suite = load_suite(args.suite)
    out = Path(args.out) if args.out else Path("runs") / suite.spec.name
    moved = migrate_folder(suite, out)
    print(f"{out}: {len(moved)} record(s) converted to record format 2 (keys from non-default settings and versions)")


def _cmd_simstats(args) -> None:
    from bench.data.simstats import compare_with_real, format_report

    if args.task == "handwriting":
        from bench.data.simulators.handwriting.stats import handwriting_report

        print(handwriting_report(args.scale, args.cache_dir))
        return
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
    for p in import_from_spec(spec, Path(args.out), base_dir=spec_path.parent, on_hint=hint,
                              allow_pickle=args.allow_pickle):
        print(f"wrote {p}")


def _run_protocol(args, changes: dict) -> None:
    """Run the protocol suite ``args.suite`` with the command's options, then print its table."""
    from bench.suite.loader import load_suite
    from bench.suite.overrides import suite_overrides
    from bench.suite.schedule import run_suite

    overrides = suite_overrides(args.suite, changes, models=args.models)
    out = run_suite(args.suite, out=args.out, overrides=overrides, cache_dir=args.cache_dir,
                    progress=not args.no_progress, compare=False)
    _report(load_suite(args.suite, overrides), out)


def _cmd_params(args) -> None:
    _run_protocol(args, {"datasets.params.n_neurons": args.n_units})


def _cmd_trainspeed(args) -> None:
    _run_protocol(args, {"datasets.name": args.preset, "datasets.params.preset": args.preset, "threads": args.threads,
                         "train.epochs": args.epochs, "train.patience": args.epochs and args.epochs + 1,
                         "protocol.params.rounds": args.rounds})


def _cmd_curve(args) -> None:
    _run_protocol(args, {"datasets.name": args.preset, "datasets.params.preset": args.preset,
                         "datasets.params.scale": args.scale, "datasets.sessions": args.sessions and
                         list(range(args.sessions)), "train.lr": args.lr, "threads": args.threads,
                         "protocol.params.epochs": args.epochs})


def _cmd_latency(args) -> None:
    _run_protocol(args, {"datasets.name": args.preset, "datasets.params.preset": args.preset, "chunk_ms": args.chunk_ms,
                         "latency.threads": args.threads, "latency.n_chunks": args.n_chunks,
                         "latency.cuda": args.cuda or None, "protocol.params.rounds": args.rounds,
                         "protocol.report.reference": args.reference})


def _protocol_parser(sub, name: str, suite: str, help: str) -> argparse.ArgumentParser:
    """A command that runs a protocol suite; its options change the suite file's settings."""
    p = sub.add_parser(name, help=f"{help} (runs {suite}; options left out keep its settings)")
    p.add_argument("--suite", default=suite, help=f"the suite to run (default {suite})")
    p.add_argument("--models", nargs="+", default=None, help="only these models (default: the suite's)")
    p.add_argument("--out", default=None, help="run folder for records and tables (default runs/<suite name>)")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--no-progress", action="store_true")
    return p


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
    p.add_argument("--executor", choices=["local", "ray"], default=None,
                   help="local process pool, or Ray tasks (default: the suite's executor, else local)")
    p.add_argument("--address", default=None, help="with --executor ray: a Ray cluster's address (host:port, "
                   "ray://host:10001 or auto); default a local Ray runtime with --jobs CPUs")
    p.add_argument("--track", nargs="?", const=True, default=None, metavar="URI",
                   help="log every run to mlflow: the run folder's SQLite store (mlflow.db), or the tracking URI given")
    p.add_argument("--no-track", action="store_true", help="no tracking, whatever the suite says")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("tune", help="tune a model's settings with a persistent optuna study (resumable), pruned on "
                       "the validation loss; writes the best configuration as a suite file")
    p.add_argument("suite")
    p.add_argument("--model", required=True, help="label (or name) of a model of the suite")
    p.add_argument("--dataset", default=None, help="dataset of the suite (default its first)")
    p.add_argument("--trials", type=int, default=None, help="finished trials the study should hold (default: the "
                   "suite's tune.trials, else 20); a rerun continues the same study up to this number")
    p.add_argument("--out", default=None, help="folder of the study's SQLite file (default runs/<suite>/tune)")
    p.add_argument("--best-out", default=None, help="suite file of the best configuration (default beside the suite: "
                   "<suite>.<model>-tuned.yaml)")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("validate", help="validate a suite file without running it")
    p.add_argument("suite")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("list", help="list registered models, tasks and data sources")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("report", help="rebuild a suite's tables and figures from its records")
    p.add_argument("suite")
    p.add_argument("--out", default=None, help="run folder (default runs/<suite>; the leaderboard: results/<suite>)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("paper", help="regenerate the POSSM paper's tables and latency figure from committed records "
                       "(never retrains), each beside the published figure")
    p.add_argument("--results", default="results", help="folder holding nhp/, latency/, handwriting/, speech/, transfer/")
    p.add_argument("--out", default="results/paper", help="folder for paper.md and its figures")
    p.set_defaults(func=_cmd_paper)

    p = sub.add_parser("page", help="build the static leaderboard page(s) of a run folder from its records "
                       "(index.html; one page per task)")
    p.add_argument("results_dir", help="run folder holding records/ (e.g. results/nhp); the page is written there")
    p.add_argument("--reference", default="gru", help="model label the paired tests compare with (default gru "
                   "when present; 'none': no comparison)")
    p.add_argument("--screenshot", action="store_true", help="also write page.png beside index.html (headless Chromium)")
    p.set_defaults(func=_cmd_page)

    p = sub.add_parser("migrate", help="convert a run folder's records of format 1 to the current format")
    p.add_argument("suite")
    p.add_argument("--out", default=None, help="run folder (default runs/<suite>)")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("simstats", help="compare simulator statistics with real recordings")
    p.add_argument("--realdata", default=str(Path(__file__).resolve().parents[2] / "shared" / "realdata"))
    p.add_argument("--preset", default="c_co_2016")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--task", choices=("reaching", "handwriting"), default="reaching",
                   help="handwriting: the handwriting simulator's sessions beside published statistics")
    p.add_argument("--scale", choices=("default", "paper"), default="default", help="handwriting simulator scale")
    p.set_defaults(func=_cmd_simstats)

    p = _protocol_parser(sub, "params", "suites/params.yaml", "parameter counts, against the paper's where published")
    p.add_argument("--n-units", type=int, default=None, help="units of the simulated session (suite: 100)")
    p.set_defaults(func=_cmd_params)

    p = _protocol_parser(sub, "trainspeed", "suites/trainspeed.yaml", "side-by-side training time per epoch")
    p.add_argument("--preset", default=None, help="simulator preset (suite: c_co_2016)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per training (suite: 5)")
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds (suite: 2)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (suite: 1)")
    p.set_defaults(func=_cmd_trainspeed)

    p = _protocol_parser(sub, "curve", "suites/curves.yaml", "test metric against the epoch budget")
    p.add_argument("--epochs", nargs="+", type=int, default=None, help="epoch budgets (suite: 20 60 150)")
    p.add_argument("--preset", default=None, help="simulator preset (suite: c_co_2016)")
    p.add_argument("--scale", choices=["default", "paper"], default=None, help="simulator scale (paper: larger sessions)")
    p.add_argument("--sessions", type=int, default=None, help="first N sessions (suite: 1)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (suite: 2e-3, batch 16, flat-cosine schedule)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (suite: 1)")
    p.set_defaults(func=_cmd_curve)

    p = _protocol_parser(sub, "latency", "suites/latency.yaml", "side-by-side streaming latency, models interleaved")
    p.add_argument("--reference", nargs="+", default=None, help="models to express ratios against (default: the suite's protocol.report.reference)")
    p.add_argument("--preset", default=None, help="simulator preset (suite: c_co_2016)")
    p.add_argument("--chunk-ms", type=float, default=None, help="chunk length (suite: 50)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads while timing (suite: 1)")
    p.add_argument("--n-chunks", type=int, default=None, help="timed steps per model over all rounds (suite: 600)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (suite: 3)")
    p.add_argument("--cuda", action="store_true", help="also measure on CUDA when present")
    p.set_defaults(func=_cmd_latency)

    p = sub.add_parser("import", help="import array files (.npz/.mat/.csv) into brainsets-format HDF5")
    p.add_argument("spec", help="YAML file describing the arrays (see docs/import_schema.md)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--allow-pickle", action="store_true",
                   help="let .npz object arrays be unpickled (runs code from the file: only files you trust)")
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
    except OSError as exc:  # a full disk, a permission, a vanished folder: the system's word, not a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}. Records are written whole or not at all, so the run folder "
              "holds only complete records; fix the cause (free space, permissions) and rerun the same command "
              "to resume.", file=sys.stderr)
        return 2
    return 0
