"""Sets of half-open time intervals [start, end), the currency of splits and movement phases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intervals:
    """Sorted, non-overlapping half-open intervals in seconds."""

    start: np.ndarray
    end: np.ndarray

    def __post_init__(self) -> None:
        start = np.asarray(self.start, dtype=np.float64).reshape(-1)
        end = np.asarray(self.end, dtype=np.float64).reshape(-1)
        if start.shape != end.shape:
            raise ValueError("interval start and end must have the same length")
        order = np.argsort(start, kind="stable")
        object.__setattr__(self, "start", start[order])
        object.__setattr__(self, "end", end[order])

    @classmethod
    def empty(cls) -> "Intervals":
        return cls(np.zeros(0), np.zeros(0))

    @classmethod
    def single(cls, start: float, end: float) -> "Intervals":
        return cls(np.array([start]), np.array([end]))

    def __len__(self) -> int:
        return int(self.start.size)

    def __iter__(self):
        return iter(zip(self.start.tolist(), self.end.tolist()))

    @property
    def duration(self) -> float:
        return float(np.sum(self.end - self.start))

    def contains(self, times: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``times`` fall inside any interval."""
        times = np.asarray(times, dtype=np.float64)
        if len(self) == 0:
            return np.zeros(times.shape, dtype=bool)
        idx = np.searchsorted(self.start, times, side="right") - 1
        valid = idx >= 0
        out = np.zeros(times.shape, dtype=bool)
        out[valid] = times[valid] < self.end[idx[valid]]
        return out

    def merged(self) -> "Intervals":
        """Union of overlapping or touching intervals."""
        if len(self) == 0:
            return self
        starts, ends = [self.start[0]], [self.end[0]]
        for s, e in zip(self.start[1:], self.end[1:]):
            if s <= ends[-1]:
                ends[-1] = max(ends[-1], e)
            else:
                starts.append(s)
                ends.append(e)
        return Intervals(np.array(starts), np.array(ends))

    def intersect(self, other: "Intervals") -> "Intervals":
        a, b = self.merged(), other.merged()
        starts, ends = [], []
        i = j = 0
        while i < len(a) and j < len(b):
            lo = max(a.start[i], b.start[j])
            hi = min(a.end[i], b.end[j])
            if lo < hi:
                starts.append(lo)
                ends.append(hi)
            if a.end[i] < b.end[j]:
                i += 1
            else:
                j += 1
        return Intervals(np.array(starts, dtype=np.float64), np.array(ends, dtype=np.float64))

    def union(self, other: "Intervals") -> "Intervals":
        return Intervals(
            np.concatenate([self.start, other.start]), np.concatenate([self.end, other.end])
        ).merged()

    def difference(self, other: "Intervals") -> "Intervals":
        """Parts of self not covered by other."""
        other = other.merged()
        starts, ends = [], []
        for s, e in self.merged():
            cur = s
            for os_, oe in other:
                if oe <= cur or os_ >= e:
                    continue
                if os_ > cur:
                    starts.append(cur)
                    ends.append(os_)
                cur = max(cur, oe)
                if cur >= e:
                    break
            if cur < e:
                starts.append(cur)
                ends.append(e)
        return Intervals(np.array(starts, dtype=np.float64), np.array(ends, dtype=np.float64))
