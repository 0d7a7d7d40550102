"""Peak resident memory of a block of work (e.g. one model's training), sampled from /proc.

``resource.getrusage``'s ``ru_maxrss`` is the high-water mark of the whole process: a worker that
trained a bigger model before would report that model's peak. A background thread reading the
process's current resident size every ``interval_s`` gives the peak during the block itself (a
spike shorter than the interval can be missed; the figure is a lower bound at that resolution).
Linux only; elsewhere the figures are None.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterator

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float | None:
    """The process's current resident set size in MB, None where /proc is missing."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def peak_rss(interval_s: float = 0.05) -> Iterator[dict]:
    """Yields a dict filled on exit with ``rss_before_mb`` and ``peak_rss_mb`` (MB, or None)."""
    out: dict = {"rss_before_mb": rss_mb(), "peak_rss_mb": None}
    peak = [out["rss_before_mb"] or 0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval_s):
            now = rss_mb()
            if now is not None and now > peak[0]:
                peak[0] = now

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        last = rss_mb()
        if out["rss_before_mb"] is not None:
            out["peak_rss_mb"] = round(max(peak[0], last or 0.0), 1)
            out["rss_before_mb"] = round(out["rss_before_mb"], 1)
