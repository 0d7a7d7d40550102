"""The chunk grid and every window a decoder is trained or evaluated on.

Streaming cuts a segment into chunks of ``chunk_s``; offline paths must select exactly the spikes
and queries a stream sees, so chunk edges are computed here once, as the same floats everywhere
(``start + i * chunk_s``, the last edge the segment end), and a time belongs to the chunk that
``grid_index`` gives it. Windows are whole chunks of that grid (training and paper windows) or
end at a chunk edge and reach back at most a context length (streaming windows). Two legacy
float details are kept so that trained models stay what they were (changing either changes
training windows and so records): training windows end at ``start + n * chunk_s`` from their own
start rather than on the edge, and :func:`crop` selects queries by comparing times with the
window edges rather than by :func:`chunk_of`. A window is cut
out of a segment by :func:`crop`, the one cutter; the samplers below only choose the spans:

* :func:`tiled_windows`: windows of a fixed length every stride, at a fixed or (with ``rng``) a
  random chunk phase; optionally one more window aligned to the segment end so that every query
  is covered (the POYO paper's evaluation windows, stitched by :func:`stitch_mean`).
* :func:`sampler_bounds`: back-to-back windows at a random phase, as many per span as fit (the
  POSSM authors' training sampler).
* :func:`query_windows`: one window per chunk that holds queries, ending at or after it (training
  on tasks with one readout query per trial, which tiled windows would mostly miss).
* :func:`streaming_windows`: for every chunk, the window a stream reads at that chunk's end.
* :func:`trailing_windows`: streaming windows every stride that hold only their last stride of
  queries (near-causal validation and training).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

from bench.data.views import grid_index
from bench.tasks.base import Segment


# ------------------------------------------------------------------------------------- the grid
def chunk_count(start: float, end: float, chunk_s: float) -> int:
    """Chunks in ``[start, end)`` (segments lie on the chunk grid, so this is a whole number)."""
    return int(round((end - start) / chunk_s))


def chunk_edges(start: float, end: float, chunk_s: float) -> np.ndarray:
    """The ``n + 1`` chunk edges of ``[start, end)``: ``start + i * chunk_s``, the last one ``end``."""
    n = chunk_count(start, end, chunk_s)
    edges = start + np.arange(n + 1) * chunk_s
    edges[-1] = end
    return edges


def chunk_of(times: np.ndarray, start: float, chunk_s: float, n_chunks: int) -> np.ndarray:
    """Index of the chunk holding each time (times on a segment's last edge go to its last chunk)."""
    return np.clip(grid_index(times, start, chunk_s), 0, n_chunks - 1)


# ------------------------------------------------------------------------------------- the cutter
def crop(seg: Segment, start: float, end: float, query_start: float | None = None) -> Segment:
    """The part of ``seg`` with the spikes of ``[start, end)`` and the queries of
    ``[query_start, end)`` (``query_start`` defaults to ``start``).

    Queries are selected by comparing times with the window's edges, not by :func:`chunk_of`:
    a query a float's rounding away from an edge can fall on either side (at 10 ms behaviour
    sampling some 1 s windows hold 99 or 101 queries). Kept so that windows, and so trained
    models, stay what they were; selecting by chunk would change them.
    """
    q0 = start if query_start is None else query_start
    m = (seg.query_times >= q0) & (seg.query_times < end)
    return Segment(seg.recording, start, end, seg.query_times[m], seg.targets[m], seg.weights[m], seg.eval_mask[m])


# ------------------------------------------------------------------------------------- samplers
def tile_bounds(n_chunks: int, n_win: int, n_step: int, first: int = 0, cover_end: bool = False) -> list[tuple[int, int]]:
    """Windows ``[i0, i1)`` in chunk units: ``n_win`` long every ``n_step`` from chunk ``first``, and
    with ``cover_end`` one more aligned to the end when the last one stops short of it. A span of
    at most ``n_win`` chunks is one window."""
    if n_chunks <= n_win:
        return [(0, n_chunks)]
    out = [(i0, i0 + n_win) for i0 in range(first, n_chunks - n_win + 1, n_step)]
    if cover_end and out[-1][1] < n_chunks:
        out.append((n_chunks - n_win, n_chunks))
    return out


def sampler_bounds(n_chunks: int, n_win: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """One epoch's random windows of a span, in chunk units, as the POSSM authors' sampler draws
    them (torch_brain's random fixed-window sampler, on the chunk grid): ``n_win``-chunk windows
    back to back from a random offset below ``n_win``, plus one more aligned to the end (or the
    start, whichever side has the larger remainder) when the two remainders together hold a
    window. So every span yields ``n_chunks // n_win`` windows, each epoch at a new phase. A span
    shorter than a window is one window."""
    if n_chunks <= n_win:
        return [(0, n_chunks)]
    first = int(rng.integers(0, n_win))
    out = [(i0, i0 + n_win) for i0 in range(first, n_chunks - n_win + 1, n_win)]
    right = n_chunks - out[-1][1] if out else n_chunks - first
    if first + right >= n_win:
        out.append((n_chunks - n_win, n_chunks) if right > first else (0, n_win))
    return out


def tiled_windows(segments: Sequence[Segment], window_s: float, step_s: float | None, chunk_s: float,
                  rng: np.random.Generator | None = None, cover_end: bool = False,
                  keep_empty: bool = False) -> list[Segment]:
    """Windows of ``window_s`` every ``step_s`` (default half a window) on the chunk grid.

    With ``rng`` each segment's first window starts at a random whole-chunk offset below the
    stride (random window sampling): drawn afresh every epoch, a window then starts anywhere on
    the chunk grid, as streaming windows do, instead of always at the same phase of each trial.
    Windows without queries are dropped unless ``keep_empty``.
    """
    step_s = step_s or window_s / 2
    n_win = max(1, int(round(window_s / chunk_s)))
    n_step = max(1, int(round(step_s / chunk_s)))
    out = []
    for seg in segments:
        edges = chunk_edges(seg.start, seg.end, chunk_s)
        n = edges.size - 1
        first = 0
        if rng is not None and n > n_win:
            first = int(rng.integers(0, min(n_step, n - n_win + 1)))
        for i0, i1 in tile_bounds(n, n_win, n_step, first, cover_end):
            start = float(edges[i0])
            # without cover_end (training windows) a window has always ended n_win chunks after its
            # start, computed from the start: the same time as the grid edge up to float rounding
            end = float(edges[i1]) if cover_end else min(seg.end, start + n_win * chunk_s)
            win = crop(seg, start, end)
            if keep_empty or win.query_times.size:
                out.append(win)
    return out


def query_windows(segments: Sequence[Segment], window_s: float, chunk_s: float,
                  rng: np.random.Generator | None = None) -> list[Segment]:
    """Training windows anchored on the queries, for segments with sparse queries (classification:
    one readout query at the trial end). Tiled windows at a random phase hold such a query only
    when one happens to reach the segment end (about one trial in ten per epoch at 1 s windows on
    2 s trials), so the model would barely train; here every chunk holding queries gets one window
    per call that holds it.

    The window ends at that chunk's end, or with ``rng`` at a random chunk end after it, at most
    ``window_s`` later (the chunk stays inside) and not past the segment end; it reaches back
    ``window_s``, clipped at the segment start as a fresh stream's window is. For a readout at the
    trial end that is exactly the window streaming reads at the readout. Every query inside a
    window is scored (:func:`crop`); anchors are found with crop's own edge comparisons, so each
    window holds the queries it was drawn for."""
    n_win = max(1, int(round(window_s / chunk_s)))
    out = []
    for seg in segments:
        if seg.query_times.size == 0:
            continue
        edges = chunk_edges(seg.start, seg.end, chunk_s)
        n = edges.size - 1
        anchors = np.unique(np.clip(np.searchsorted(edges, seg.query_times, side="right") - 1, 0, n - 1))
        for c in anchors.tolist():
            i1 = c + 1
            if rng is not None:
                i1 += int(rng.integers(0, min(n_win, n - c)))
            i0 = max(0, i1 - n_win)
            out.append(crop(seg, float(edges[i0]), float(edges[i1])))
    return out


@dataclass(frozen=True)
class StreamingWindows:
    """The window ``[max(seg.start, end - context_s), end)`` a stream reads at each chunk end of a
    segment, and the chunk that holds each of the segment's queries."""

    starts: np.ndarray
    ends: np.ndarray
    query_chunk: np.ndarray

    @cached_property
    def chunks_with_queries(self) -> np.ndarray:
        return np.unique(self.query_chunk)

    @cached_property
    def first_query(self) -> np.ndarray:
        """Index of the first query of each chunk in ``chunks_with_queries`` (queries are sorted)."""
        return np.searchsorted(self.query_chunk, self.chunks_with_queries, side="left")

    @cached_property
    def query_count(self) -> np.ndarray:
        return np.bincount(self.query_chunk, minlength=self.ends.size)[self.chunks_with_queries]

    @cached_property
    def query_row(self) -> np.ndarray:
        """For each query, its chunk's row in ``chunks_with_queries``."""
        return np.searchsorted(self.chunks_with_queries, self.query_chunk)

    @cached_property
    def query_slot(self) -> np.ndarray:
        """For each query, its place among the queries of its chunk."""
        return np.arange(self.query_chunk.size) - self.first_query[self.query_row]


def streaming_windows(seg: Segment, chunk_s: float, context_s: float) -> StreamingWindows:
    """Per chunk of ``seg``, the window streaming reads at the chunk end (clipped at the segment
    start, where a fresh stream starts); chunk ends are the grid edges ``chunk_segment`` uses."""
    ends = chunk_edges(seg.start, seg.end, chunk_s)[1:]
    starts = np.maximum(seg.start, ends - context_s)
    return StreamingWindows(starts, ends, chunk_of(seg.query_times, seg.start, chunk_s, ends.size))


def trailing_windows(segments: Sequence[Segment], context_s: float, stride_s: float, chunk_s: float,
                     rng: np.random.Generator | None = None) -> list[Segment]:
    """Windows that score what causal prediction does: windows ending every ``stride_s`` (and at
    the segment end), ``[max(seg.start, end - context_s), end)``, holding only the queries of their
    last ``stride_s``, so each query is predicted near the right edge of its window, and a window
    in a segment's first ``context_s`` starts at the segment start, as a fresh stream does. With
    ``rng`` the first window of each segment ends at a random chunk at most one stride in."""
    n_stride = max(1, int(round(stride_s / chunk_s)))
    out = []
    for seg in segments:
        edges = chunk_edges(seg.start, seg.end, chunk_s)
        n = edges.size - 1
        first = n_stride if rng is None else int(rng.integers(1, n_stride + 1))
        ends = sorted(set(range(first, n + 1, n_stride)) | {n})
        prev = 0
        for i1 in ends:
            e = float(edges[i1])
            win = crop(seg, max(seg.start, e - context_s), e, float(edges[prev]))
            prev = i1
            if win.query_times.size:
                out.append(win)
    return out


def stitch_mean(seg: Segment, windows: Sequence[Segment], outputs: Sequence[np.ndarray]) -> np.ndarray:
    """Per query of ``seg``, the mean of the outputs of the windows that hold it (float64; queries
    selected as :func:`crop` selects them); the windows of :func:`tiled_windows` with
    ``cover_end`` and ``keep_empty`` hold every query."""
    total = np.zeros((seg.query_times.size, outputs[0].shape[-1]), np.float64)
    count = np.zeros(seg.query_times.size, np.int64)
    for win, out in zip(windows, outputs):
        m = (seg.query_times >= win.start) & (seg.query_times < win.end)
        total[m] += out[: int(m.sum())]
        count[m] += 1
    return total / np.maximum(count, 1)[:, None]
