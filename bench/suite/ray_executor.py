"""Runs of a suite as Ray tasks: a local Ray runtime by default, a cluster for many machines.

Each task is the worker function of the local process pool (``schedule._run_in_worker``): it
plans the suite, executes one run and writes its record atomically into the one run folder, so
resuming, stale records and the tables are the local executor's. On a cluster the run folder
(and the data cache) must be a path every node sees (a shared file system), and every node needs
this project installed. Ray is imported only here (it comes with brainsets; ``.[ray]`` pins it).
"""

from __future__ import annotations

import logging
import socket
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from bench.errors import BenchError

_PROBE_TIMEOUT_S = 5.0
_OBJECT_STORE_BYTES = 200 * 1024**2  # records are small: keep a local runtime light on a laptop


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BenchError("executor 'ray' needs Ray, which is not installed; install it with "
                         "`pip install -e \".[ray]\"`, or use --executor local. Nothing was run.") from None
    return ray


def _unreachable(address: str, reason: str) -> BenchError:
    return BenchError(
        f"Ray address '{address}' cannot be used: {reason}. Expected the address of a running Ray cluster's head "
        "(host:port of `ray start --head`, ray://host:10001 for Ray Client, or auto for a cluster started on this "
        "machine), or no --address for a local Ray runtime. Nothing was run."
    )


def check_address(address: str) -> None:
    """Fail fast on a head that does not answer (Ray itself waits for a minute or more)."""
    if address in ("auto", "local"):
        return
    host_port = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = host_port.rstrip("/").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise _unreachable(address, "it is not of the form host:port")
    try:
        socket.create_connection((host, int(port)), timeout=_PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise _unreachable(address, f"nothing answers at {host}:{port} ({exc})") from None


@contextmanager
def ray_runtime(address: str | None, cpus: int, log: Callable[[str], None] = print) -> Iterator[None]:
    """Connect to the cluster at ``address``, or start a local runtime with ``cpus`` CPUs; shut it
    down (disconnect) after the block. Any failure to start is a BenchError before a run starts."""
    ray = _import_ray()
    if ray.is_initialized():  # a caller (a notebook, a test) set up Ray itself: use it as it is
        yield
        return
    if address:
        check_address(address)
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
                     object_store_memory=_OBJECT_STORE_BYTES)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError...: name the address, no traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise _unreachable(address or "(local runtime)", f"{type(exc).__name__}: {first}") from None
    where = address or f"a local Ray runtime with {cpus} CPU(s)"
    log(f"executor ray: {where} ({int(ray.cluster_resources().get('CPU', 0))} CPUs in the cluster)")
    try:
        yield
    finally:
        ray.shutdown()


def run_on_ray(worker: Callable[..., Any], calls: Sequence[tuple], threads: int) -> Iterator[Any]:
    """``worker(*args)`` for each of ``calls`` as Ray tasks of ``threads`` CPUs each, yielded as
    they finish. A task's BenchError is raised as itself (the other tasks are cancelled)."""
    ray = _import_ray()
    task = ray.remote(num_cpus=threads, max_retries=0)(worker)
    pending = [task.remote(*args) for args in calls]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        try:
            yield ray.get(done[0])
        except BaseException as exc:
            for ref in pending:
                ray.cancel(ref, force=True)
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BenchError):
                raise cause from None
            raise
