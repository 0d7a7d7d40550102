"""Result records: the typed schema of one run's result, and the only place they are read and written.

One JSON file per (model label, dataset, seed, run key) under ``<run folder>/records/``, written
atomically (temp file + rename), so a killed run leaves either a full record or none and a rerun
redoes only the missing ones. A record carries its identity (what its key hashes, see
``bench.results.identity``), the full resolved configuration, per-session metrics, latency and
provenance.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.errors import BenchError, DataError

RECORD_FORMAT = 2
_TMP_PREFIX = ".tmp-"


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="null")


class Summary(_Schema):
    """Mean and SD of the primary metric over sessions (each session once)."""

    mean: float | None
    sd: float | None
    n: int


class CurvePoint(_Schema):
    """One point of a curve: a session's result with one value of the setting the protocol varies."""

    setting: dict[str, Any] = Field(description="e.g. {'epochs': 60}")
    metrics: dict[str, Any] = Field(description="the task's test metrics")
    scores: dict[str, Any] = Field(default_factory=dict, description="other measurements, e.g. {'train r2': 0.9}")
    fit: dict[str, Any] = Field(default_factory=dict)
    train_seconds: float


class EpochPoint(_Schema):
    """One epoch of a training fit: what convergence is judged from (``bench.results.flags``)."""

    epoch: int = Field(description="0-based")
    train_loss: float | None
    valid_loss: float | None
    valid_metric: float | None = Field(None, description="the task's primary metric on the valid split")


class SessionResult(_Schema):
    recording_id: str
    n_units: int
    metrics: dict[str, Any]
    n_parameters: int
    fit: dict[str, Any] = Field(default_factory=dict)
    train_seconds: float
    eval_seconds: float
    scores: dict[str, Any] = Field(
        default_factory=dict, description="the protocol's measurements besides the test metrics, by name, e.g. "
        "{'lookahead 0.1 s': 0.71} (window_position)",
    )
    points: list[CurvePoint] = Field(default_factory=list, description="learning_curve: one per training budget")
    curve: list[EpochPoint] = Field(
        default_factory=list, description="the training fit's learning curve, one point per epoch (shared by the "
        "sessions of a multi-session fit; empty for models not trained by epochs and for older records); the kept "
        "weights are those of fit['best_epoch']",
    )


class Record(_Schema):
    format: int = RECORD_FORMAT
    suite: str
    protocol: str = Field("train_eval", description="what the run did (bench.protocols)")
    model: str
    label: str
    dataset: str
    seed: int
    key: str = Field(description="hash of `identity`; part of the file name")
    identity: dict[str, Any] = Field(description="non-default settings and versions the key is made of")
    config: dict[str, Any] = Field(description="every resolved setting of the run, defaults included")
    task: str
    metric: str
    higher_is_better: bool
    trained: bool = True
    untrained_reason: str | None = None
    status: Literal["ok", "failed"] = Field(
        "ok", description="failed: the training diverged (non-finite or exploding loss); the record has no "
        "summary or sessions, tables show 'failed (diverged)', and reruns keep it (delete it to retry)",
    )
    failure_reason: str | None = None
    summary: Summary | None
    sessions: list[SessionResult]
    n_parameters: int
    latency: dict[str, dict[str, Any]]
    streaming_max_abs_diff: float | None
    streaming_output_scale: float | None = Field(
        None, description="largest |offline output| of the segment the streaming check compared: the scale its "
        "tolerance is relative to (bench.results.flags); None in older records",
    )
    train_seconds: float
    eval_seconds: float
    scores: dict[str, Any] = Field(
        default_factory=dict, description="the protocol's measurements of the whole run, by name, e.g. "
        "{'seconds_per_epoch': [...]} (training_time)",
    )
    provenance: dict[str, Any]

    @property
    def file_name(self) -> str:
        return record_name(self.label, self.dataset, self.seed, self.key)


def record_name(label: str, dataset: str, seed: int, key: str) -> str:
    safe = lambda s: "".join(c if c.isalnum() or c in "-_." else "_" for c in s)  # noqa: E731
    return f"{safe(label)}__{safe(dataset)}__seed{seed}__{key}.json"


def records_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "records"


def record_files(run_dir: Path) -> list[Path]:
    """The record files of a run folder (never the hidden temp file of an interrupted write)."""
    folder = records_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def write_record(run_dir: Path, record: Record) -> Path:
    """Atomically write ``record`` as records/<its file name>."""
    folder = records_dir(run_dir)
    target = folder / record.file_name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, record.model_dump_json(indent=1))
    except OSError as exc:
        raise BenchError(f"Record {target} cannot be written: {exc.strerror or exc}. No partial record was left "
                         "(the folder holds only complete records); fix the cause (free space, permissions) and "
                         "rerun the same command to resume.") from None
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(target: Path, write: Callable[[str], None], prefix: str = _TMP_PREFIX) -> None:
    """Write ``target`` whole or not at all: ``write(temp_path)`` fills a hidden temp file in the same
    folder, which gets the user's umask permissions (mkstemp alone makes 0600; the writer may also
    have replaced it), is fsynced and renamed over ``target``. An OSError (e.g. a full disk) leaves
    ``target`` as it was and no temp file behind. Records, tables, figures and checkpoints use it."""
    fd, tmp = tempfile.mkstemp(dir=Path(target).parent, prefix=prefix, suffix=".part")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(target: Path, text: str) -> None:
    """``atomic_write`` of a UTF-8 text."""
    atomic_write(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_record(path: Path) -> Record:
    """One record file; a file that is not a record of this format is a DataError naming it."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"Record file {path} cannot be read as JSON ({exc}); delete it to redo that run.") from None
    if isinstance(raw, dict) and raw.get("format", raw.get("config", {}).get("record_format")) == 1:
        raise DataError(
            f"Record file {path} is in the old record format 1 (keys hashed every default). Convert the folder "
            f"once with `python -m bench migrate SUITE --out {Path(path).parent.parent}`."
        )
    try:
        return Record.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise DataError(
            f"Record file {path} is not a result record (field '{where}': {first['msg']}); "
            "delete it to redo that run."
        ) from None


def load_records(run_dir: Path) -> list[Record]:
    return [read_record(p) for p in record_files(run_dir)]
