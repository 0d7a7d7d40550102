"""Per-chunk streaming latency at batch size 1, the cost that matters for a closed-loop decoder.

A real-time decoder receives one chunk of spikes (e.g. 50 ms) at a time and must answer before
the next one arrives, so the harness times every ``step(chunk)`` call separately and reports the
distribution (median, p90, p99, max) and the fraction of steps over a latency budget. Peers
report at most total compute over total neural time (FACTS.md, "Metric conventions"), which
hides the tail that causes deadline misses.

Measurement protocol (:func:`measure_step_latency`):

* torch intra-op threads are set to ``threads`` for the measurement and restored afterwards
  (inter-op threads cannot be changed once torch has started, so they are left alone);
* everything runs under ``torch.inference_mode()``;
* ``reset()`` (if given) is called before the warm-up, again before the timed phase (when there
  was a warm-up) so timing starts from a fresh stream at chunk 0, and whenever the chunk
  sequence wraps around;
* ``warmup`` untimed steps, then each timed step is measured on its own with
  ``time.perf_counter_ns``; on CUDA the device is synchronised before the timer starts and
  after the step, before it stops, so queued kernels are charged to the step that launched them.

The garbage collector is left enabled: its pauses are part of what a Python decoder really costs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["LatencyStats", "measure_step_latency", "count_parameters", "cuda_available"]

# Indirection so tests can substitute a fake clock without patching the global ``time`` module.
_now_ns: Callable[[], int] = time.perf_counter_ns


@dataclass
class LatencyStats:
    """Summary of per-step latencies; all times in milliseconds."""

    device: str
    threads: int | None
    n_chunks: int
    warmup: int
    chunk_ms: float
    budget_ms: float
    median_ms: float
    mean_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    over_budget_fraction: float
    samples_ms: np.ndarray | None = field(default=None, repr=False, compare=False)  # every timed step

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("samples_ms")
        return out


def cuda_available() -> bool:
    """True when torch is importable and sees a CUDA device."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def measure_step_latency(
    step: Callable[[Any], Any],
    chunks: Sequence[Any],
    *,
    warmup: int = 20,
    n_timed: int | None = None,
    budget_ms: float = 10.0,
    chunk_ms: float = 50.0,
    device: str = "cpu",
    threads: int | None = 1,
    reset: Callable[[], None] | None = None,
) -> LatencyStats:
    """Time ``step(chunk)`` once per chunk at batch 1 and summarise the latency distribution.

    ``chunks`` are fed in order (cycled, with ``reset()`` at each wrap-around, when ``n_timed``
    or ``warmup`` exceeds their number); ``n_timed`` defaults to ``len(chunks)``. ``threads=None``
    leaves torch's thread count as it is (the count in effect is recorded). ``n_chunks`` in the
    result is the number of timed steps. See the module docstring for the full protocol.
    """
    import torch

    chunks = list(chunks)
    if not chunks:
        raise ValueError("measure_step_latency needs at least one chunk")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if n_timed is None:
        n_timed = len(chunks)
    if n_timed < 1:
        raise ValueError(f"n_timed must be >= 1, got {n_timed}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    is_cuda = str(device).startswith("cuda")
    if is_cuda and not cuda_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")

    def sync() -> None:
        if is_cuda:
            torch.cuda.synchronize()

    n = len(chunks)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        threads_used = torch.get_num_threads()
        times_ns = np.empty(n_timed, dtype=np.int64)
        with torch.inference_mode():
            if reset is not None:
                reset()
            for i in range(warmup):
                if i > 0 and i % n == 0 and reset is not None:
                    reset()
                step(chunks[i % n])
            sync()
            if warmup > 0 and reset is not None:
                reset()
            for i in range(n_timed):
                if i > 0 and i % n == 0 and reset is not None:
                    reset()
                chunk = chunks[i % n]
                sync()
                t0 = _now_ns()
                step(chunk)
                sync()
                times_ns[i] = _now_ns() - t0
    finally:
        if threads is not None:
            torch.set_num_threads(previous_threads)

    ms = times_ns.astype(np.float64) / 1e6
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return LatencyStats(
        device=str(device),
        threads=threads_used,
        n_chunks=int(n_timed),
        warmup=int(warmup),
        chunk_ms=float(chunk_ms),
        budget_ms=float(budget_ms),
        median_ms=float(p50),
        mean_ms=float(ms.mean()),
        p90_ms=float(p90),
        p99_ms=float(p99),
        max_ms=float(ms.max()),
        over_budget_fraction=float(np.mean(ms > budget_ms)),
        samples_ms=ms,
    )


def count_parameters(module_or_obj: Any, exclude: Sequence[str] = ()) -> int:
    """Number of parameters of a model, as papers report it (excluding embedding tables).

    If the object has an ``n_parameters()`` method (e.g. a non-torch baseline, or a wrapper that
    knows its own count) that value is returned and ``exclude`` does not apply. Otherwise it must
    be a ``torch.nn.Module``: its parameters are counted once each (shared ones are not counted
    twice), skipping those whose qualified name starts with any prefix in ``exclude``, e.g.
    ``("unit_emb", "session_emb")`` for per-unit and per-session tables. Anything else raises
    ``TypeError``.
    """
    if isinstance(exclude, str):
        exclude = (exclude,)
    method = getattr(module_or_obj, "n_parameters", None)
    if callable(method):
        return int(method())
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(module_or_obj, torch.nn.Module):
        prefixes = tuple(exclude)
        return int(
            sum(
                p.numel()
                for name, p in module_or_obj.named_parameters()
                if not (prefixes and name.startswith(prefixes))
            )
        )
    raise TypeError(
        f"cannot count parameters of {type(module_or_obj).__name__}: expected a torch.nn.Module "
        "or an object with an n_parameters() method"
    )
