"""Allocation estimates: refuse an array out of proportion before numpy tries to allocate it.

A corrupt or mistyped input (a spike time of 1e12 s, a count of 2e9 in one bin, a bin width of
1e-300 s) otherwise turns into a MemoryError, a swap storm or an OverflowError deep inside numpy.
Every place that allocates in proportion to numbers read from a file asks ``check_allocation``
first, and gets a DataError that names the figure, what it would be for and the limit.

The limit is ``$BENCH_MAX_ALLOC_GB`` (default 16 GiB), so a user with a genuinely huge recording
and the memory for it can raise it.
"""

from __future__ import annotations

import os

from bench.errors import DataError

DEFAULT_MAX_ALLOC_GB = 16.0
ENV_VAR = "BENCH_MAX_ALLOC_GB"


def max_alloc_bytes() -> float:
    """The allocation limit in bytes (``$BENCH_MAX_ALLOC_GB`` GiB, default 16)."""
    raw = os.environ.get(ENV_VAR)
    if not raw:
        return DEFAULT_MAX_ALLOC_GB * 2**30
    try:
        gb = float(raw)
    except ValueError:
        gb = float("nan")
    if not gb > 0 or gb == float("inf"):
        raise DataError(f"Environment variable {ENV_VAR}={raw[:40]!r} must be a positive number of GiB (e.g. 32).")
    return gb * 2**30


def check_allocation(n_elements: float, bytes_per_element: float, what: str, hint: str = "") -> None:
    """DataError when ``n_elements * bytes_per_element`` exceeds the limit (or is not a finite size)."""
    need = float(n_elements) * float(bytes_per_element)
    limit = max_alloc_bytes()
    if need == need and need <= limit:  # NaN fails the first test
        return
    figure = f"{need / 2**30:.3g} GiB" if need == need and need != float("inf") else "an unbounded amount of memory"
    raise DataError(
        f"{what} would need {figure} ({float(n_elements):.3g} elements), more than the {limit / 2**30:g} GiB "
        f"allowed; this is out of proportion for a recording and usually means a corrupt or mistyped value "
        f"{hint}. If the data really are this large, raise the limit with {ENV_VAR}."
    )
