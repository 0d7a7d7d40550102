"""Resuming a run inside itself: the sessions a train_eval run has finished, kept in the run folder.

A leaderboard run over a dataset of many sessions can take hours; a run killed after three of five
sessions restarts at the fourth. After each session (each training group) the results so far are
written atomically to ``<run folder>/partial/<record file name>`` (the name holds the run key, and
the file repeats it: settings that changed make it another run, whose checkpoint this is not).
The record replaces the checkpoint when the run completes. Models trained on all sessions at once
(``multi_session``) have one group, so nothing to resume inside them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bench.errors import BenchError
from bench.results.records import SessionResult, atomic_write_text

PARTIAL_DIR = "partial"


class SessionCheckpoint(BaseModel):
    """The finished part of a run: its sessions and what the first session measured."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="null")

    key: str
    groups_done: int
    sessions: list[SessionResult]
    n_parameters: list[int]
    latency: dict[str, dict[str, Any]]
    stream_checked: bool
    streaming_max_abs_diff: float | None
    streaming_output_scale: float | None


def checkpoint_path(run_dir: Path, record_file_name: str) -> Path:
    return Path(run_dir) / PARTIAL_DIR / record_file_name


def load_checkpoint(run_dir: Path | None, record_file_name: str, key: str) -> SessionCheckpoint | None:
    """The checkpoint of this run (same key), or None; an unreadable one is ignored with the run
    redone from its first session (a checkpoint is only ever a shortcut)."""
    if run_dir is None:
        return None
    path = checkpoint_path(run_dir, record_file_name)
    try:
        state = SessionCheckpoint.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError):
        return None
    return state if state.key == key else None


def save_checkpoint(run_dir: Path | None, record_file_name: str, state: SessionCheckpoint) -> None:
    if run_dir is None:
        return
    path = checkpoint_path(run_dir, record_file_name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, state.model_dump_json())
    except OSError as exc:
        raise BenchError(f"The per-session checkpoint {path} cannot be written: {exc.strerror or exc}. Nothing was "
                         "left half-written; fix the cause (free space, permissions) and rerun the same command: "
                         f"it resumes after the last session checkpointed ({state.groups_done} done).") from None


def discard_checkpoint(run_dir: Path | None, record_file_name: str) -> None:
    """Remove the checkpoint once the run's record is made (or the run failed for good)."""
    if run_dir is None:
        return
    path = checkpoint_path(run_dir, record_file_name)
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()  # only when empty
    except OSError:
        pass
