"""One `bench run` per run folder at a time.

Two runs of one folder would train every missing run twice, side by side, and race on the tables.
The lock is an advisory ``flock`` on ``<run folder>/.lock``: the kernel releases it when its holder
ends in any way (kill -9 included), so a stale lock never needs cleaning up; the file keeps the
holder's pid and start time only to name it in the refusal.
"""

from __future__ import annotations

import fcntl
import functools
import inspect
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from bench.errors import BenchError

LOCK_NAME = ".lock"
F = TypeVar("F", bound=Callable)


class RunFolderBusy(BenchError):
    """Another process is running a suite into the same run folder."""


@contextmanager
def run_folder_lock(out: Path) -> Iterator[Path]:
    """Hold the run folder ``out`` (created if missing) for the block; refuse if another process holds it."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise BenchError(f"Run folder {out} cannot be created or locked: {exc.strerror or exc} "
                         f"({exc.filename or out}). Choose a writable folder with --out.") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
            raise RunFolderBusy(
                f"Run folder {out} is in use by another `bench run` ({holder}). Wait for it to finish (its "
                "records are kept; rerunning afterwards resumes), stop it, or give this run another --out."
            ) from None
        _remove_interrupted_writes(out)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                  .encode(), 0)
        yield out
    finally:
        os.close(fd)  # releases the lock; the file stays (removing it would race with the next holder)


def _remove_interrupted_writes(out: Path) -> None:
    """Delete the hidden temp files a killed writer left (never read as records; only clutter). Safe
    under the lock: no other process of this harness writes into the folder meanwhile."""
    for folder in (out, out / "records"):
        for tmp in folder.glob(".tmp-*"):
            tmp.unlink(missing_ok=True)


def holds_run_folder(run: F) -> F:
    """Decorate ``run_suite(path, out=None, overrides=None, ...)`` to hold its run folder throughout."""
    signature = inspect.signature(run)

    @functools.wraps(run)
    def locked(*args, **kwargs):
        from bench.suite.loader import load_suite
        from bench.suite.schedule import default_out

        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        suite = load_suite(bound.arguments["path"], bound.arguments["overrides"])  # refuse a bad suite before any write
        out = bound.arguments["out"] if bound.arguments["out"] is not None else default_out(suite)
        with run_folder_lock(Path(out)):
            return run(*args, **kwargs)

    return locked  # type: ignore[return-value]
