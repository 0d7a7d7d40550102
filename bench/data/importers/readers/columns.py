"""CSV tables and column selection: by position, header name, range ("c0:c97", "0:98") or glob ("unit_*").

Wide files (one column per unit) need selectors: listing 98 count columns one by one is how
mistakes get in. Ranges of header names include both ends (as pandas ``.loc`` does); ranges of
positions are half-open like Python's ``range``. An exact header name always wins, so a column
literally called ``"a:b"`` can still be picked.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np

from bench.data.importers.messages import fail
from bench.data.importers.spec import Column

GLOB_CHARS = "*?["


def _has_header(path: Path) -> bool:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            first = fh.readline(1 << 20)
    except UnicodeDecodeError as exc:
        raise fail(
            f"Import input file {path} is not a text CSV file: byte {exc.object[exc.start:exc.start + 1]!r} at "
            f"position {exc.start} is not UTF-8 text. Expected comma-separated numbers (export the table as "
            "UTF-8 CSV), or set 'format' if the file is .npz / .mat."
        ) from None
    for tok in first.strip().split(","):
        tok = tok.strip().strip('"')
        if not tok:
            continue
        try:
            float(tok)
        except ValueError:
            return True
    return False


def read_table(path: Path, header: bool | None, field: str):
    """The CSV as a DataFrame; a header row is detected (first row not all numbers) unless given."""
    import pandas as pd

    has_header = _has_header(path) if header is None else header
    try:
        return pd.read_csv(path, header=0 if has_header else None)
    except Exception as exc:
        raise fail(f"Import input file {path} (field '{field}') is not a readable CSV file ({exc}).") from None


def _column_list(df) -> str:
    return f"{', '.join(map(str, df.columns[:20]))}{' ...' if df.shape[1] > 20 else ''}"


def _position(df, c: int, path: Path, field: str) -> int:
    if not 0 <= c < df.shape[1]:
        raise fail(
            f"Column {c} ({field}) is out of range for {path}, which has {df.shape[1]} columns "
            "(positions are 0-based)."
        )
    return c


def _range(df, sel: str, path: Path, field: str) -> list[tuple[int, str]]:
    first, last = (s.strip() for s in sel.split(":", 1))
    if all(s == "" or s.lstrip("-").isdigit() for s in (first, last)):
        lo = int(first) if first else 0
        hi = int(last) if last else df.shape[1]
        if not 0 <= lo < hi <= df.shape[1]:
            raise fail(
                f"Column range '{sel}' ({field}) does not fit {path}, which has {df.shape[1]} columns; a range of "
                "positions 'i:j' takes columns i to j-1 (0-based), e.g. '0:98' for the first 98."
            )
        return [(i, f"column {i}") for i in range(lo, hi)]
    names = [str(c) for c in df.columns]
    for end in (first, last):
        if end not in names:
            raise fail(
                f"Column range '{sel}' ({field}): {path} has no column named '{end}'; a range of names "
                f"'first:last' takes both ends and the columns between. Its columns are {_column_list(df)}."
            )
    lo, hi = names.index(first), names.index(last)
    if hi < lo:
        raise fail(f"Column range '{sel}' ({field}) runs backwards in {path}: '{last}' comes before '{first}'.")
    return [(i, f"column '{names[i]}'") for i in range(lo, hi + 1)]


def _glob(df, sel: str, path: Path, field: str) -> list[tuple[int, str]]:
    names = [str(c) for c in df.columns]
    hits = [(i, f"column '{n}'") for i, n in enumerate(names) if fnmatch.fnmatchcase(n, sel)]
    if not hits:
        raise fail(f"Column pattern '{sel}' ({field}) matches no column of {path}; its columns are {_column_list(df)}.")
    return hits


def column_positions(df, cols: list[Column] | None, path: Path, field: str) -> list[tuple[int, str]]:
    """(position, label for errors) of each selected column, in the order selected."""
    if cols is None:
        return [(i, f"column {i}") for i in range(df.shape[1])]
    out: list[tuple[int, str]] = []
    for c in cols:
        if isinstance(c, int) and not isinstance(c, bool):
            out.append((_position(df, c, path, field), f"column {c}"))
        elif c in df.columns:
            out.append((list(df.columns).index(c), f"column '{c}'"))
        elif isinstance(c, str) and ":" in c:
            out.extend(_range(df, c, path, field))
        elif isinstance(c, str) and any(ch in c for ch in GLOB_CHARS):
            out.extend(_glob(df, c, path, field))
        else:
            raise fail(
                f"{path} has no column named '{c}' ({field}); its columns are {_column_list(df)}. Columns are "
                "chosen by position, name, range ('first:last') or pattern ('unit_*')."
            )
    return out


def _is_numeric(series) -> bool:
    try:
        series.to_numpy(dtype=float)
        return True
    except (ValueError, TypeError):
        return False


def select_columns(
    df, cols: list[Column] | None, path: Path, field: str, numeric: bool = True, one_each: bool = False
) -> tuple[np.ndarray, list[str]]:
    """The selected columns as a (rows, columns) array, and their labels for error messages.

    ``one_each``: every selector names exactly one column (fields such as ``spike_time_column``),
    so a range or pattern that matches several is refused instead of shifting the others.
    """
    picked = column_positions(df, cols, path, field)
    if one_each and len(picked) != len(cols or ()):
        raise fail(
            f"Column field(s) {field} ({', '.join(map(repr, cols or ()))}) select {len(picked)} columns of {path} "
            f"({', '.join(lab for _, lab in picked[:5])}{' ...' if len(picked) > 5 else ''}); expected one column "
            "per field: a position or a header name, not a range or pattern."
        )
    labels = [lab for _, lab in picked]
    series = [df.iloc[:, i] for i, _ in picked]
    if not series:
        return np.zeros((df.shape[0], 0)), labels
    if not numeric:
        return np.stack([s.to_numpy() for s in series], axis=1), labels
    try:
        out = np.stack([s.to_numpy(dtype=float) for s in series], axis=1)
    except (ValueError, TypeError):
        bad = next(lab for s, lab in zip(series, labels) if not _is_numeric(s))
        raise fail(f"{bad} of {path} ({field}) holds non-numeric values; expected numbers.") from None
    return out, labels
