"""Run a suite: every planned run not yet recorded in the run folder, in this process, in a
pool of worker processes or as Ray tasks (``executor: ray``), then the tables, the comparison with
the committed leaderboard and, when tracking is on, the runs logged to mlflow (``bench.tracking``).

A user's runs go to their own folder (``runs/<suite>/`` by default, ignored by git), so the main
job really trains and times every model on their machine; only an explicit ``--out`` writes to
the leaderboard's folder under results/.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from bench.errors import SuiteError
from bench.latency import cuda_available
from bench.results.records import Record, load_records, record_files, records_dir, write_record
from bench.results.flags import run_flags
from bench.protocols.session_checkpoint import discard_checkpoint
from bench.protocols import get_protocol
from bench.suite.execute import DatasetCache, execute_runs, resolve_device
from bench.suite.loader import LoadedSuite, check_model_inputs, load_suite
from bench.suite.plan import PlannedRun, plan_runs, sort_records, trains_here
from bench.suite.run_lock import holds_run_folder

DEFAULT_RUNS_DIR = Path("runs")


def default_out(suite: LoadedSuite) -> Path:
    return DEFAULT_RUNS_DIR / suite.spec.name


def _run_in_worker(suite_path: str, overrides: dict | None, run_name: str, out: str, cache_dir: str | None,
                   jobs: int) -> tuple[Record, list[list[dict]]]:
    """Execute one planned run in a worker process (or Ray task) and write its record (atomic);
    returns it with the per-epoch curves of its training (for tracking)."""
    import torch

    from bench.tracking import collect_curves

    suite = load_suite(suite_path, overrides)
    torch.set_num_threads(suite.spec.threads)
    run = next(r for r in plan_runs(suite) if r.name == run_name)
    cache = DatasetCache(suite, Path(cache_dir) if cache_dir else None, progress=False)
    with collect_curves() as curves:
        (record,) = execute_runs([run], suite, cache, resolve_device(suite.spec.device), progress=False, out=Path(out))
    record.provenance["parallel_jobs"] = jobs
    write_record(Path(out), record)
    discard_checkpoint(Path(out), record.file_name)
    return record, curves.take()


def describe(record: Record) -> str:
    s, lat = record.summary, record.latency.get("cpu", {})
    if record.status == "failed":
        return (f"  {record.label:>14s} {record.dataset:>12s} seed {record.seed}: FAILED (diverged), not scored: "
                f"{record.failure_reason} (recorded failed; delete {record.file_name} to retry)")
    metric = ("untrained (needs GPU)" if not record.trained else "no test metric (protocol " + record.protocol + ")"
              if s is None else f"{record.metric} {s.mean:.3f} +- {s.sd:.3f} (n={s.n})")
    flags = [f for f in run_flags(record) if f.code != "untrained"]  # untrained: said in the metric's place
    return (
        f"  {record.label:>14s} {record.dataset:>12s} seed {record.seed}: {metric}, "
        f"{record.n_parameters:,} params, CPU {lat.get('median_ms', float('nan')):.3f} ms/chunk, "
        f"train {record.train_seconds:.1f}s" + "".join(f"; {f.label.upper()}: {f.text}" for f in flags)
    )


def log_flagged(records: list[Record], log: Callable[[str], None], limit: int = 20) -> None:
    """The console summary of what a reader must know before trusting the tables (bench.results.flags)."""
    flagged = [(r, flags) for r in records if (flags := [f for f in run_flags(r) if f.code != "untrained"])]
    for rec, flags in flagged[:limit]:
        log(f"{rec.label} / {rec.dataset} / seed {rec.seed}: " + "; ".join(f"{f.label.upper()}: {f.text}" for f in flags))
    if len(flagged) > limit:
        log(f"... and {len(flagged) - limit} more flagged run(s); see the marks in table.md")


def runs_to_do(runs: list[PlannedRun], out: Path) -> list[PlannedRun]:
    """Planned runs without a record; untrained records (made without a GPU) count as missing
    where a GPU is present."""
    done = {p.name for p in record_files(out)}
    if cuda_available():
        done -= {r.file_name for r in load_records(out) if not r.trained}
    return [r for r in runs if r.name not in done]


def longest_first(todo: list[PlannedRun], suite: LoadedSuite) -> list[PlannedRun]:
    """``todo`` in the order parallel workers should take it: the runs expected to take longest
    first, so that no long run starts last while the other workers sit idle (a suite's wall time
    is then close to its CPU time over the workers). The expected cost of a run is the mean
    training + evaluation time of the committed leaderboard's records of the same label and
    dataset (any seed or version); runs with no such record go first, in suite order."""
    from bench.results.compare import leaderboard_dir

    folder = leaderboard_dir(suite)
    past: dict[tuple[str, str], list[float]] = {}
    if folder is not None and folder.is_dir():
        for rec in load_records(folder):
            past.setdefault((rec.label, rec.dataset), []).append(rec.train_seconds + (rec.eval_seconds or 0.0))
    def cost(run: PlannedRun) -> float:
        seen = past.get((run.model.display, run.dataset.name))
        return sum(seen) / len(seen) if seen else float("inf")
    return sorted(todo, key=cost, reverse=True)  # stable: equal costs keep the suite's order


def batches(todo: list[PlannedRun], together: bool) -> list[list[PlannedRun]]:
    """Runs in the order they execute: one at a time, or the runs of each dataset and seed together."""
    if not together:
        return [[r] for r in todo]
    groups: dict[tuple, list[PlannedRun]] = {}
    for r in todo:
        groups.setdefault((r.dataset.name, r.seed), []).append(r)
    return list(groups.values())


def _execute_all(todo: list[PlannedRun], suite: LoadedSuite, out: Path, cache: DatasetCache, jobs: int,
                 cache_dir: Path | None, progress: bool, on_ray: bool = False,
                 on_record: Callable[[Record, list], None] = lambda record, curves: None) -> None:
    """Execute ``todo``; ``on_record(record, curves)`` after each record is written (curves: the
    per-epoch losses of its fits, empty where models of one process train together)."""
    from bench.tracking import collect_curves

    bar = tqdm(total=len(todo), desc=suite.spec.name, disable=not progress, dynamic_ncols=True)
    together = get_protocol(suite.spec.protocol.name).together
    for ds in {r.dataset.name: r.dataset for r in todo}.values():  # materialise once, here, before any training
        check_model_inputs(suite, ds, cache.recordings(ds), [r.model for r in todo if r.dataset.name == ds.name])
    args = lambda r: (str(suite.path.resolve()), suite.overrides, r.name, str(Path(out).resolve()),  # noqa: E731
                      str(Path(cache_dir).resolve()) if cache_dir else None, jobs)
    if on_ray and todo and not together:
        from bench.suite.ray_executor import run_on_ray

        for record, curves in run_on_ray(_run_in_worker, [args(r) for r in longest_first(todo, suite)], suite.spec.threads):
            bar.update()
            tqdm.write(describe(record))
            on_record(record, curves)
    elif jobs > 1 and len(todo) > 1 and not together:
        todo = longest_first(todo, suite)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_run_in_worker, *args(r)) for r in todo]
            for fut in as_completed(futures):
                record, curves = fut.result()
                bar.update()
                tqdm.write(describe(record))
                on_record(record, curves)
    else:
        device = resolve_device(suite.spec.device)
        with collect_curves() as curves:
            for batch in batches(todo, together):
                bar.set_postfix_str(f"{', '.join(r.model.display for r in batch)} / {batch[0].dataset.name} / "
                                    f"seed {batch[0].seed}")
                for record in execute_runs(batch, suite, cache, device, progress, out=Path(out)):
                    write_record(out, record)
                    discard_checkpoint(Path(out), record.file_name)
                    bar.update()
                    tqdm.write(describe(record))
                    fits = curves.take()
                    on_record(record, [] if together else fits)
    bar.close()


def _open_tracker(suite: LoadedSuite, out: Path, tracking: bool | str | None, log: Callable[[str], None]):
    """The suite's mlflow tracker (None when tracking is off); refuses an unusable store now."""
    spec = suite.spec.tracking
    enabled = (spec is not None and spec.enabled) if tracking is None else tracking is not False
    if not enabled:
        return None
    from bench.tracking import open_tracker

    uri = tracking if isinstance(tracking, str) and tracking else (spec.uri if spec else None)
    return open_tracker(uri, (spec.experiment if spec else None) or suite.spec.name, out, log)


def _executor_runtime(suite: LoadedSuite, on_ray: bool, address: str | None, jobs: int, log: Callable[[str], None]):
    """A connected Ray runtime for the block (refused before any run when it cannot start), or nothing."""
    from contextlib import nullcontext

    if not on_ray:
        return nullcontext()
    if get_protocol(suite.spec.protocol.name).together:
        log(f"protocol {suite.spec.protocol.name} runs the models of a dataset together in this process: "
            "executor ray is not used")
        return nullcontext()
    from bench.suite.ray_executor import ray_runtime

    return ray_runtime(address or suite.spec.executor.address, cpus=jobs * suite.spec.threads, log=log)


def report_stored(suite: LoadedSuite, out: Path, log: Callable[[str], None]) -> list[Record]:
    """The records of ``out`` that belong to the suite as it stands; says which are stale and why."""
    stored = sort_records(plan_runs(suite), load_records(out))
    for rec, diffs in stored.stale[:10]:
        log(f"stale record {rec.file_name}: its settings or versions changed ({'; '.join(diffs)})")
    if len(stored.stale) > 10:
        log(f"... and {len(stored.stale) - 10} more stale record(s)")
    if stored.stale or stored.unplanned:
        log(f"{len(stored.stale) + len(stored.unplanned)} record(s) in {records_dir(out)} match no run of the suite "
            f"as it now stands ({len(stored.stale)} stale, {len(stored.unplanned)} of a model, dataset or seed "
            "since removed); the tables leave them out")
    return stored.current


@holds_run_folder
def run_suite(
    path: str | Path,
    out: str | Path | None = None,
    overrides: dict | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    only_models: list[str] | None = None,
    jobs: int | None = None,
    compare: bool = True,
    log: Callable[[str], None] = print,
    executor: str | None = None,
    address: str | None = None,
    tracking: bool | str | None = None,
) -> Path:
    """Run every missing record of the suite into ``out`` (default runs/<suite>), rebuild its tables
    and print them beside the suite's leaderboard. Returns the run folder.

    With ``jobs > 1`` runs train in parallel worker processes; latency is then measured while other
    runs train: use ``python -m bench latency`` for side-by-side timings on an idle machine.
    ``overrides`` replace top-level fields of the suite file (see ``load_suite``). ``executor`` /
    ``address`` replace the suite's ``executor`` (local or ray); ``tracking``: None as the suite
    says, False off, True on (the suite's URI or the run folder's store), or a tracking URI.
    An unusable tracking store or Ray address is refused before any run starts.
    """
    import torch

    from bench.results.compare import compare_with_leaderboard
    from bench.results.report import write_report

    suite = load_suite(path, overrides)
    resolve_device(suite.spec.device)
    torch.set_num_threads(suite.spec.threads)
    jobs = 1 if get_protocol(suite.spec.protocol.name).together else jobs or suite.spec.jobs
    out = Path(out) if out is not None else default_out(suite)
    runs = plan_runs(suite)
    if only_models:
        runs = [r for r in runs if r.model.display in only_models or r.model.name in only_models]
    todo = runs_to_do(runs, out)
    log(f"suite {suite.spec.name}: {len(runs)} runs, {len(runs) - len(todo)} already recorded, {len(todo)} to run"
        + (f" ({jobs} in parallel)" if jobs > 1 and todo else "") + f"; run folder {out}")
    # only the default protocol records a needs_gpu model untrained; the others train it where they run
    no_gpu = sorted({r.model.display for r in todo if not trains_here(r)}) if suite.spec.protocol.name == "train_eval" else []
    if no_gpu:
        log(f"no CUDA device: {', '.join(no_gpu)} (needs_gpu) will be recorded untrained: parameters, streaming "
            "check and CPU latency only; run the suite again on a machine with a GPU to train them")
    on_ray = (executor or suite.spec.executor.name) == "ray"
    if address and not on_ray:
        raise SuiteError(f"--address {address} names a Ray cluster, but the executor is local; add --executor ray "
                         "(or set `executor: ray` in the suite).")
    tracker = _open_tracker(suite, out, tracking, log)
    with _executor_runtime(suite, on_ray, address, jobs, log):
        t0 = time.perf_counter()
        _execute_all(todo, suite, out, DatasetCache(suite, cache_dir, progress), jobs, cache_dir, progress, on_ray,
                     on_record=(lambda rec, curves: tracker.log_run(rec, curves)) if tracker else lambda rec, c: None)
    log(f"ran {len(todo)} runs in {time.perf_counter() - t0:.1f}s")
    records = report_stored(suite, out, log)
    log_flagged(records, log)
    written = write_report(out, records, suite)
    for p in written:
        log(f"wrote {p}")
    if tracker:
        synced = tracker.sync(records)
        tracker.log_report(written)
        if not tracker.failed:
            log(f"tracking: {len(records)} run(s) in experiment '{tracker.experiment}' of {tracker.uri}"
                + (f" ({synced} logged from earlier records)" if synced else ""))
    if compare:
        compare_with_leaderboard(suite, out, records, log)
    return out
