"""Experiment tracking: every run of a suite logged to an mlflow tracking store.

The run folder stays the source of truth: a record is written first (atomically), then logged, by
the process that drives the suite (never by parallel workers, so one writer talks to the store).
Each record becomes one mlflow run in the suite's experiment: its settings as parameters, the
test metrics, latency statistics and counts as metrics, the per-epoch training and validation
losses as curves, its provenance as tags and the record file as an artifact; the tables and
figures go to one "report" run. The default store is a SQLite database in the run folder
(``<run folder>/mlflow.db``, artifacts beside it); any tracking URI is accepted. A store that
cannot be reached is refused before anything runs; one that fails later leaves the records in the
run folder, and the next ``bench run`` of the suite logs what the store lacks.

mlflow is imported only here and only when tracking is on (``pip install -e ".[tracking]"``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

from bench.errors import BenchError
from bench.results.records import Record, records_dir

DEFAULT_DB = "mlflow.db"
ARTIFACTS_DIR = "mlflow-artifacts"
RECORD_TAG = "bench.record"  # the record's file name: which records a store already holds
KIND_TAG = "bench.kind"  # "run" or "report"
_BATCH = 100  # mlflow takes at most 100 params / 1000 metrics per batch call
_PROBE_TIMEOUT_S = 5.0


class TrackingError(BenchError):
    """The tracking store cannot be used (extra missing, URI unreachable or refused)."""


# ------------------------------------------------------------------ curves from the training loop
class CurveCollector:
    """Collects the shared training loop's per-epoch entries; a new fit starts at epoch 0."""

    def __init__(self) -> None:
        self.fits: list[list[dict]] = []

    def __call__(self, entry: dict) -> None:
        if entry["epoch"] == 0 or not self.fits:
            self.fits.append([])
        self.fits[-1].append(entry)

    def take(self) -> list[list[dict]]:
        """The curves collected since the last call (those of the run just finished)."""
        fits, self.fits = self.fits, []
        return fits


@contextmanager
def collect_curves() -> Iterator[CurveCollector]:
    from bench.training.loop import on_epoch_end

    collector = CurveCollector()
    with on_epoch_end(collector):
        yield collector


# ------------------------------------------------------------------ the store
def default_uri(out: Path) -> str:
    return f"sqlite:///{(Path(out).resolve() / DEFAULT_DB).as_posix()}"


def _import_mlflow():
    try:
        import mlflow  # noqa: F401
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise TrackingError(
            "Tracking is on (suite field 'tracking' or --track), but mlflow is not installed; install the extra "
            "with `pip install -e \".[tracking]\"`, or run without tracking. Nothing was run."
        ) from None
    for name in ("alembic", "mlflow", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient


def _unreachable(uri: str, reason: str) -> TrackingError:
    return TrackingError(
        f"Tracking URI '{uri}' cannot be used: {reason}. Expected a running mlflow tracking server "
        "(http://host:port, started with `mlflow server`), a database URI (sqlite:///path/to/mlflow.db) or a "
        "local folder; leave the URI out for the run folder's own store (<run folder>/mlflow.db). Nothing was run."
    )


def _probe(uri: str) -> None:
    """Fail fast on a server that does not answer (mlflow itself retries for minutes)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
        if not host:
            raise _unreachable(uri, "it names no host")
        try:
            socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S).close()
        except OSError as exc:
            raise _unreachable(uri, f"no server answers at {host}:{port} ({exc})") from None
    elif parsed.scheme == "sqlite":
        path = Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None
        if path is not None and str(path) not in ("", ":memory:"):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _unreachable(uri, f"its folder {path.parent} cannot be created ({exc})") from None


@contextmanager
def _few_retries() -> Iterator[None]:
    """mlflow's HTTP client retries for minutes by default: a check must answer quickly."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ.update({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def open_tracker(uri: str | None, experiment: str, out: Path, log: Callable[[str], None] = print) -> "Tracker":
    """Connect to the store (default: the run folder's SQLite database) and the suite's
    experiment, creating it; a TrackingError before anything runs when that fails."""
    MlflowClient = _import_mlflow()
    out = Path(out)
    local_default = uri is None
    uri = uri or default_uri(out)
    _probe(uri)
    try:
        with _few_retries():
            client = MlflowClient(tracking_uri=uri)
            found = client.get_experiment_by_name(experiment)
            if found is None:
                # a local store keeps its artifacts beside it, not in ./mlruns of wherever bench was started
                artifacts = (out.resolve() / ARTIFACTS_DIR).as_uri() if local_default or uri.startswith("sqlite") else None
                experiment_id = client.create_experiment(experiment, artifact_location=artifacts,
                                                         tags={"bench.suite": experiment})
            else:
                experiment_id = found.experiment_id
    except TrackingError:
        raise
    except Exception as exc:  # mlflow raises many kinds: name the store, never a traceback
        raise _unreachable(uri, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    return Tracker(client, uri, experiment, experiment_id, out, log)


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _ms(stamp: str | None, fallback: float) -> int:
    try:
        return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").timestamp() * 1000)
    except (TypeError, ValueError):
        return int(fallback * 1000)


def _metric_key(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_-./ :" else "_" for c in text)


def run_metrics(record: Record) -> dict[str, float]:
    """The record's numbers as mlflow metrics (final values, step 0)."""
    out: dict[str, float] = {"n_parameters": float(record.n_parameters), "train_seconds": record.train_seconds,
                             "eval_seconds": record.eval_seconds}
    if record.streaming_max_abs_diff is not None:
        out["streaming_max_abs_diff"] = record.streaming_max_abs_diff
    if record.summary is not None:
        for name, v in (("mean", record.summary.mean), ("sd", record.summary.sd)):
            if v is not None:
                out[f"test/{record.metric}" + ("" if name == "mean" else "_sd")] = v
    for s in record.sessions:
        for k, v in s.metrics.items():
            if _number(v) is not None:
                out[_metric_key(f"test/{s.recording_id}/{k}")] = float(v)
    for device, stats in record.latency.items():
        for k, v in stats.items():
            if _number(v) is not None:
                out[_metric_key(f"latency/{device}/{k}")] = float(v)
    for k, v in _flatten(record.scores):
        if _number(v) is not None:
            out[_metric_key(f"scores/{k}")] = float(v)
    return out


def curve_names(record: Record, fits: list[list[dict]]) -> list[str]:
    """A name per training fit: the session it trained on where fits match sessions one to one."""
    if len(fits) == len(record.sessions) and len({s.recording_id for s in record.sessions}) == len(fits):
        return [_metric_key(s.recording_id) for s in record.sessions]
    if len(fits) == 1:
        return ["all"]
    return [f"fit{k}" for k in range(len(fits))]


class Tracker:
    """One suite's experiment in one store."""

    def __init__(self, client, uri: str, experiment: str, experiment_id: str, out: Path, log: Callable[[str], None]):
        self.client, self.uri, self.experiment, self.experiment_id = client, uri, experiment, experiment_id
        self.out, self.log = out, log
        self.failed: str | None = None

    # -------------------------------------------------------------- runs
    def logged_records(self) -> set[str]:
        """File names of the records the experiment holds a finished run of."""
        runs = self.client.search_runs([self.experiment_id], filter_string=f"tags.`{KIND_TAG}` = 'run'",
                                       max_results=50000)
        return {r.data.tags.get(RECORD_TAG) for r in runs if r.info.status == "FINISHED"}

    def log_run(self, record: Record, fits: list[list[dict]] | None = None) -> str | None:
        """Log one record (and its curves) as a run; returns its run id. A failure of the store
        is reported once and ends tracking for this suite run; the record stays in the run folder."""
        if self.failed:
            return None
        try:
            return self._log_run(record, fits or [])
        except Exception as exc:  # the store failed mid-suite: the records are safe, say so and go on
            self.failed = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            self.log(f"tracking stopped: logging {record.file_name} to {self.uri} failed ({self.failed}); the records "
                     "stay in the run folder, and rerunning the same command logs those the store lacks")
            return None

    def _log_run(self, record: Record, fits: list[list[dict]]) -> str:
        from mlflow.entities import Metric, Param

        now = time.time()
        prov = record.provenance
        tags = {KIND_TAG: "run", RECORD_TAG: record.file_name, "bench.key": record.key, "bench.suite": record.suite,
                "bench.protocol": record.protocol, "bench.model": record.model, "bench.label": record.label,
                "bench.dataset": record.dataset, "bench.seed": str(record.seed), "bench.task": record.task,
                "bench.metric": record.metric, "bench.trained": str(record.trained).lower(),
                "bench.status": str(getattr(record, "status", "ok")),
                "bench.identity": json.dumps(record.identity, sort_keys=True)[:8000],
                "mlflow.note.content": f"Record {record.file_name} of suite {record.suite} (bench)."}
        if getattr(record, "failure_reason", None):
            tags["bench.failure_reason"] = str(record.failure_reason)[:8000]
        for k, v in _flatten(prov):
            tags[f"provenance.{k}"] = (v if isinstance(v, str) else json.dumps(v))[:8000]
        if prov.get("git", {}).get("commit"):
            tags["mlflow.source.git.commit"] = str(prov["git"]["commit"])
        run = self.client.create_run(self.experiment_id, start_time=_ms(prov.get("created"), now), tags=tags,
                                     run_name=f"{record.label} {record.dataset} seed {record.seed}")
        run_id = run.info.run_id
        try:
            params = [Param(k[:250], (v if isinstance(v, str) else json.dumps(v))[:6000])
                      for k, v in _flatten(record.config)]
            metrics = [Metric(k, v, int(now * 1000), 0) for k, v in run_metrics(record).items()]
            for name, fit in zip(curve_names(record, fits), fits):
                for e in fit:
                    for what in ("train_loss", "valid_loss", "lr"):
                        v = _number(e.get(what))
                        if v is not None and math.isfinite(v):
                            metrics.append(Metric(f"{what}/{name}", v, int(e["time"] * 1000), int(e["epoch"])))
            for i in range(0, max(len(params), len(metrics)), _BATCH):
                self.client.log_batch(run_id, metrics=metrics[i:i + _BATCH], params=params[i:i + _BATCH])
            self.client.set_tag(run_id, "bench.curves", "per-epoch train_loss / valid_loss / lr per training fit "
                                "(named by session)" if fits else "none (no model trained by the shared loop in "
                                "this process, or the run was logged from its record alone)")
            record_file = records_dir(self.out) / record.file_name
            if record_file.is_file():
                self.client.log_artifact(run_id, str(record_file), "record")
            self.client.set_terminated(run_id, "FINISHED", end_time=_ms(prov.get("finished"), now))
        except BaseException:
            self.client.set_terminated(run_id, "FAILED")  # never a FINISHED run with half its data
            raise
        return run_id

    def sync(self, records: list[Record]) -> int:
        """Log the records of the run folder the store lacks (made before tracking was on, or
        while the store failed); returns how many."""
        if self.failed:
            return 0
        try:
            logged = self.logged_records()
            missing = [r for r in records if r.file_name not in logged]
        except Exception as exc:
            self.failed = f"{type(exc).__name__}: {exc}"
            self.log(f"tracking stopped: reading {self.uri} failed ({self.failed})")
            return 0
        for r in missing:
            if self.log_run(r) is None:
                break
        return len(missing) if not self.failed else 0

    def log_report(self, files: list[Path]) -> None:
        """The suite's tables and figures, as artifacts of its one "report" run."""
        if self.failed:
            return
        try:
            found = self.client.search_runs([self.experiment_id], filter_string=f"tags.`{KIND_TAG}` = 'report'",
                                            max_results=1)
            run_id = found[0].info.run_id if found else self.client.create_run(
                self.experiment_id, tags={KIND_TAG: "report"}, run_name="report").info.run_id
            for f in files:
                self.client.log_artifact(run_id, str(f), "report")
            self.client.set_terminated(run_id, "FINISHED")
        except Exception as exc:
            self.failed = f"{type(exc).__name__}: {exc}"
            self.log(f"tracking: logging the report to {self.uri} failed ({self.failed}); it is in the run folder")
